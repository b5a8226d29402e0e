#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each for
# SECONDS (default 60). Usage: tests/fuzz/run.sh [SECONDS] [fuzz_csv fuzz_dicom fuzz_nifti fuzz_yaml]
# Needs: clang, libclang-rt-14-dev, /usr/bin/python3 with pydicom/nibabel (seeds). See docs/fuzzing.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_csv fuzz_dicom fuzz_nifti fuzz_yaml)
build=${LUMEN_FUZZ_BUILD:-$root/build-fuzz}

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target "${targets[@]}"

# Seeds: real files, made fresh (nothing third-party is copied into the repository).
seeds=$build/seeds
mkdir -p "$seeds"/{fuzz_csv,fuzz_dicom,fuzz_nifti,fuzz_yaml}
pyd=/usr/lib/python3/dist-packages/pydicom/data/test_files
for f in CT_small.dcm MR_small_RLE.dcm MR_small_jpeg_ls_lossless.dcm MR_small_jp2klossless.dcm SC_rgb_jpeg_dcmtk.dcm \
         image_dfl.dcm MR_small_bigendian.dcm SC_rgb_rle_2frame.dcm liver_1frame.dcm JPGExtended.dcm rtdose_1frame.dcm; do
  [ -f "$pyd/$f" ] && cp -f "$pyd/$f" "$seeds/fuzz_dicom/$f"
done
/usr/bin/python3 - "$seeds/fuzz_nifti" <<'PY'
import sys, numpy as np, nibabel as nib
d = sys.argv[1]
a = np.arange(60, dtype=np.int16).reshape(5, 4, 3)
for name, img in [('n1', nib.Nifti1Image(a, np.eye(4))), ('n2', nib.Nifti2Image(a.astype(np.float32), np.eye(4)))]:
    for prefix, ext in ((b'\x00', '.nii'), (b'\x01', '.nii.gz')):
        nib.save(img, d + '/tmp' + ext)
        open(d + '/' + name + ext.replace('.', '_'), 'wb').write(prefix + open(d + '/tmp' + ext, 'rb').read())
import os; os.remove(d + '/tmp.nii'); os.remove(d + '/tmp.nii.gz')
PY
printf 'study_id,prox_rca_stenosis,note,cto\n0001,12.5,"a, b",0.01\n"0002",1e2,x,\n3,nan,y,0.5\n' > "$seeds/fuzz_csv/a.csv"
printf 'task: roi_consistency\nseed: 7\nepochs: 3\nbatch_size: 8\nlr: 1e-4\nloss_weights:\n  contrastive: 1.0\n' > "$seeds/fuzz_yaml/a.yaml"

summary=$build/summary.txt
: > "$summary"
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t
  artifacts=$build/artifacts/$t/
  mkdir -p "$corpus" "$artifacts"
  log=$build/$t.log
  set +e
  ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 \
    "$build/$t" -max_total_time="$secs" -rss_limit_mb=2560 -malloc_limit_mb=8192 -max_len=262144 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "$seeds/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  found=$(ls "$artifacts" 2>/dev/null | wc -l)
  echo "$t: exit $rc, $execs executions in ${secs}s, $cov, $found artifacts in $artifacts" | tee -a "$summary"
done
