#!/usr/bin/env bash
# fsx (the file-system exerciser, `cargo install fsx`) against a mounted container, with
# data verification on every read: FSX_OPS operations (default 100,000) with mmap reads and
# writes, then the same number without mmap. Zero miscompares allowed (fsx exits non-zero).
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"

command -v fsx >/dev/null || { echo "fsx is not installed (cargo install fsx)" >&2; exit 1; }
ops="${FSX_OPS:-100000}"

# Both configurations exercise reads, writes, truncates, fallocate, fsync and close/reopen
# on a file of up to 4 MiB; the first also maps the file (mmap read and write).
write_config() {
    local mmap_weight="$1"
    cat <<TOML
flen = 4194304
[opsize]
max = 262144
[weights]
close_open = 2
read = 10
write = 10
mapread = $mmap_weight
mapwrite = $mmap_weight
invalidate = $((mmap_weight > 0 ? 1 : 0))
truncate = 2
fsync = 1
fdatasync = 1
posix_fallocate = 1
TOML
}

mount_scratch 64M
for variant in mmap no-mmap; do
    if [[ $variant == mmap ]]; then weight=10; else weight=0; fi
    write_config "$weight" > "$work/fsx-$variant.toml"
    start=$(date +%s)
    fsx -q -N "$ops" -S 20261123 -f "$work/fsx-$variant.toml" -P "$work" "$mnt/fsx-$variant.bin" \
        > "$work/fsx-$variant.log" 2>&1 || { tail -40 "$work/fsx-$variant.log" >&2; exit 1; }
    echo "fsx ($variant): $ops operations, no miscompares, $(( $(date +%s) - start )) s"
done
unmount_scratch
