#pragma once
// LayerNorm over the last dimension for bfloat16 activations with float32 weights, computed
// in float32 and rounded to bfloat16 once at the end: bf16(LayerNorm_fp32(float(x))), i.e.
// exactly what "cast in, LayerNorm in fp32, let the next Linear cast back" gives, without
// materialising the two float32 copies (under bf16 autocast those casts were ~20 % of a
// ConvNeXt training step on CPU). Gradients: input in bf16, weight/bias in float32.
// Torch-only header (lumen_ml).

#include <torch/types.h>

namespace lumen::nn {

torch::Tensor layerNormBf16(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias,
                            double eps);

}  // namespace lumen::nn
