#!/bin/bash
# Regenerates docs/screenshots/ from a built tree: the GUI tests that grab their panel save into
# docs/screenshots/ when LUMEN_WRITE_SCREENSHOTS is set (otherwise into the temp folder, so a
# plain test run never touches files under version control), and `lumen --screenshot` grabs the
# main window at 1366x768 on every page of the demo workspace. Look at every PNG before
# committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
export LUMEN_WRITE_SCREENSHOTS=1
xvfb-run -a -s "-screen 0 1600x1000x24" ctest --test-dir "$build" --output-on-failure \
  -R "test_(cards|metrics_panel|data_panel|dicom_browser|pacs_panel|run_launcher|loss_curve_panel|train_page|study_browser|study_boxes|volume_viewer|study_workflow|slurm|sweep_panel)$"
# The first page of the model card PDF that test_cards wrote (poppler-utils).
pdftoppm -png -r 60 -f 1 -l 1 -singlefile docs/screenshots/card_model.pdf docs/screenshots/card_model
rm -f docs/screenshots/card_model.pdf
# The demo generated under the temp folder, not the user's: the first --demo also trains,
# infers and explains its model (a few minutes), later ones open at once.
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
export XDG_DATA_HOME="$demo/data" XDG_CONFIG_HOME="$demo/config"
shot() { xvfb-run -a -s "-screen 0 1366x768x24" "$build/bin/lumen" "$@"; }
shot --demo --screenshot docs/screenshots/main.png
for page in workspace data dicom pacs audit study metrics train; do
  shot --demo --show "$page" --screenshot "docs/screenshots/page_$page.png"
done
shot --demo --show audit --run-audit --screenshot docs/screenshots/audit.png
shot --volume demo --screenshot docs/screenshots/page_volume.png
ls -l docs/screenshots/
