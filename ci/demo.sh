#!/usr/bin/env bash
# The README's first command: build secvol, create a small sample container and show what
# secvol knows about it. Leaves sample.sec and sample.password in ./demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p secvol
secvol=target/release/secvol
mkdir -p demo
container=demo/sample.sec
password_file=demo/sample.password

if [[ ! -e "$container" ]]; then
    # A demo password in a file, so the demo runs without typing. Real users type theirs
    # (secvol asks twice, without echo) or keep it in a file only they can read.
    umask 077
    echo "sample-clinic-umbrella-violet-42" > "$password_file"
    echo "Creating a 1 MiB sample container $container ..."
    "$secvol" create "$container" --size 1M --password-file "$password_file"
fi
echo
"$secvol" info "$container" --password-file "$password_file"
