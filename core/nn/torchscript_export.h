#pragma once
// TorchScript export of Lumen's models, for use outside Lumen (Python's torch.jit.load,
// LibTorch's torch::jit::load, anything that runs TorchScript). LibTorch cannot script a C++
// module, so the exporter builds the TorchScript module itself: the same module tree and
// parameter names (torchvision's, see docs/models.md) plus an inference forward written in
// TorchScript and compiled with Module::define. Torch-only header (lumen_ml).

#include "nn/convnext.h"
#include "nn/resnet3d.h"
#include "nn/roi_consistency.h"

#include <filesystem>

namespace lumen::nn {

/// forward(x) -> logits; forward_features(x) -> last stage map; forward_head(features) ->
/// logits (the split Grad-CAM uses, docs/explain.md); forward_until(x, i) / forward_from(f, i)
/// split at features.i (Grad-CAM's layers features.7/5/3/1). Inference only (no stochastic depth).
/// Throws std::runtime_error naming the file on failure.
void exportTorchScript(ConvNeXt& model, const std::filesystem::path& path);

/// forward(images) -> (logits_full, logits_crop, logits_drop, soft_mask, hard_mask), the
/// hard mask being topkMask(soft_mask, keepRatio); predict(images) -> logits_full;
/// forward_features / forward_head: the classifier split, for Grad-CAM (docs/explain.md).
void exportTorchScript(RoiConsistencyModel& model, const std::filesystem::path& path);

/// The ct_multilabel 3-D ResNet: forward(x) -> logits (N, classes) for x (N, C, D, H, W);
/// forward_features(x) -> the last stage's map; forward_head(features) -> logits (Grad-CAM's
/// split, docs/explain.md). BatchNorm uses its running statistics (inference only).
void exportTorchScript(ResNet3d& model, const std::filesystem::path& path);

}  // namespace lumen::nn
