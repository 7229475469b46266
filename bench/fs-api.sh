#!/usr/bin/env bash
# File-system API benchmark (issue #4): secvol-fs through its Rust API on a real container
# file beside std::fs on a plain directory of the same disk. No FUSE.
#
# Builds `crates/fs/examples/fs_bench.rs` in release mode and runs it; the workloads and
# options are described at the top of that file. Prints machine facts and a markdown table.
#
# Usage: bench/fs-api.sh [fs_bench options...]     e.g. bench/fs-api.sh --quick
# Environment: RUNS (interleaved runs, median reported; default 3),
#              BENCH_DIR (where the container and the plain files go; default /var/tmp; must
#              be on a real disk, not tmpfs),
#              CARGO_TARGET_DIR (as usual).
# Run as root so that the OS page cache can be dropped before the cold reads
# (/proc/sys/vm/drop_caches); otherwise the reads are reported as WARM.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs="${RUNS:-3}"
bench_dir="${BENCH_DIR:-/var/tmp}"

for tool in cargo df; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "fs-api.sh: '$tool' is required but not on PATH" >&2
        exit 1
    }
done

fstype="$(df --output=fstype "$bench_dir" | tail -n 1)"
if [[ "$fstype" == tmpfs || "$fstype" == ramfs ]]; then
    echo "fs-api.sh: $bench_dir is on $fstype; set BENCH_DIR to a directory on a real disk" >&2
    exit 1
fi

echo "Building fs_bench (release)..." >&2
cargo build --release -p secvol-fs --example fs_bench >&2
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/examples/fs_bench"

echo "## secvol-fs API vs plain directory"
echo
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- CPU: $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc) logical CPUs)," \
    "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
echo "- Disk: $bench_dir on $(df --output=source "$bench_dir" | tail -n 1) ($fstype)"
echo "- rustc: $(rustc --version)"
echo "- Command: \`RUNS=$runs bench/fs-api.sh${*:+ $*}\`"
echo
"$bin" --dir "$bench_dir" --runs "$runs" "$@"
