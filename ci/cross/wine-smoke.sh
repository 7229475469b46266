#!/usr/bin/env bash
# The offline commands of a Windows secvol.exe, run under Wine with Windows paths:
# create, info, put of a directory tree, ls, cat, get of a directory (compared byte for byte
# with the original), mkdir, mv, rm, check, passwd, header backup.
#
#   ci/cross/wine-smoke.sh PATH/TO/secvol.exe      (ci/cross/wine.sh calls it)
set -Eeuo pipefail
exe=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/secvol-wine.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

# Wine shows the Linux file system as drive Z:.
win() { winepath -w "$1" 2>/dev/null; }
secvol() { wine "$exe" "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

printf 'Zebra-Kutsche-Morgenrot-42\n' >"$work/pw"
printf 'Anker-Feldweg-Sonnenuhr-77\n' >"$work/pw2"
mkdir -p "$work/in/Akten/2026" "$work/out"
printf 'Befund\r\n' >"$work/in/Akten/2026/befund.txt"
head -c 300000 /dev/urandom >"$work/in/Akten/scan.bin"
: >"$work/in/leer.txt"

box=$(win "$work/TimeAcct.sec")
pw=$(win "$work/pw")
pw2=$(win "$work/pw2")

secvol create "$box" --size 16M --password-file "$pw" --scrypt-log-n 10 >/dev/null
# Outputs are captured first: `grep -q` closing a pipe early would fail the writer.
info=$(secvol info "$box")
grep -qi "aes-256-gcm" <<<"$info" || fail "info: $info"
secvol put "$(win "$work/in/Akten")" "${box}:\\" --password-file "$pw" 2>/dev/null
secvol put "$(win "$work/in/leer.txt")" "${box}:/" --password-file "$pw" 2>/dev/null
listing=$(secvol ls "${box}:\\Akten" --password-file "$pw")
grep -q "scan.bin" <<<"$listing" || fail "ls: $listing"
[[ "$(secvol cat "${box}:\\Akten\\2026\\befund.txt" --password-file "$pw")" == $'Befund\r' ]] || fail "cat"
# get of a directory: the bug that needed FILE_FLAG_BACKUP_SEMANTICS.
secvol get "${box}:/Akten" "$(win "$work/out")" --password-file "$pw"
diff -r "$work/in/Akten" "$work/out/Akten" || fail "get of a directory differs"
secvol mkdir "${box}:\\Neu" --password-file "$pw"
secvol mv "${box}:/leer.txt" "${box}:/Neu/leer.txt" --password-file "$pw"
secvol rm "${box}:/Neu/leer.txt" --password-file "$pw"
secvol check "$box" --password-file "$pw" >/dev/null || fail "check"
secvol passwd "$box" --password-file "$pw" --new-password-file "$pw2" --scrypt-log-n 10 >/dev/null
if secvol ls "$box" --password-file "$pw" >/dev/null 2>&1; then fail "old password still opens"; fi
root=$(secvol ls "$box" --password-file "$pw2")
grep -q "Akten" <<<"$root" || fail "new password: $root"
secvol header backup "$box" "$(win "$work/header.bak")" --password-file "$pw2" >/dev/null
[[ -s "$work/header.bak" ]] || fail "header backup"
# A bare drive letter is not a container.
if out=$(secvol ls "T:" --password-file "$pw2" 2>&1); then fail "T: opened"; fi
grep -q "drive letter" <<<"$out" || fail "T: message: $out"
echo "smoke test passed (create, info, put, ls, cat, get of a directory, mkdir, mv, rm, check, passwd, header backup)"
