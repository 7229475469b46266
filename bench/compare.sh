#!/usr/bin/env bash
# secvol beside its peers on the same disk (issue #6).
#
# Systems: plain (a directory, no FUSE), bindfs (unencrypted FUSE pass-through: the FUSE
# baseline), gocryptfs, cryfs, securefs, secvol. For each, on a fresh instance:
#   (a) seq write: dd of a 1 GiB incompressible file (pre-generated in /dev/shm), conv=fsync
#   (b) seq read of it after unmount, drop caches, remount
#   (c) untar of the Linux 6.1 source tree (decompressed beforehand to /dev/shm), + sync
#   (d) `ls -lR` of the tree after unmount, drop caches, remount
#   (e) md5sum of every file of the tree, cold (unmount, drop caches, remount first)
#   (f) `rm -rf` of the tree
#   (g) fio 4 KiB random read/write (50/50, psync) on a 256 MiB file: read IOPS
#   (h) mount time (median over the mounts of the run; includes the KDF)
# and the FUSE daemon's peak RSS (VmHWM sampled before every unmount).
# Runs are interleaved (run 1 of every system, then run 2, ...); medians are reported, with
# every system's speed relative to bindfs.
#
# Usage: sudo bench/compare.sh            (root: mounts, drop_caches, apt-get)
# Environment:
#   RUNS=2                 runs per system
#   SYSTEMS="plain bindfs gocryptfs cryfs securefs secvol"
#   QUICK=1                small sizes (64 MiB file, one subtree of the kernel, 32 MiB fio
#                          file, 5 s fio) to try the script out
#   BENCH_DIR=/var/tmp/secvol-compare   where instances live (must be a real disk, not tmpfs)
#   SECVOL=path/to/secvol  the secvol binary (default: release build of this workspace)
#   FIO_SECONDS=20         fio run time
#   KEEP_SHM=1             keep the test data in /dev/shm for the next invocation
#   NO_INSTALL=1           do not apt-get install anything
# Output: progress on stderr, a markdown report on stdout.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"

runs="${RUNS:-2}"
systems="${SYSTEMS:-plain bindfs gocryptfs cryfs securefs secvol}"
quick="${QUICK:-0}"
bench_dir="${BENCH_DIR:-/var/tmp/secvol-compare}"
shm="/dev/shm/secvol-compare"
password="benchmark-password-not-secret-42"

if [[ "$quick" == 1 ]]; then
    seq_mib=64
    fio_mib=32
    fio_seconds="${FIO_SECONDS:-5}"
else
    seq_mib=1024
    fio_mib=256
    fio_seconds="${FIO_SECONDS:-20}"
fi

log() { echo "[compare $(date -u +%H:%M:%S)] $*" >&2; }
die() {
    echo "compare.sh: $*" >&2
    exit 1
}
# A failure inside one system's run: noted in the report, the other systems go on.
fail() {
    note "$*"
    die "$*"
}

[[ "$(id -u)" == 0 ]] || die "run as root (mounts, /proc/sys/vm/drop_caches, apt-get)"

# --- packages ------------------------------------------------------------------------------
need_pkgs=()
for pair in gocryptfs:gocryptfs cryfs:cryfs securefs:securefs bindfs:bindfs fio:fio \
    fusermount3:fuse3 /usr/bin/time:time jq:jq xz:xz-utils mountpoint:util-linux; do
    cmd="${pair%%:*}"
    pkg="${pair#*:}"
    # A peer's package only when that peer is measured.
    case "$pkg" in
    gocryptfs | cryfs | securefs | bindfs) [[ " $systems " == *" $pkg "* ]] || continue ;;
    esac
    command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
