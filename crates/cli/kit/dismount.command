#!/bin/sh
# Dismount Secure Drive (macOS).
#
# Double-click it when you are done. secvol writes every change into @CONTAINER@ and closes
# it; the message "It is now safe to remove the drive" appears only once it is closed. If a
# program still has a file open from it, the message names that program: close it, then run
# this again. Made by 'secvol kit' @VERSION@. NOT YET TESTED ON A MAC.

container_name='@CONTAINER@'
data_dir='@DATA_DIR@'
mount_name='@MOUNT_NAME@'
title='Secure Drive'

say() {
    text=$2
    escaped=$(printf '%s' "$text" | sed 's/\\/\\\\/g; s/"/\\"/g')
    osascript -e "display alert \"$title\" message \"$escaped\" buttons {\"OK\"} default button \"OK\"" >/dev/null 2>&1
    printf '%s\n' "$text" >&2
}

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P) || {
    say error "Cannot find the folder of this script. Do not remove the USB key yet."
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

if [ ! -x "$secvol" ]; then
    say error "secvol cannot be started from this USB key. Do not remove the key yet: the container may still be open."
    exit 1
fi

# The folder is unmounted with macOS's own umount first: secvol finds its macOS mounts through
# ps (mounts_macos.rs), which has never run on a Mac, and the dismount must work even if that
# fails. secvol then says "safe" only once the mount daemon has let go of the container.
mountpoint="$HOME/$mount_name"
if mount | grep -F -- " on $mountpoint " >/dev/null; then
    if ! umount "$mountpoint"; then
        say error "$mount_name is still in use: close the programs that have files open from it (save your work first), then double-click Dismount again. Do not remove the USB key yet."
        exit 11
    fi
fi
# --gui: "safe to remove" once the container is closed (waits for the daemon's lock).
"$secvol" unmount "$container" --gui
exit $?
