#!/bin/bash
# Regenerates docs/screenshots/ from a built tree: the GUI tests that grab their panel save into
# docs/screenshots/ when LUMEN_WRITE_SCREENSHOTS is set (otherwise into the temp folder, so a
# plain test run never touches files under version control), and `lumen --screenshot` grabs the
# main window on the demo workspace. Look at every PNG before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
export LUMEN_WRITE_SCREENSHOTS=1
xvfb-run -a -s "-screen 0 1600x1000x24" ctest --test-dir "$build" --output-on-failure \
  -R "test_(metrics_panel|data_panel|dicom_browser|pacs_panel|run_launcher|loss_curve_panel|train_page|study_browser|volume_viewer)$"
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
xvfb-run -a -s "-screen 0 1600x1000x24" "$build/bin/lumen" --workspace "$demo/ws" --demo \
  --screenshot docs/screenshots/main.png
xvfb-run -a -s "-screen 0 1600x1000x24" "$build/bin/lumen" --workspace "$demo/ws" \
  --show audit --run-audit --screenshot docs/screenshots/audit.png
# The Volume page on the demo's first CT (demo generated under the temp folder, not the user's).
XDG_DATA_HOME="$demo/data" XDG_CONFIG_HOME="$demo/config" xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$build/bin/lumen" --volume demo --screenshot docs/screenshots/volume_page.png
ls -l docs/screenshots/
