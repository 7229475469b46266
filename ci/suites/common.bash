# Shared by the conformance suites: build secvol, create a scratch container, mount it, and
# make sure it is unmounted whatever happens. Source it; it defines $secvol, $work, $mnt,
# $container, $password_file, and the functions mount_scratch / unmount_scratch.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

cargo build --quiet -p secvol
secvol="${CARGO_TARGET_DIR:-$PWD/target}/debug/secvol"
work="$(mktemp -d /var/tmp/secvol-suite.XXXXXX)"
chmod 755 "$work"
mnt="$work/mnt"
container="$work/suite.sec"
password_file="$work/password"
printf 'suite-umbrella-violet-tractor-42\n' > "$password_file"
chmod 600 "$password_file"

cleanup() {
    if mountpoint -q "$mnt" 2>/dev/null; then
        "$secvol" unmount --force "$mnt" >/dev/null 2>&1 || fusermount3 -u -z "$mnt" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# mount_scratch SIZE [mount options...]: a new container with a cheap KDF, mounted on $mnt.
mount_scratch() {
    local size="$1"
    shift
    "$secvol" create "$container" --size "$size" --quick --scrypt-log-n 10 \
        --password-file "$password_file" >/dev/null
    "$secvol" mount "$container" "$mnt" --password-file "$password_file" "$@" >/dev/null
}

# unmount_scratch: unmount, then the container must check clean.
unmount_scratch() {
    "$secvol" unmount "$mnt" >/dev/null
    if mountpoint -q "$mnt"; then
        echo "still mounted after unmount: $mnt" >&2
        exit 1
    fi
    "$secvol" check "$container" --password-file "$password_file" >/dev/null
}
