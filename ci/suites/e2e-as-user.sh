#!/usr/bin/env bash
# The end-to-end tests again, as a normal user: the kit's real case (a receptionist's
# account), where FUSE goes through the setuid fusermount3, auto-unmount is not available
# without 'user_allow_other', and nothing may assume root. Tests that need root (acting as
# another user, mounting without fusermount3) say they are skipped.
#
# Needs root to switch user, a user SECVOL_TEST_USER (default secvol-ci, with a home folder)
# and /dev/fuse usable by that user (mode 0666, as distributions ship it): .ci/run sets both
# up. Run as root from the repository root, or through ci/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

user="${SECVOL_TEST_USER:-secvol-ci}"
if [[ $EUID -ne 0 ]]; then
    echo "skipped: run as root to run the end-to-end tests as the user $user"
    exit 0
fi
if ! id "$user" >/dev/null 2>&1; then
    echo "error: no user $user: create it (useradd --create-home $user), as .ci/run does" >&2
    exit 1
fi
if [[ ! -r /dev/fuse || ! -w /dev/fuse ]] || (($(stat -c '%a' /dev/fuse) % 10 < 6)); then
    echo "error: /dev/fuse is not usable by other users (chmod 0666 /dev/fuse, as .ci/run does)" >&2
    exit 1
fi

# The two programs, somewhere the user can reach (the clone may live in a private home).
built=$(cargo test -p secvol --test e2e --no-run 2>&1 |
    grep -o '[^ ()]*/deps/e2e-[0-9a-f]*' | tail -n 1)
[[ -x $built ]] || { echo "error: cannot find the e2e test program" >&2; exit 1; }
cargo build --quiet -p secvol
work=$(mktemp -d /var/tmp/secvol-as-user.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp "$built" "$work/e2e"
cp "${CARGO_TARGET_DIR:-$PWD/target}/debug/secvol" "$work/secvol"
chmod 755 "$work/e2e" "$work/secvol"

home=$(getent passwd "$user" | cut -d: -f6)
echo "running the end-to-end tests as $user ($(id -u "$user"))"
runuser -u "$user" -- env -i \
    HOME="$home" USER="$user" LOGNAME="$user" PATH="$PATH" TMPDIR=/tmp \
    SECVOL_E2E_BIN="$work/secvol" RUST_BACKTRACE=1 \
    "$work/e2e" --test-threads 2
