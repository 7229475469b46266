#!/usr/bin/env bash
# Build secvol for Windows with mingw-w64 and run what can run without WinFsp under Wine:
# the test suites of secvol-core, secvol-fs and secvol-winfsp (its platform-neutral parts),
# then the CLI smoke script (ci/cross/wine-smoke.sh) against secvol.exe.
#
#   ci/cross/wine.sh
#
# Needs (Debian): rustc-web cargo-web rust-web-src, gcc-mingw-w64-x86-64, wine64 (.ci/run
# installs them). Wine lacks bcryptprimitives.dll (ProcessPrng, which Rust's std imports):
# ci/cross/wine-shim/ builds a stand-in placed beside every .exe.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/cross/env.bash

target=x86_64-pc-windows-gnu
ci/cross/sysroot.sh "$target" >/dev/null

step() { printf -- '--> %s\n' "$*"; }
start=$SECONDS

step "build secvol.exe and the test programs (mingw-w64)"
# No WinFsp SDK here: a delay-load import library made from the list of the functions
# secvol uses (WinFsp's DLL is then needed only when mounting, never under Wine), added by
# the linker wrapper.
export SECVOL_WINFSP_LIB="$CROSS_DIR/winfsp-lib"
mkdir -p "$SECVOL_WINFSP_LIB"
x86_64-w64-mingw32-dlltool --input-def ci/cross/winfsp/winfsp-x64.def \
    --dllname winfsp-x64.dll --output-delaylib "$SECVOL_WINFSP_LIB/libwinfsp-x64.a"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER="$PWD/ci/cross/mingw-link.sh"
cross_cargo "$target" build --quiet -p secvol
tests_json="$CROSS_DIR/wine-tests.json"
cross_cargo "$target" test --quiet --no-run --message-format=json \
    --lib --tests -p secvol-core -p secvol-fs -p secvol-winfsp >"$tests_json"
mapfile -t test_programs < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"]["test"]:
        print(msg["executable"])
' "$tests_json")
exe="$CROSS_DIR/target/$target/debug/secvol.exe"
[[ -x "$exe" ]] || { echo "missing $exe" >&2; exit 1; }
echo "    built in $((SECONDS - start)) s: secvol.exe and ${#test_programs[@]} test programs"

step "the ProcessPrng stand-in for Wine"
shim="$CROSS_DIR/wine-shim/bcryptprimitives.dll"
mkdir -p "$(dirname "$shim")"
x86_64-w64-mingw32-gcc -O2 -shared -o "$shim" \
    ci/cross/wine-shim/bcryptprimitives.c ci/cross/wine-shim/bcryptprimitives.def -ladvapi32
for dir in "$(dirname "$exe")" $(printf '%s\n' "${test_programs[@]}" | xargs -n1 dirname | sort -u); do
    cp "$shim" "$dir/"
done

export WINEPREFIX="$CROSS_DIR/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [[ ! -d "$WINEPREFIX" ]]; then
    step "a Wine prefix (once)"
    wineboot --init >/dev/null 2>&1 || true
    wineserver --wait || true
fi

failed=0
passed_total=0
failed_total=0
# Run one test program under Wine (two test threads: the machine has two cores); on failure
# show why: the exit status and the end of its output.
run_under_wine() {
    local program=$1 log=$2 status=0
    wine "$program" --test-threads=2 >"$log" 2>&1 || status=$?
    if ((status != 0)); then
        echo "    exit status $status under Wine; the end of its output:"
        tail -n 25 "$log" | sed 's/^/    | /'
    fi
    return "$status"
}

for program in "${test_programs[@]}"; do
    step "under Wine: $(basename "$program")"
    t=$SECONDS
    log="$CROSS_DIR/wine-$(basename "$program").log"
    if ! run_under_wine "$program" "$log"; then
        # Wine itself sometimes dies at a test program's exit (a CI run once lost a program
        # whose tests had all passed, with nothing printed): a second run tells such a Wine
        # hiccup from a failing test. Both outcomes are printed above and below; a program
        # that fails twice fails the check.
        echo "    running it a second time"
        if run_under_wine "$program" "$log"; then
            echo "    passed on the second run: the first failure is reported above"
        else
            failed=1
        fi
    fi
    grep -E "^test result:" "$log" || true
    counts=$(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$log")
    passed_total=$((passed_total + ${counts% *}))
    failed_total=$((failed_total + ${counts#* }))
    echo "    ($((SECONDS - t)) s)"
done

step "CLI smoke test of secvol.exe under Wine"
t=$SECONDS
if ci/cross/wine-smoke.sh "$exe"; then
    passed_total=$((passed_total + 1))
else
    failed=1
    failed_total=$((failed_total + 1))
fi
echo "    ($((SECONDS - t)) s)"

wineserver --kill >/dev/null 2>&1 || true
echo "wine checks: $((SECONDS - start)) s"
echo "under Wine: $passed_total passed, $failed_total failed"
exit $failed
