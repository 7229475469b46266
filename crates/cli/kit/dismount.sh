#!/bin/sh
# Dismount Secure Drive (Linux).
#
# Double-click it (in the file manager: right-click > Run as a Program) when you are done.
# secvol writes every change into @CONTAINER@ and closes it; the message "It is now safe to
# remove the drive" appears only once it is closed. If a program still has a file open from
# it, the message names that program: close it, then run this again. Made by 'secvol kit'
# @VERSION@; it finds everything relative to its own folder.

container_name='@CONTAINER@'
data_dir='@DATA_DIR@'
title='Secure Drive'

say() {
    kind=$1
    text=$2
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
        if command -v zenity >/dev/null 2>&1; then
            zenity "--$kind" --no-markup --width=460 --title="$title" --text="$text" 2>/dev/null
        elif command -v kdialog >/dev/null 2>&1; then
            if [ "$kind" = error ]; then
                kdialog --title "$title" --error "$text"
            else
                kdialog --title "$title" --msgbox "$text"
            fi
        fi
    fi
    printf '%s\n' "$text" >&2
}

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P) || {
    say error "Cannot find the folder of this script. Do not remove the USB key yet."
    exit 1
}

case $(uname -m) in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch=$(uname -m) ;;
esac
secvol="$here/secvol/linux-$arch/secvol"
if [ ! -x "$secvol" ] && [ -x "${XDG_RUNTIME_DIR:-/nonexistent}/secvol-kit/secvol" ]; then
    # The copy the mount script ran (a FAT key shows no program as executable).
    secvol="$XDG_RUNTIME_DIR/secvol-kit/secvol"
fi
container="$here/$data_dir/$container_name"

if [ ! -x "$secvol" ]; then
    say error "secvol cannot be started from this USB key. Do not remove the key yet: the container may still be open."
    exit 1
fi

gui=''
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    gui='--gui'
fi

# secvol says "safe to remove" only once the container is closed, or names the program that
# keeps it busy.
# shellcheck disable=SC2086 # $gui is empty or one word
"$secvol" unmount "$container" $gui
exit $?
