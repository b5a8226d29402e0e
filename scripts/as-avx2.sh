#!/usr/bin/env bash
# Runs a command with LibTorch's CPU kernels held to AVX2 on an AVX-512 machine: oneDNN's
# (ONEDNN_MAX_CPU_ISA), ATen's (ATEN_CPU_CAPABILITY) and OpenBLAS's Haswell kernels (the ones a
# Zen 3 machine gets). On an AMD EPYC with avx512_bf16 this reproduced the Zen 3 (AVX2, no
# AVX-512) numbers of the angio and CT recipes to the digit (docs/building.md, "Another CPU
# kind's numbers on this machine"), so a learned-quality margin can be checked for AVX2 here.
# (The machines of this project set OPENBLAS_CORETYPE=Haswell in their environment already:
# docs/building.md, "BLAS kernels".)
#   scripts/as-avx2.sh env LUMEN_RECIPE_SEED=1 QTEST_FUNCTION_TIMEOUT=1800000 build/tests/test_angio_demo_recipe
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
export ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell
exec "$@"
