#!/usr/bin/env bash
# The README's first command: build secvol, create a small sample container and mount it on
# ./demo/mnt, so you can use it like any folder. Unmount it with:
#     target/release/secvol unmount demo/mnt
# Leaves sample.sec and sample.password in ./demo/ (run again to mount it again).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p secvol
secvol=target/release/secvol
mkdir -p demo
container=demo/sample.sec
password_file=demo/sample.password
mountpoint=demo/mnt

if [[ ! -e "$container" ]]; then
    # A demo password in a file, so the demo runs without typing. Real users type theirs
    # (secvol asks twice, without echo) or keep it in a file only they can read.
    umask 077
    echo "sample-clinic-umbrella-violet-42" > "$password_file"
    echo "Creating a 1 MiB sample container $container ..."
    "$secvol" create "$container" --size 1M --password-file "$password_file"
    echo
fi
"$secvol" info "$container" --password-file "$password_file"
echo
if "$secvol" list | grep -q "$(realpath "$mountpoint" 2>/dev/null || echo "$PWD/$mountpoint")"; then
    echo "$container is already mounted on $mountpoint."
else
    "$secvol" mount "$container" "$mountpoint" --password-file "$password_file"
fi
echo
echo "Try: echo hello > $mountpoint/hello.txt; ls -l $mountpoint"
echo "When done: $secvol unmount $mountpoint"
