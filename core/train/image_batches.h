#pragma once
// Image batches for 2-D image tasks (docs/plugins.md, the task kit): the loader's float
// buffers as tensors, the evaluation-time resize/crop and the config's per-channel mean/std,
// shared by roi_consistency and clip_contrastive. Torch-only header (lumen_ml, plugins).

#include "config/config.h"
#include "data/augment.h"
#include "data/loader.h"
#include "train/trainer.h"

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
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

/// The validation loader of a training run: `training`'s options in dataset order on one rank,
/// every sample kept (no shuffling, no dropped last batch); null when `valSet` is empty.
inline std::unique_ptr<data::BatchLoader> validationLoader(std::shared_ptr<data::Dataset> valSet,
                                                           data::LoaderOptions training) {
    if (!valSet || valSet->size() == 0) return nullptr;
    training.shuffle = false;
    training.rank = 0;
    training.worldSize = 1;
    training.dropLast = false;
    return std::make_unique<data::BatchLoader>(std::move(valSet), training);
}

/// Starts `epoch` of a training loader at batch `firstBatch`. The loader has no seek: a
/// mid-epoch resume reads and drops the batches already trained (their order and augmentation
/// depend only on seed, epoch and index).
inline void startLoaderEpoch(data::BatchLoader& loader, std::int64_t epoch, std::int64_t firstBatch) {
    loader.startEpoch(epoch);
    for (std::int64_t i = 0; i < firstBatch; ++i)
        if (!loader.next()) break;
}

/// The loader's next batch as the trainer's images, targets and ids; nullopt at the epoch's end.
inline std::optional<TensorBatch> nextTensorBatch(data::BatchLoader& loader) {
    auto b = loader.next();
    if (!b) return std::nullopt;
    return TensorBatch{imagesOf(*b), targetsOf(*b), b->ids};
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
