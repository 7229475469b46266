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
