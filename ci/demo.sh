#!/usr/bin/env bash
# The README's first command: build secvol, create a small SAMPLE container and mount it on
# ./demo/mnt, so you can use it like any folder. Unmount it with:
#     target/release/secvol unmount demo/mnt
# Leaves demo/sample.sec and demo/sample.password (the public demo password) in ./demo/; run
# it again to mount the sample again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# The demo password of every secvol sample (also `secvol kit --sample`): public, written in
# this script and in demo/sample.password. A sample is for trying secvol, never for records.
demo_password='sample-clinic-umbrella-violet-42'

say "Building secvol (cargo build --release -p secvol)"
echo "    The first build compiles about 130 crates (3 minutes of processor time: about"
echo "    2 minutes on 2 idle cores, 1 on 8)."
echo "    Later runs take seconds. Cargo shows its progress below."
cargo build --release -p secvol
secvol=target/release/secvol
mkdir -p demo
container=demo/sample.sec
password_file=demo/sample.password
mountpoint=demo/mnt

if [[ ! -e "$container" ]]; then
    # A password file so the demo runs without typing. Real users type theirs (secvol asks
    # twice, without echo) or keep it in a file only they can read.
    umask 077
    printf '%s\n' "$demo_password" > "$password_file"
    say "Creating the 1 MiB sample container $container"
    echo "    Its password is the DEMO password '$demo_password' (in $password_file):"
    echo "    anyone can open this sample. Never put real records in it."
    echo "    secvol measures this computer to make the password cost about 1 s to check."
    "$secvol" create "$container" --size 1M --password-file "$password_file"
fi
say "What the container is ($secvol info)"
"$secvol" info "$container" --password-file "$password_file"
if "$secvol" list | grep -qF " $(realpath "$mountpoint" 2>/dev/null || echo "$PWD/$mountpoint") "; then
    say "$container is already mounted on $mountpoint"
else
    say "Mounting $container on $mountpoint"
    "$secvol" mount "$container" "$mountpoint" --password-file "$password_file"
fi
say "Done"
echo "Try:        echo hello > $mountpoint/hello.txt; ls -l $mountpoint"
echo "When done:  $secvol unmount $mountpoint"
echo "The USB-key routine (double-click scripts and a password box), with a sample:"
echo "            $secvol kit demo/kit --sample      (then see demo/kit/README.txt)"
