#!/usr/bin/env bash
# The crash drill (docs/reliability.md, "The drill"): what a researcher's workspace survives.
#
#   scripts/drill.sh [--trials 20] [--build build] [--keep DIR] [--no-disk]
#
# 1. kill -9: a CLI training (roi_consistency on the demo data, cut down to seconds) is killed
#    at a random moment, N times. Each time the workspace must list the run as `interrupted`
#    (`lumen-cli runs`), `lumen-cli train --resume ID` must finish it, and every loss the
#    resumed run logs must equal the uninterrupted reference run's loss at the same step.
#    A run killed before its first checkpoint has nothing to resume: it is trained again from
#    the start, and its losses must equal the reference's too.
# 2. Disk full: the workspace on a small tmpfs (root only; --no-disk skips it) fills up while a
#    checkpoint is written: the run must fail with an error naming the file and "No space",
#    and the previous last.pt must still load (a resume from it, once space is freed, works).
# 3. A corrupt and a truncated checkpoint: `--resume FILE` must refuse both, naming the file.
# Prints a table of counts; exits 1 when any trial broke a promise.
set -uo pipefail
cd "$(dirname "$0")/.."

TRIALS=20
BUILD=build
KEEP=""
DISK=1
while [ $# -gt 0 ]; do
  case "$1" in
    --trials) TRIALS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    --no-disk) DISK=0; shift ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "drill: unknown option $1" >&2; exit 2 ;;
  esac
done
CLI="$PWD/$BUILD/bin/lumen-cli"
[ -x "$CLI" ] || { echo "drill: $CLI not found: build first (cmake --build --preset default)" >&2; exit 2; }

WORK="${KEEP:-$(mktemp -d /tmp/lumen-drill.XXXXXX)}"
mkdir -p "$WORK"
WS="$WORK/ws"
LOG="$WORK/drill.log"
: > "$LOG"
echo "drill: workspace $WS, log $LOG"
"$CLI" demo --out "$WS" >>"$LOG" 2>&1 || { echo "drill: lumen-cli demo failed (see $LOG)" >&2; exit 2; }

# The demo recipe cut down: 48 images at 32 px, 4 epochs of 6 steps (a few seconds each).
CFG="$WORK/drill.yaml"
sed -e 's/image_size: [0-9]*/image_size: 32/' -e 's/epochs: [0-9]*/epochs: 4/' \
    -e 's/batch_size: [0-9]*/batch_size: 8/' \
    -e 's/  val_fraction: [0-9.]*/  val_fraction: 0.2\n  max_images: 48\n  max_val_images: 8/' \
    resources/configs/roi_consistency_demo.yaml > "$CFG"

