#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this after installing what it
# needs). Run from anywhere; it works from the repository root.
#
#   ci/test.sh            everything
#   ci/test.sh --quick    skip the long conformance/stress suites (for quick local runs)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

step() { printf '\n==> %s\n' "$*"; }

# What the run needs, said before anything compiles for minutes.
missing=()
for tool in shellcheck fusermount3 setfacl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ $quick == 0 ]]; then
    for tool in pjdfstest fsx; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
fi
if ((${#missing[@]})); then
    echo "error: missing: ${missing[*]}. .ci/run installs everything (as root, on Debian or" >&2
    echo "Ubuntu: apt packages, then 'cargo install pjdfstest fsx') and runs this script;" >&2
    echo "'ci/test.sh --quick' skips the conformance suites (pjdfstest, fsx)." >&2
    exit 1
fi
if [[ $quick == 0 && $EUID -ne 0 ]]; then
    echo "error: the full suite needs root (pjdfstest switches users; the e2e tests run again" >&2
    echo "as a normal user); run it as root, or use 'ci/test.sh --quick'" >&2
    exit 1
fi

step "format"
cargo fmt --all -- --check

step "lint (clippy, warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "lint the kit's scripts and the shell scripts of this project (shellcheck)"
command -v shellcheck >/dev/null || { echo "shellcheck is not installed (apt-get install shellcheck)" >&2; exit 1; }
shellcheck -s sh crates/cli/kit/*.sh crates/cli/kit/*.command
shellcheck ci/suites/e2e-as-user.sh docs/img/make-screenshots.sh

step "docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "unit and integration tests"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --all-features --no-fail-fast
else
    cargo test --workspace --all-features --no-fail-fast
fi

if [[ $quick == 0 ]]; then
    for suite in ci/suites/*.sh; do
        [[ -e "$suite" ]] || continue
        step "suite: $suite"
        bash "$suite"
    done
fi

step "the tree is clean after the tests"
if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
    git status --porcelain
    echo "tests left files behind (or changed tracked files)" >&2
    exit 1
fi
echo "all tests passed"
