#!/bin/sh
# Mount Secure Drive (macOS).
#
# Double-click it, type the password in the box that appears, and the files inside
# @CONTAINER@ open in the folder @MOUNT_NAME@ in your home folder. Made by 'secvol kit'
# @VERSION@; it finds everything relative to its own folder, whatever the USB key is called.
# Needs macFUSE (installed once). NOT YET TESTED ON A MAC: see docs/user-guide.md.
#
# It writes no file of yours anywhere: secvol creates the folder only for the mount and
# removes it again if the mount fails, and the folder is opened only once secvol has confirmed
# the mount. Every exit code is checked; secvol shows what went wrong in a message box.

container_name='@CONTAINER@'
data_dir='@DATA_DIR@'
mount_name='@MOUNT_NAME@'
title='Secure Drive'

# A message in a box (and in the Terminal window).
say() {
    text=$2
    escaped=$(printf '%s' "$text" | sed 's/\\/\\\\/g; s/"/\\"/g')
    osascript -e "display alert \"$title\" message \"$escaped\" buttons {\"OK\"} default button \"OK\"" >/dev/null 2>&1
    printf '%s\n' "$text" >&2
}

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P) || {
    say error "Cannot find the folder of this script."
    exit 1
}

case $(uname -m) in
    x86_64) arch=x86_64 ;;
    arm64 | aarch64) arch=aarch64 ;;
    *) arch=$(uname -m) ;;
esac
secvol="$here/secvol/macos-$arch/secvol"
if [ ! -f "$secvol" ]; then
    secvol="$here/secvol/macos-universal/secvol"
fi
container="$here/$data_dir/$container_name"

if [ ! -f "$secvol" ]; then
    say error "This USB key has no secvol program for this Mac (secvol/macos-$arch/secvol). Ask whoever set up the key to add it."
    exit 1
fi
if [ ! -f "$container" ]; then
    say error "The container $data_dir/$container_name is not on this USB key. Nothing was mounted."
    exit 1
fi

mountpoint="$HOME/$mount_name"

# secvol asks for the password in a box, mounts, and says how it went.
"$secvol" mount "$container" "$mountpoint" --gui
status=$?
if [ "$status" -ne 0 ]; then
    exit "$status"
fi

# Confirm the mount before anything is opened in the folder.
if ! mount | grep -F -- " on $mountpoint " >/dev/null; then
    say error "secvol said the container was mounted, but $mountpoint is not mounted. Do not save anything there."
    exit 1
fi

open "$mountpoint"
exit 0