run_id() { sed -n 's/.*run \([0-9][0-9]*\)[:(].*/\1/p' "$1" | head -1; }
status_of() { "$CLI" runs --workspace "$WS" --run "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["status"])'; }
# Compares the `loss` points of run $1 with the reference run $2 at the steps both logged.
same_losses() {
  python3 - "$WS/lumen.db" "$1" "$2" <<'EOF'
import sqlite3, sys
db, run, ref = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
def losses(r):
    return dict(c.execute("select step, value from metrics where run_id=? and key='loss'", (r,)))
a, b = losses(run), losses(ref)
shared = sorted(set(a) & set(b))
bad = [(s, a[s], b[s]) for s in shared if a[s] != b[s]]
if not shared or bad:
    print(f"run {run} vs reference {ref}: {len(shared)} shared steps, {len(bad)} differ {bad[:3]}")
    sys.exit(1)
print(f"{len(shared)} steps equal")
EOF
}

start=$(date +%s)
"$CLI" train --config "$CFG" --workspace "$WS" >"$WORK/ref.out" 2>>"$LOG" || { echo "drill: reference run failed" >&2; exit 2; }
REF=$(run_id "$WORK/ref.out")
REF_SECONDS=$(( $(date +%s) - start ))
echo "drill: reference run $REF took ${REF_SECONDS}s"

killed=0 interrupted=0 resumed=0 restarted=0 equal=0 broken=0
for i in $(seq 1 "$TRIALS"); do
  # A random moment between 1 s and 90 % of the reference's duration (the machine's load
  # may change: a trial whose run finished before the kill is reported and not counted).
  delay=$(python3 -c "import random; print(round(random.uniform(1, max(1.5, 0.9 * $REF_SECONDS)), 2))")
  "$CLI" train --config "$CFG" --workspace "$WS" >"$WORK/t$i.out" 2>"$WORK/t$i.err" &
  pid=$!
  sleep "$delay"
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "trial $i: the run finished before the kill at ${delay}s" >>"$LOG"; wait "$pid"; continue
  fi
  kill -9 "$pid"; wait "$pid" 2>/dev/null
  killed=$((killed + 1))
  id=$(run_id "$WORK/t$i.err")
  [ -n "$id" ] || id=$("$CLI" runs --workspace "$WS" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  st=$(status_of "$id")
  if [ "$st" = interrupted ]; then interrupted=$((interrupted + 1)); else
    echo "trial $i: run $id is '$st' after kill -9, expected interrupted" | tee -a "$LOG"; broken=$((broken + 1)); continue; fi
  if [ -f "$WS/runs/${id}_roi_consistency/checkpoints/last.pt" ]; then
    "$CLI" train --resume "$id" --workspace "$WS" >"$WORK/r$i.out" 2>>"$LOG" && resumed=$((resumed + 1)) || {
      echo "trial $i: resume of run $id failed (see $LOG)" | tee -a "$LOG"; broken=$((broken + 1)); continue; }
  else
    "$CLI" train --config "$CFG" --workspace "$WS" >"$WORK/r$i.out" 2>>"$LOG" && restarted=$((restarted + 1)) || {
      echo "trial $i: the restart failed (see $LOG)" | tee -a "$LOG"; broken=$((broken + 1)); continue; }
  fi
  rid=$(run_id "$WORK/r$i.out")
  if out=$(same_losses "$rid" "$REF"); then equal=$((equal + 1)); echo "trial $i: killed at ${delay}s, run $rid: $out" >>"$LOG"
  else echo "trial $i: $out" | tee -a "$LOG"; broken=$((broken + 1)); fi
done

# 3. Corrupt and truncated checkpoints.
refused=0
LAST="$WS/runs/${REF}_roi_consistency/checkpoints/last.pt"
size=$(stat -c %s "$LAST")
head -c $((size / 2)) "$LAST" > "$WORK/truncated.pt"
cp "$LAST" "$WORK/corrupt.pt"
printf 'garbage!' | dd of="$WORK/corrupt.pt" bs=1 seek=$((size / 3)) conv=notrunc status=none
for f in truncated corrupt; do
  if ! "$CLI" train --config "$CFG" --workspace "$WS" --resume "$WORK/$f.pt" >/dev/null 2>"$WORK/$f.err" &&
     grep -q "$f.pt" "$WORK/$f.err"; then refused=$((refused + 1))
  else echo "checkpoint $f.pt was not refused by name: $(cat "$WORK/$f.err")" | tee -a "$LOG"; broken=$((broken + 1)); fi
done

# 2. Disk full during a checkpoint.
disk="skipped"
if [ "$DISK" = 1 ] && [ "$(id -u)" = 0 ]; then
  MNT="$WORK/tmpfs"; mkdir -p "$MNT"
  # Room for the demo data and epoch 1's two checkpoints (epoch-named and last.pt) and half
  # of another: the save at the end of epoch 2 runs out of space.
  need=$(( $(du -sk "$WS/chest_xray" | cut -f1) + $(du -sk "$WS/manifests" | cut -f1) + size / 1024 * 5 / 2 + 4096 ))
  if mount -t tmpfs -o size=${need}k tmpfs "$MNT"; then
    cp -r "$WS/chest_xray" "$WS/manifests" "$MNT/"
    touch "$MNT/lumen.db"
    "$CLI" train --config "$CFG" --workspace "$MNT" >"$WORK/disk.out" 2>"$WORK/disk.err"; code=$?
    did=$(run_id "$WORK/disk.err")
    last="$MNT/runs/${did}_roi_consistency/checkpoints/last.pt"
    if [ "$code" != 0 ] && grep -qi "no space" "$WORK/disk.err" && [ -f "$last" ] &&
       ! ls "$MNT/runs/${did}_roi_consistency/checkpoints/"*.tmp* >/dev/null 2>&1; then
      cp "$last" "$WORK/disk_last.pt"; umount "$MNT"
      if "$CLI" train --config "$CFG" --workspace "$WS" --resume "$WORK/disk_last.pt" >/dev/null 2>>"$LOG"; then
        disk="clear error, last.pt intact and resumable"
      else disk="BROKEN: last.pt did not resume"; broken=$((broken + 1)); fi
    else
      disk="BROKEN: exit $code, $(tail -1 "$WORK/disk.err")"; broken=$((broken + 1)); umount "$MNT" 2>/dev/null
    fi
  else disk="skipped (mount failed)"; fi
fi

printf '\n| Drill | Count |\n|---|---|\n'
printf '| kill -9 at a random moment | %d of %d trials |\n' "$killed" "$TRIALS"
printf '| shown as interrupted | %d |\n' "$interrupted"
printf '| resumed from last.pt and finished | %d |\n' "$resumed"
printf '| killed before the first checkpoint, trained again | %d |\n' "$restarted"
printf '| losses equal to the uninterrupted run | %d |\n' "$equal"
printf '| corrupt/truncated checkpoints refused by name | %d of 2 |\n' "$refused"
printf '| disk full during a checkpoint | %s |\n' "$disk"
printf '| broken promises | %d |\n' "$broken"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
[ "$broken" = 0 ]
