#!/usr/bin/env bash
# Installs what is missing, builds, and opens Lumen on the built-in demo workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default
cmake --build --preset default
exec build/bin/lumen --demo "$@"
