#!/bin/sh
# Runs the volume viewer benchmark under Xvfb/Mesa and prints its table with the machine's load.
# Usage: bench/run_volume_viewer_bench.sh [BUILD_DIR]   (default: build)
set -e
build=${1:-build}
exe="$build/bench/volume_viewer_bench"
[ -x "$exe" ] || { echo "build it first: cmake --build $build --target volume_viewer_bench" >&2; exit 2; }
echo "machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1400x24" "$exe" 2>&1 | grep -v "XDG_RUNTIME_DIR"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
