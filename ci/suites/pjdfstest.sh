#!/usr/bin/env bash
# pjdfstest (the POSIX conformance suite, `cargo install pjdfstest`) against a mounted
# container. Every test must pass; the skipped ones are listed with their reasons in
# docs/conformance.md. Needs root (the suite switches users) and the user "tests".
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"

command -v pjdfstest >/dev/null || { echo "pjdfstest is not installed (cargo install pjdfstest)" >&2; exit 1; }
id tests >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin tests

# A second file system for the EXDEV tests (rename and link across file systems).
secondary="$(mktemp -d /dev/shm/secvol-pjd-secondary.XXXXXX)"
chmod 777 "$secondary"
trap 'rm -rf "$secondary"; cleanup' EXIT

cat > "$work/pjdfstest.toml" <<'TOML'
[features]
posix_fallocate = {}
rename_ctime = {}
utime_now = {}
utimensat = {}

[settings]
naptime = 0.001
TOML

# --allow-other: the suite runs parts of itself as the users "nobody" and "tests".
mount_scratch 256M --allow-other
chmod 777 "$mnt"
log="$work/pjdfstest.log"
status=0
(cd "$mnt" && pjdfstest -c "$work/pjdfstest.toml" -p "$mnt" -s "$secondary") > "$log" 2>&1 || status=$?
passed=$(grep -cE '[[:space:]]ok$' "$log" || true)
failed=$(grep -cE '[[:space:]]FAILED$' "$log" || true)
skipped=$(grep -cE '[[:space:]]skipped$' "$log" || true)
echo "pjdfstest: $passed passed, $failed failed, $skipped skipped"
grep -E '[[:space:]]skipped$' -A1 "$log" | grep -v '^--' | paste - - | sed 's/[[:space:]]\+/ /g' | sort | uniq -c | sed 's/^/  skipped: /' || true
if [[ $status != 0 || $failed != 0 || $passed == 0 ]]; then
    grep -E 'FAILED$' -A3 "$log" >&2 || tail -50 "$log" >&2
    exit 1
fi
unmount_scratch
