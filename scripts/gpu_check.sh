#!/usr/bin/env bash
# The GPU checks of docs/distributed.md in one go, for a machine with an NVIDIA GPU and a CUDA
# PyTorch (its libtorch is what Lumen builds against there; docs/building.md "Another LibTorch").
#   scripts/gpu_check.sh [BUILD_DIR]        (default build-cuda; results also in $OUT/ when set)
# 1. builds core, the plugins, lumen-cli and bench/roi_step_bench against that LibTorch;
# 2. `lumen-cli env` must list the CUDA devices;
# 3. the ROI demo trains 20 steps on cuda in fp32, bf16 and fp16 (finite losses, gpu_memory_mb
#    recorded, fp16's grad_scale), and its checkpoint infers on cuda and on cpu: the largest
#    probability difference is printed;
# 4. the ROI training step, Lumen vs Python eager on the same GPU (bench/run_roi_step_bench.py).
# Needs the build dependencies of scripts/install-deps.sh except libtorch-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-cuda}
PY=${PYTHON:-python3}
OUTDIR=${OUT:-$BUILD/gpu-check}
mkdir -p "$OUTDIR"
TORCH_DIR=$($PY -c "import torch, os; print(os.path.dirname(torch.__file__))")
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible to PyTorch'; print('PyTorch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"
ABI=$($PY -c "import torch; print(int(torch.compiled_with_cxx11_abi()))")
[ "$ABI" = 1 ] || echo "warning: this PyTorch uses the pre-C++11 ABI; linking with Debian's libraries may fail (docs/building.md)"

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLUMEN_TORCH_DIR="$TORCH_DIR" | tee "$OUTDIR/configure.log" | grep "Lumen deps"
cmake --build "$BUILD" -j "$(nproc)" --target lumen-cli lumen_roi_consistency lumen_ct_multilabel lumen_torchscript roi_step_bench
CLI="$BUILD/bin/lumen-cli"

"$CLI" env | tee "$OUTDIR/env.txt" | grep -i -A3 cuda
grep -q '"cuda_available": *true' "$OUTDIR/env.txt" || grep -qi "cuda_available.*true" "$OUTDIR/env.txt"

WS=$(mktemp -d)/ws
"$CLI" demo --out "$WS" >/dev/null
table="$OUTDIR/gpu_check.md"
echo "| check | result |" > "$table"
echo "|---|---|" >> "$table"
for precision in fp32 bf16 fp16; do
  cfg="$OUTDIR/roi_$precision.yaml"
  sed -e "s/^precision: .*/precision: $precision/" -e "s/^epochs: .*/epochs: 1/" -e "s/^image_size: .*/image_size: 224/" \
      -e "s/^  val_fraction: .*/  val_fraction: 0.2\n  max_images: 320\n  max_val_images: 32/" \
      resources/configs/roi_consistency_demo.yaml > "$cfg"
  printf 'device: cuda\n' >> "$cfg"
  line=$("$CLI" train --config "$cfg" --workspace "$WS" | tail -1)
  run=$(echo "$line" | sed -E 's/^run ([0-9]+):.*/\1/')
  mem=$($PY -c "import sqlite3,sys; db=sqlite3.connect('$WS/lumen.db'); print(max(v for (v,) in db.execute(\"select value from metrics where run_id=? and key='gpu_memory_mb'\", ($run,))))")
  loss=$($PY -c "import sqlite3; db=sqlite3.connect('$WS/lumen.db'); v=[x for (x,) in db.execute(\"select value from metrics where run_id=? and key='loss' order by step\", ($run,))]; import math; assert all(math.isfinite(x) for x in v); print(f'{v[0]:.4f} -> {v[-1]:.4f} over {len(v)} steps')")
  echo "| ROI demo on cuda, $precision | run $run: loss $loss, peak gpu_memory_mb $mem |" >> "$table"
done
ckpt=$(ls "$WS"/runs/1_roi_consistency/checkpoints/last.pt)
for dev in cuda cpu; do
  sed "s/^device: cuda/device: $dev/" "$OUTDIR/roi_fp32.yaml" > "$OUTDIR/infer_$dev.yaml"
  "$CLI" infer --config "$OUTDIR/infer_$dev.yaml" --workspace "$WS" --checkpoint "$ckpt" --out "$OUTDIR/preds_$dev" >/dev/null
done
diff=$($PY -c "
import pandas as pd
a=pd.read_csv('$OUTDIR/preds_cuda/preds.csv').set_index('image'); b=pd.read_csv('$OUTDIR/preds_cpu/preds.csv').set_index('image')
print(f'{(a-b.loc[a.index]).abs().max().max():.2e}')")
echo "| ROI inference cuda vs cpu, same checkpoint | max probability difference $diff |" >> "$table"
$PY bench/run_roi_step_bench.py --build "$BUILD" --device cuda --variant tiny --batch 32 --size 224 \
    --precisions fp32,bf16 --lumen-allocators default --lumen-layouts fused-cl --python-layouts separate-cl \
    --steps 20 --warmup 5 | tee "$OUTDIR/roi_step_cuda.md"
cat "$table"
