#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each in turn.
# Usage:
#   tests/fuzz/run.sh [SECONDS] [TARGET...]       each target for SECONDS (default 60)
#   tests/fuzz/run.sh --runs N [TARGET...]        each target for N executions (-runs=N)
# Targets: fuzz_csv fuzz_dicom fuzz_nifti fuzz_yaml fuzz_manifest fuzz_npy (default: all).
# Writes build-fuzz/summary.txt (one row per target) and prints it as a table.
# Needs: clang, libclang-rt-14-dev, /usr/bin/python3 with numpy, pydicom, nibabel (seeds).
# Set LUMEN_FUZZ_NICE=19 to run the fuzzers under nice. See docs/fuzzing.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
all=(fuzz_csv fuzz_dicom fuzz_nifti fuzz_yaml fuzz_manifest fuzz_npy)
mode=time secs=60 runs=0
if [ "${1:-}" = "--runs" ]; then
  [ $# -ge 2 ] || { echo "usage: $0 --runs N [TARGET...]" >&2; exit 2; }
  mode=runs runs=$2
  shift 2
elif [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
build=${LUMEN_FUZZ_BUILD:-$root/build-fuzz}

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target "${targets[@]}"

# Seeds: real files, made or copied fresh into build-fuzz/ (nothing third-party is committed).
seeds=$build/seeds
mkdir -p "$seeds"/{fuzz_csv,fuzz_dicom,fuzz_nifti,fuzz_yaml,fuzz_manifest,fuzz_npy}
pyd=/usr/lib/python3/dist-packages/pydicom/data/test_files
for f in "$pyd"/*.dcm; do
  [ -f "$f" ] && cp -f "$f" "$seeds/fuzz_dicom/"
done
# fuzz_nifti's first byte picks the suffix: 0 → .nii, 1 → .nii.gz.
nib=/usr/lib/python3/dist-packages/nibabel/tests/data
for f in "$nib"/*.nii "$nib"/*.nii.gz; do
  [ -f "$f" ] || continue
  case $f in *.gz) p='\001' ;; *) p='\000' ;; esac
  { printf "$p"; cat "$f"; } > "$seeds/fuzz_nifti/nibabel_$(basename "$f" | tr . _)"
done
/usr/bin/python3 "$here/make_seeds.py" "$seeds"

summary=$build/summary.txt
printf 'target\texit\texecutions\ttime_s\texec/s\tcoverage\tcrashes\n' > "$summary"
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t
  artifacts=$build/artifacts/$t/
  mkdir -p "$corpus" "$artifacts"
  log=$build/$t.log
  if [ "$mode" = runs ]; then limit=(-runs="$runs"); else limit=(-max_total_time="$secs"); fi
  before=$(ls "$artifacts" | wc -l)
  start=$(date +%s.%N)
  set +e
  ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    nice -n "${LUMEN_FUZZ_NICE:-0}" "$build/$t" "${limit[@]}" -rss_limit_mb=2560 -malloc_limit_mb=8192 \
    -max_len=262144 -timeout=20 -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "$seeds/$t" \
    >"$log" 2>&1
  rc=$?
  set -e
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  found=$(( $(ls "$artifacts" | wc -l) - before ))
  rate=$( [ "$execs" != "?" ] && echo "scale=0; $execs / $wall" | bc || echo "?")
  printf '%s\t%s\t%s\t%.0f\t%s\t%s\t%s\n' "$t" "$rc" "$execs" "$wall" "$rate" "$cov" "$found" >> "$summary"
done
column -t -s $'\t' "$summary"
