#!/usr/bin/env bash
# Type-check and lint the workspace for Windows and macOS on this Linux machine:
# `cargo clippy -D warnings` for each target, against a std built by ci/cross/sysroot.sh.
#
#   ci/cross/check.sh [TARGET...]    default: the four targets below
#
# What it proves: every line of secvol that is compiled for Windows (the WinFsp driver with
# winfsp_wrs's pre-generated bindings, the Windows mount commands, VirtualLock) or macOS
# (the FUSE driver against macFUSE's API, the macOS mount table) type-checks and passes
# clippy. What it cannot: link (no Windows or macOS libraries here), run, or mount. The
# benchmark programs (examples/, benches/) are Linux tools and are not checked.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/cross/env.bash

targets=("$@")
((${#targets[@]} > 0)) || targets=(x86_64-pc-windows-gnu x86_64-pc-windows-msvc x86_64-apple-darwin aarch64-apple-darwin)

ci/cross/sysroot.sh "${targets[@]}" | grep -v "^/"
# fuser's build script asks pkg-config for macFUSE when the target is macOS.
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_PATH="$PWD/ci/cross/macfuse${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

for target in "${targets[@]}"; do
    start=$SECONDS
    echo "--> clippy for $target"
    cross_cargo "$target" clippy --quiet --workspace --lib --bins --tests -- -D warnings
    echo "    clean ($((SECONDS - start)) s)"
done
