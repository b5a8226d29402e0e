#pragma once
// Image batches for 2-D image tasks (docs/plugins.md, the task kit): the loader's float
// buffers as tensors, the evaluation-time resize/crop and the config's per-channel mean/std,
// shared by roi_consistency and clip_contrastive. Torch-only header (lumen_ml, plugins).

#include "config/config.h"
#include "data/augment.h"
#include "data/loader.h"

#include <torch/types.h>

#include <string>
#include <vector>

namespace lumen::train {

/// The batch's images as an N x C x H x W float tensor (a copy: the batch may be reused).
inline torch::Tensor imagesOf(data::Batch& b) {
    return torch::from_blob(b.images.data(), {b.n, b.c, b.h, b.w}, torch::kFloat).clone();
}

/// The batch's multi-label targets, N x K (N x 0 without labels).
inline torch::Tensor targetsOf(data::Batch& b) {
    if (b.numTargets == 0) return torch::zeros({b.n, 0});
    return torch::from_blob(b.targets.data(), {b.n, b.numTargets}, torch::kFloat).clone();
}

/// Resize to `size` and centre-crop a `size` square: what validation and inference see.
inline data::AugmentOptions evalAugment(int size) {
    data::AugmentOptions a;
    a.resize = size;
    a.crop = size;
    return a;
}

/// A FloatList config key as floats (data.mean, data.std).
inline std::vector<float> configFloats(const config::Config& c, const std::string& key) {
    std::vector<float> out;
    for (double v : c.get<std::vector<double>>(key)) out.push_back(static_cast<float>(v));
    return out;
}

}  // namespace lumen::train
