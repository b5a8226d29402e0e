#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (GUI suites under Xvfb).
# This is the README's test command; .ci/run runs it verbatim.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default
cmake --build --preset default
xvfb-run -a -s "-screen 0 1600x1000x24" ctest --preset default "$@"
