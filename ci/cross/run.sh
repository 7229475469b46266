#!/usr/bin/env bash
# The Windows and macOS checks that can run on Linux (docs/platforms.md), as CI runs them
# after ci/test.sh: clippy for the four foreign targets, then secvol.exe and the test suites
# under Wine. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$SECONDS
printf '\n==> Windows and macOS: clippy for foreign targets (ci/cross/check.sh)\n'
ci/cross/check.sh
printf '\n==> Windows: secvol.exe and the test suites under Wine (ci/cross/wine.sh)\n'
ci/cross/wine.sh
echo "cross-platform checks took $((SECONDS - start)) s"
