#!/usr/bin/env bash
# Build the Rust standard library for foreign targets once, into a sysroot that every later
# cargo run (clippy, check, build, test) reuses through `--sysroot`.
#
#   ci/cross/sysroot.sh TARGET...     e.g. x86_64-pc-windows-gnu aarch64-apple-darwin
#
# No prebuilt std for Windows or macOS is reachable from these machines (rustup's downloads
# are not; only crates.io, PyPI and Debian's packages are). Debian's rustc-web ships the std
# sources (rust-web-src), and `-Z build-std` (RUSTC_BOOTSTRAP=1: the Debian compiler is a
# stable one) compiles them. Building std inside every cargo invocation would repeat that
# work per target and per mode (check vs build); building it once into a sysroot does not.
#
# Output: $SECVOL_CROSS_DIR/sysroot/lib/rustlib/TARGET/lib/*.rlib (default
# target/cross). Prints the sysroot path last.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/cross/env.bash

(($# > 0)) || { echo "usage: $0 TARGET..." >&2; exit 2; }

for target in "$@"; do
    dest="$CROSS_SYSROOT/lib/rustlib/$target/lib"
    stamp="$dest/.secvol-std-$("$CROSS_RUSTC" -vV | sed -n 's/^commit-hash: //p')"
    if [[ -e "$stamp" ]]; then
        echo "std for $target: already built"
        continue
    fi
    echo "std for $target: building (once)..."
    project="$CROSS_DIR/std-build"
    mkdir -p "$project/src"
    cat >"$project/Cargo.toml" <<'TOML'
[package]
name = "secvol-std-carrier"
version = "0.0.0"
edition = "2024"
publish = false
[lib]
path = "src/lib.rs"
[profile.release]
debug = false
[workspace]
TOML
    echo '#![no_std]' >"$project/src/lib.rs"
    start=$SECONDS
    # proc_macro and test: the test harness for running the test suites under Wine.
    (cd "$project" && RUSTC_BOOTSTRAP=1 RUSTC="$CROSS_RUSTC" CARGO_TARGET_DIR="$CROSS_DIR/std-target" \
        "$CROSS_CARGO" build --quiet --release --target "$target" \
        -Z build-std=std,panic_abort,panic_unwind,proc_macro,test)
    rm -rf "$dest"
    mkdir -p "$dest"
    find "$CROSS_DIR/std-target/$target/release/deps" -maxdepth 1 -name '*.rlib' \
        ! -name 'libsecvol_std_carrier-*' -exec cp {} "$dest/" \;
    touch "$stamp"
    echo "std for $target: built in $((SECONDS - start)) s"
done
echo "$CROSS_SYSROOT"
