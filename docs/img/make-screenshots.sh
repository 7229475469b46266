#!/usr/bin/env bash
# Makes the screenshots of docs/user-guide.md: the kit's Linux scripts on a virtual X display
# (Xvfb, openbox for window frames if installed), the real zenity boxes, xdotool typing.
#
#   docs/img/make-screenshots.sh [path/to/secvol]     (default: target/release/secvol)
#
# Needs xvfb, zenity, xdotool, imagemagick; openbox is optional (window titles). Runs as any
# user that can mount (FUSE). The kit uses a cheap key derivation: the pictures only.
set -euo pipefail
cd "$(dirname "$0")/../.."
# As root: in a mount namespace of its own, with a tmpfs on /home, so the pictures show
# /home/ana and no mount of this script is visible to (or can touch) the rest of the machine.
if [[ $EUID == 0 && -z ${SECVOL_SHOTS_NAMESPACE:-} ]]; then
    exec unshare --mount --propagation private env SECVOL_SHOTS_NAMESPACE=1 "$0" "$@"
fi
secvol=$(realpath "${1:-target/release/secvol}")
out=$(realpath docs/img)
work=$(mktemp -d /tmp/secvol-shots.XXXXXX)
password='clinic-umbrella-violet-tractor-42'
pids=()
cleanup() {
    # Only this script's own mount: other mounts on the machine are not ours to touch.
    if grep -qF " ${home:-/nonexistent}/TimeAcct " /proc/self/mountinfo; then
        "$secvol" unmount --force "$home/TimeAcct" >/dev/null 2>&1 || true
    fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

Xvfb -displayfd 3 -screen 0 1024x600x24 -nolisten tcp 3>"$work/display" 2>/dev/null &
pids+=($!)
while [[ ! -s "$work/display" ]]; do sleep 0.1; done
DISPLAY=":$(cat "$work/display")"
export DISPLAY
if command -v openbox >/dev/null; then
    openbox >/dev/null 2>&1 &
    pids+=($!)
fi
sleep 1

# The kit, and a home folder for the person at the desk.
printf '%s\n' "$password" >"$work/pw"
"$secvol" kit "$work/usb" --container TimeAcct.sec --size 16M --password-file "$work/pw" \
    --scrypt-log-n 10 --quick >/dev/null
if [[ -n ${SECVOL_SHOTS_NAMESPACE:-} ]]; then
    mount -t tmpfs -o mode=0755 tmpfs /home
    home=/home/ana
else
    home="$work/ana"
fi
mkdir -p "$home"
mkdir -p "$work/bin"
printf '#!/bin/sh\nexit 0\n' >"$work/bin/xdg-open"
chmod +x "$work/bin/xdg-open"

run_script() { # script name: started as a double-click would, in the background
    HOME="$home" XDG_STATE_HOME="$work/state" PATH="$work/bin:$PATH" \
        setsid --wait sh "$work/usb/$1" </dev/null >/dev/null 2>&1 &
    script_pid=$!
}

window() { # title: wait for it, give it the keyboard
    local id=''
    for _ in $(seq 600); do
        id=$(xdotool search --onlyvisible --name "^$1\$" 2>/dev/null | head -n 1) && [[ -n $id ]] && break
        sleep 0.1
    done
    [[ -n $id ]] || { echo "no window titled '$1'" >&2; exit 1; }
    sleep 0.6
    xdotool windowactivate --sync "$id" >/dev/null 2>&1 || xdotool windowfocus --sync "$id"
    sleep 0.2
}

shot() { # name: the screen, cropped to the window
    import -window root "$work/root.png"
    convert "$work/root.png" -trim +repage -bordercolor '#d8dee9' -border 16 "$out/$1.png"
    echo "docs/img/$1.png"
}

run_script mount-secure-drive.sh
window 'Open TimeAcct.sec'
xdotool type --delay 40 'not-the-password'
shot password-box
xdotool key Return
window 'Wrong password'
shot wrong-password
xdotool key Return
window 'Open TimeAcct.sec'
xdotool type --delay 10 "$password"
xdotool key Return
window 'Mounted'
shot mounted
xdotool key Return
wait "$script_pid"

# A word processor still has a file open: a stand-in process called soffice.bin.
ln -s "$(command -v sleep)" "$work/bin/soffice.bin"
(cd "$home/TimeAcct" && exec "$work/bin/soffice.bin" 600) &
holder=$!
pids+=("$holder")
sleep 0.5
run_script dismount-secure-drive.sh
window 'Not dismounted'
shot dismount-busy
xdotool key Return
wait "$script_pid" || true
kill "$holder"
wait "$holder" 2>/dev/null || true

run_script dismount-secure-drive.sh
window 'Safe to remove'
shot safe-to-remove
xdotool key Return
wait "$script_pid"

# Choosing a weak password when creating a container in a password box.
HOME="$home" setsid --wait "$secvol" create "$work/New.sec" --size 1M --scrypt-log-n 10 \
    --gui </dev/null >/dev/null 2>&1 &
create_pid=$!
window 'New password for New.sec'
xdotool type --delay 20 'password'
xdotool key Return
window 'New password for New.sec'
xdotool type --delay 20 'password'
xdotool key Return
window 'Password too weak'
shot weak-password
xdotool key Return
window 'New password for New.sec'
xdotool key Escape
wait "$create_pid" || true
