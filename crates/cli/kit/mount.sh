#!/bin/sh
# Mount Secure Drive (Linux).
#
# Double-click it (in the file manager: right-click > Run as a Program), type the password in
# the box that appears, and the files inside @CONTAINER@ open in the folder
# ~/@MOUNT_NAME@. Made by 'secvol kit' @VERSION@; it finds everything relative to its own
# folder, whatever path the USB key gets on this computer.
#
# It writes no file of yours anywhere: secvol creates the folder only for the mount and
# removes it again if the mount fails, and the folder is opened only once secvol has confirmed
# the mount. Every exit code is checked; secvol shows what went wrong in a message box.

container_name='@CONTAINER@'
data_dir='@DATA_DIR@'
mount_name='@MOUNT_NAME@'
title='Secure Drive'

# A message in a box when there is a desktop, and on standard error in any case.
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
    say error "Cannot find the folder of this script."
    exit 1
}

case $(uname -m) in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch=$(uname -m) ;;
esac
secvol="$here/secvol/linux-$arch/secvol"
container="$here/$data_dir/$container_name"

if [ ! -f "$secvol" ]; then
    say error "This USB key has no secvol program for this computer (secvol/linux-$arch/secvol). Ask whoever set up the key to add it."
    exit 1
fi
if [ ! -f "$container" ]; then
    say error "The container $data_dir/$container_name is not on this USB key. Nothing was mounted."
    exit 1
fi
if [ ! -x "$secvol" ]; then
    # A FAT-formatted key shows no program as executable on Linux: run a private copy from
    # the per-user runtime folder (in memory, removed at logout).
    runtime="${XDG_RUNTIME_DIR:-}"
    if [ -z "$runtime" ] || [ ! -d "$runtime" ]; then
        say error "secvol cannot be started from this USB key (it is not executable here). Open a terminal and run: sh '$0'"
        exit 1
    fi
    copy="$runtime/secvol-kit"
    if ! { mkdir -p "$copy" && chmod 700 "$copy" && cp "$secvol" "$copy/secvol" &&
        chmod 700 "$copy/secvol"; }; then
        say error "secvol cannot be started from this USB key (it is not executable here)."
        exit 1
    fi
    secvol="$copy/secvol"
fi

mountpoint="$HOME/$mount_name"
gui=''
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    gui='--gui'
fi

# secvol asks for the password (in a box with --gui), mounts, and says how it went.
# shellcheck disable=SC2086 # $gui is empty or one word
"$secvol" mount "$container" "$mountpoint" $gui
status=$?
if [ "$status" -ne 0 ]; then
    exit "$status"
fi

# Confirm the mount before anything is opened in the folder.
canonical=$(CDPATH='' cd -- "$mountpoint" && pwd -P) || canonical=$mountpoint
if ! "$secvol" list | grep -F -- " $canonical " >/dev/null; then
    say error "secvol said the container was mounted, but $mountpoint is not a secvol mount. Do not save anything there."
    exit 1
fi

if command -v xdg-open >/dev/null 2>&1; then
    xdg-open "$mountpoint" >/dev/null 2>&1 &
fi
exit 0