[[ -f /usr/src/linux-source-6.1.tar.xz ]] || need_pkgs+=(linux-source-6.1)
if ((${#need_pkgs[@]})); then
    [[ "${NO_INSTALL:-0}" != 1 ]] || die "missing packages: ${need_pkgs[*]}"
    log "installing ${need_pkgs[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

fstype="$(mkdir -p "$bench_dir" && df --output=fstype "$bench_dir" | tail -n 1)"
[[ "$fstype" != tmpfs && "$fstype" != ramfs ]] ||
    die "$bench_dir is on $fstype; set BENCH_DIR to a directory on a real disk"

# --- secvol --------------------------------------------------------------------------------
secvol_bin="${SECVOL:-}"
secvol_ok=0
if [[ " $systems " == *" secvol "* ]]; then
    if [[ -z "$secvol_bin" ]]; then
        target="${CARGO_TARGET_DIR:-$repo/target}"
        log "building secvol (release) into $target"
        if cargo build --release -p secvol >&2; then
            secvol_bin="$target/release/secvol"
        fi
    fi
    if [[ -n "$secvol_bin" && -x "$secvol_bin" ]] && "$secvol_bin" mount --help >/dev/null 2>&1; then
        secvol_ok=1
    else
        log "skipping secvol: '${secvol_bin:-secvol} mount --help' failed (no mount command yet)"
    fi
fi

# --- cleanup -------------------------------------------------------------------------------
work=""
# Unmount everything mounted under $work (also what a failed run left behind).
unmount_all() {
    local mnt type
    [[ -n "$work" ]] || return 0
    while read -r _ mnt type _; do
        [[ "$mnt" == "$work"/* ]] || continue
        if [[ "$type" == fuse.secvol ]]; then
            "$secvol_bin" unmount "$mnt" >&2 || fusermount3 -u "$mnt" >&2 || umount -l "$mnt" >&2 || true
        else
            fusermount3 -u "$mnt" >&2 || umount -l "$mnt" >&2 || true
        fi
    done < <(tac /proc/mounts)
}
cleanup() {
    unmount_all
    [[ -z "$work" ]] || rm -rf "$work"
    [[ "${KEEP_SHM:-0}" == 1 ]] || rm -rf "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

work="$(mktemp -d "$bench_dir/run.XXXXXX")"
printf '%s\n' "$password" >"$work/password"
chmod 600 "$work/password"

# --- test data in RAM ----------------------------------------------------------------------
mkdir -p "$shm"
if [[ ! -f "$shm/random-$seq_mib.bin" ]]; then
    log "generating $seq_mib MiB of random data in $shm"
    head -c "$((seq_mib << 20))" /dev/urandom >"$shm/random-$seq_mib.bin"
fi
if [[ ! -f "$shm/linux.tar" ]]; then
    log "decompressing linux-source-6.1.tar.xz to $shm/linux.tar"
    xz -dc -T0 /usr/src/linux-source-6.1.tar.xz >"$shm/linux.tar.part"
    mv "$shm/linux.tar.part" "$shm/linux.tar"
fi
tarball="$shm/linux.tar"
if [[ "$quick" == 1 ]]; then
    if [[ ! -f "$shm/linux-quick.tar" ]]; then
        log "cutting a small tar (linux-source-6.1/fs/ext4 + include/linux) for QUICK=1"
        tar -C "$shm" -xf "$tarball" linux-source-6.1/fs/ext4 linux-source-6.1/include/linux
        tar -C "$shm" -cf "$shm/linux-quick.tar" linux-source-6.1
        rm -rf "$shm/linux-source-6.1"
    fi
    tarball="$shm/linux-quick.tar"
fi
tree_files="$(tar -tvf "$tarball" | grep -c '^-')" # regular files (no links, no directories)
tree_mib="$(($(stat -c %s "$tarball") >> 20))"

# --- per-system operations -----------------------------------------------------------------
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# The FUSE daemon serving $1: the oldest process whose command line names the mountpoint,
# leaving out fusermount3 (the auto_unmount helper that libfuse and fuser keep beside some
# daemons).
daemon_pid() {
    local pid
    for pid in $(pgrep -f -- "$1" || true); do
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != fusermount* ]] || continue
        echo "$pid"
        return 0
    done
}

peak_rss_kib=0
sample_rss() {
    local pid hwm
    pid="$(daemon_pid "$1")"
    [[ -n "$pid" ]] || return 0
    hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)"
    if ((${hwm:-0} > peak_rss_kib)); then peak_rss_kib="$hwm"; fi
}

# setup SYSTEM DIR: create a fresh, empty instance in DIR (backing store + mountpoint).
setup() {
    local sys="$1" dir="$2"
    mkdir -p "$dir/backing" "$dir/mnt"
    case "$sys" in
    plain | bindfs) ;;
    gocryptfs) gocryptfs -init -q -scryptn 14 -passfile "$work/password" "$dir/backing" >&2 ;;
    cryfs) ;; # created by the first mount
    securefs)
        securefs create --pass "$password" "$dir/backing" >&2
        ;;
    secvol)
        "$secvol_bin" create "$dir/backing/container.sec" --size 8G --quick \
            --password-file "$work/password" --scrypt-log-n 14 >&2
        ;;
    esac
}

mount_times=()
# do_mount SYSTEM DIR: mount, wait until ready, record the time taken.
do_mount() {
    local sys="$1" dir="$2" mnt="$2/mnt" t0 i
    t0="$(now)"
    case "$sys" in
    plain) ;;
    bindfs) bindfs "$dir/backing" "$mnt" >&2 ;;
    gocryptfs) gocryptfs -q -nosyslog -passfile "$work/password" "$dir/backing" "$mnt" >&2 ;;
    cryfs)
        CRYFS_FRONTEND=noninteractive CRYFS_NO_UPDATE_CHECK=true \
            cryfs "$dir/backing" "$mnt" <"$work/password" >/dev/null 2>"$dir/cryfs.log" ||
            {
                cat "$dir/cryfs.log" >&2
                return 1
            }
        ;;
    securefs) securefs mount -b --pass "$password" "$dir/backing" "$mnt" >&2 ;;
    secvol) "$secvol_bin" mount "$dir/backing/container.sec" "$mnt" --password-file "$work/password" >&2 ;;
    esac
    if [[ "$sys" != plain ]]; then
        for ((i = 0; i < 600; i++)); do
            mountpoint -q "$mnt" && break
            sleep 0.05
        done
        mountpoint -q "$mnt" || fail "$sys did not mount on $mnt"
    fi
    mount_times+=("$(elapsed "$t0")")
}

# do_unmount SYSTEM DIR: sample the daemon's peak RSS, unmount, wait for the daemon to exit.
do_unmount() {
    local sys="$1" mnt="$2/mnt" pid i
    [[ "$sys" != plain ]] || return 0
    sample_rss "$mnt"
    pid="$(daemon_pid "$mnt")"
    if [[ "$sys" == secvol ]]; then
        "$secvol_bin" unmount "$mnt" >&2
    else
        fusermount3 -u "$mnt" >&2
    fi
    # The data must be on disk before the caches are dropped: wait for the daemon to finish.
    if [[ -n "$pid" ]]; then
        for ((i = 0; i < 1200; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
    fi
}

remount_cold() {
    do_unmount "$1" "$2"
    drop_caches
    do_mount "$1" "$2"
}

median() { tr " " "\n" | awk "NF" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Each system runs in a subshell (so that one failing system does not end the benchmark);
# results and notes go to files that the main shell reads.
declare -A results # "system metric" -> space-separated values
record() { echo "$1 $2 $3" >>"$work/results.txt"; }
note() { echo "$*" >>"$work/notes.txt"; }
load_results() {
    local sys m v
    results=()
    [[ -f "$work/results.txt" ]] || return 0
    while read -r sys m v; do results["$sys $m"]="${results["$sys $m"]:-} $v"; done <"$work/results.txt"
}

run_system() {
    local sys="$1" dir="$work/$1" mnt t0 secs iops
    mnt="$dir/mnt"
    rm -rf "$dir"
    setup "$sys" "$dir"
    mount_times=()
    peak_rss_kib=0
    drop_caches
    do_mount "$sys" "$dir"
    if [[ "$sys" == plain ]]; then mnt="$dir/backing"; fi

    log "$sys: (a) seq write $seq_mib MiB"
    t0="$(now)"
    dd if="$shm/random-$seq_mib.bin" of="$mnt/big.bin" bs=1M conv=fsync status=none
    secs="$(elapsed "$t0")"
    record "$sys" a "$(awk -v s="$secs" -v m="$seq_mib" 'BEGIN { printf "%.1f", m * 1048576 / 1e6 / s }')"

    remount_cold "$sys" "$dir"
    log "$sys: (b) seq read"
    t0="$(now)"
    dd if="$mnt/big.bin" of=/dev/null bs=1M status=none
    secs="$(elapsed "$t0")"
    record "$sys" b "$(awk -v s="$secs" -v m="$seq_mib" 'BEGIN { printf "%.1f", m * 1048576 / 1e6 / s }')"
    cmp -s "$mnt/big.bin" "$shm/random-$seq_mib.bin" || fail "$sys: big.bin reads back wrong"
    rm -f "$mnt/big.bin"

    log "$sys: (c) untar ($tree_files files, $tree_mib MiB) + sync"
    t0="$(now)"
    local rc=0
    tar -C "$mnt" -xf "$tarball" 2>"$work/tar-$sys.err" || rc=$?
    sync
    if ((rc != 0)); then
        # e.g. cryfs: "Directory renamed before its status could be extracted" (tar sees a
        # directory's inode number change); the contents are still checked by (e).
        note "$sys: tar exited with status $rc ($(grep -v '^tar: Exiting' "$work/tar-$sys.err" | sort | uniq -c | sort -rn | head -n 1 | sed 's/^ *//'))"
        log "$sys: tar exit status $rc, see the notes"
    fi
    record "$sys" c "$(elapsed "$t0")"

    remount_cold "$sys" "$dir"
    log "$sys: (d) ls -lR"
    t0="$(now)"
    ls -lR "$mnt/linux-source-6.1" >/dev/null
    record "$sys" d "$(elapsed "$t0")"

    remount_cold "$sys" "$dir"
    log "$sys: (e) md5sum of every file, cold"
    t0="$(now)"
    (cd "$mnt" && find linux-source-6.1 -type f -print0 | xargs -0 md5sum >"$work/md5-$sys.txt")
    record "$sys" e "$(elapsed "$t0")"
    # Directory order differs between file systems: compare sorted by name.
    sort -k2 -o "$work/md5-$sys.txt" "$work/md5-$sys.txt"
    [[ "$(wc -l <"$work/md5-$sys.txt")" == "$tree_files" ]] ||
        fail "$sys: md5sum saw $(wc -l <"$work/md5-$sys.txt") files, the tar has $tree_files"
    if [[ -f "$work/md5-reference.txt" ]]; then
        cmp -s "$work/md5-$sys.txt" "$work/md5-reference.txt" || fail "$sys: file contents differ from the first system's"
    else
        cp "$work/md5-$sys.txt" "$work/md5-reference.txt"
    fi

    log "$sys: (f) rm -rf"
    t0="$(now)"
    rm -rf "$mnt/linux-source-6.1"
    record "$sys" f "$(elapsed "$t0")"

    log "$sys: (g) fio 4 KiB randrw on $fio_mib MiB, $fio_seconds s"
    fio --name=randrw --filename="$mnt/fio.bin" --size="${fio_mib}M" --bs=4k --rw=randrw \
        --rwmixread=50 --ioengine=psync --time_based --runtime="$fio_seconds" \
        --output-format=json --output="$work/fio-$sys.json" >/dev/null
    iops="$(jq '.jobs[0].read.iops' "$work/fio-$sys.json")"
    record "$sys" g "$(awk -v v="$iops" 'BEGIN { printf "%.0f", v }')"
    rm -f "$mnt/fio.bin"

    do_unmount "$sys" "$dir"
    if [[ "$sys" != plain ]]; then
        record "$sys" h "$(printf '%s ' "${mount_times[@]}" | median)"
        record "$sys" rss "$(awk -v k="$peak_rss_kib" 'BEGIN { printf "%.0f", k / 1024 }')"
    fi
    rm -rf "$dir"
    log "values so far: $sys: $(grep "^$sys " "$work/results.txt" | awk '{ printf "%s=%s ", $2, $3 }' || true)"
}

active=()
for sys in $systems; do
    case "$sys" in
    plain | bindfs | gocryptfs | cryfs | securefs) active+=("$sys") ;;
    secvol) if [[ "$secvol_ok" == 1 ]]; then active+=("$sys"); fi ;;
    *) die "unknown system '$sys'" ;;
    esac
done
((${#active[@]})) || die "no system to run"

for ((run = 1; run <= runs; run++)); do
    for sys in "${active[@]}"; do
        log "run $run/$runs: $sys"
        set +e
        (
            set -e
            trap unmount_all EXIT
            run_system "$sys"
        )
        rc=$?
        set -e
        if ((rc != 0)); then
            note "$sys, run $run: failed (exit status $rc); its missing figures are shown as –"
            log "run $run/$runs: $sys FAILED (exit status $rc)"
            unmount_all
            rm -rf "${work:?}/$sys"
        fi
    done
done

# --- report --------------------------------------------------------------------------------
load_results
metrics=(a b c d e f g h rss)
declare -A label=(
    [a]="(a) seq write ${seq_mib} MiB, dd conv=fsync (MB/s)"
    [b]="(b) seq read, cold (MB/s)"
    [c]="(c) untar ${tree_files} files / ${tree_mib} MiB + sync (s)"
    [d]="(d) ls -lR, cold (s)"
    [e]="(e) md5sum all files, cold (s)"
    [f]="(f) rm -rf tree (s)"
    [g]="(g) fio 4K randrw ${fio_mib} MiB, read IOPS"
    [h]="(h) mount time (s)"
    [rss]="FUSE daemon peak RSS (MiB)"
)
# Higher is better for throughput; for times the ratio is bindfs time / system time, so
# that a ratio above 1 always means faster than bindfs.
declare -A higher_better=([a]=1 [b]=1 [g]=1)

declare -A med
for sys in "${active[@]}"; do
    for m in "${metrics[@]}"; do
        med["$sys $m"]="$(echo "${results["$sys $m"]:-}" | median)"
    done
done

header="| workload |"
rule="|---|"
for sys in "${active[@]}"; do
    header+=" $sys |"
    rule+="---:|"
done

echo "## Peer comparison"
echo
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); runs: $runs (interleaved), median shown$([[ "$quick" == 1 ]] && echo '; QUICK=1 (small sizes)')"
echo "- Machine: $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; kernel $(uname -r)"
echo "- Disk: $bench_dir on $(df --output=source "$bench_dir" | tail -1) ($fstype)"
echo "- Versions: $(gocryptfs -version 2>/dev/null | cut -d';' -f1); $(cryfs --version 2>/dev/null | head -1); securefs $(dpkg-query -W -f='${Version}' securefs 2>/dev/null); bindfs $(dpkg-query -W -f='${Version}' bindfs 2>/dev/null); fio $(dpkg-query -W -f='${Version}' fio 2>/dev/null); fuse3 $(dpkg-query -W -f='${Version}' fuse3 2>/dev/null)$([[ "$secvol_ok" == 1 ]] && echo "; $("$secvol_bin" --version 2>/dev/null || echo secvol)")"
echo "- Command: \`RUNS=$runs SYSTEMS=\"${active[*]}\"$([[ "$quick" == 1 ]] && echo ' QUICK=1') bench/compare.sh\`"
echo
echo "$header"
echo "$rule"
for m in "${metrics[@]}"; do
    row="| ${label[$m]} |"
    for sys in "${active[@]}"; do row+=" ${med["$sys $m"]:-–} |"; done
    echo "$row"
done
if [[ " ${active[*]} " == *" bindfs "* ]]; then
    echo
    echo "Speed relative to bindfs (above 1 = faster than the unencrypted FUSE pass-through;"
    echo "throughput: system / bindfs, times: bindfs / system):"
    echo
    echo "$header"
    echo "$rule"
    for m in a b c d e f g h; do
        row="| ${label[$m]} |"
        for sys in "${active[@]}"; do
            row+=" $(awk -v s="${med["$sys $m"]:-}" -v b="${med["bindfs $m"]:-}" -v hb="${higher_better[$m]:-0}" 'BEGIN {
                if (s == "" || b == "" || s + 0 == 0 || b + 0 == 0) { print "–"; exit }
                printf "%.2f", hb ? s / b : b / s }') |"
        done
        echo "$row"
    done
fi
if [[ -s "$work/notes.txt" ]]; then
    echo
    echo "Notes:"
    echo
    sed 's/^/- /' "$work/notes.txt"
fi
{
    echo "compare.sh: every value per run:"
    for sys in "${active[@]}"; do
        for m in "${metrics[@]}"; do echo "  $sys $m:${results["$sys $m"]:-}"; done
    done
} >&2
