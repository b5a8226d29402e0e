#pragma once
// The image-task half of the task kit (docs/plugins.md): where a 2-D image task's rows come
// from and how they are split, shared by roi_consistency and clip_contrastive so neither
// copies the other. Torch-free. The config keys read are the ones imageManifestKeys() adds:
// data.manifest, data.nih_dir, data.train_split, data.val_split, data.val_fraction,
// data.infer_split, data.max_images, data.max_val_images, and `labels`.

#include "config/config.h"
#include "config/schema.h"
#include "data/manifest.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::plugin {

/// Adds the data keys above (help texts name NIH ChestX-ray14 as the folder layout).
void addImageManifestKeys(config::Schema& s);

/// The 14 findings of NIH ChestX-ray14 (the demo plants them), in the dataset's order.
const std::vector<std::string>& nihFindings();

/// The ConvNeXt image encoder's keys: model.variant (atto, tiny or base; default
/// `defaultVariant`), model.pretrained (a torchvision state dict or TorchScript file) and
/// model.drop_path.
void addConvNextKeys(config::Schema& s, const std::string& defaultVariant);

/// data.mean, data.std (ImageNet's), augment.hflip and augment.rotate_degrees.
void addImagePreprocessingKeys(config::Schema& s);

/// The manifest named by data.manifest, or the NIH import of data.nih_dir (imported once into
/// <workspace>/manifests/nih and reused). The config's `labels` become its vocabulary; a label
/// the manifest does not know is a ConfigError naming it and the manifest's labels (inference on
/// an unlabelled manifest needs none).
data::Manifest imageManifest(const config::Config& c, const std::filesystem::path& workspace, jobs::JobContext& job,
                             bool forInference);

struct TrainVal {
    data::Manifest train, val;
};

/// The training and validation rows of `all`: data.train_split and data.val_split, or, without
/// validation rows, data.val_fraction of the training patients held out (seeded, said on
/// `job`); both cut to data.max_images / data.max_val_images. No training rows is an error
/// naming the file and the split.
TrainVal trainValManifests(const config::Config& c, const data::Manifest& all, std::uint64_t seed,
                           jobs::JobContext& job);

/// The rows inference runs on: data.infer_split (all rows when it has none), cut to
/// data.max_val_images.
data::Manifest inferenceManifest(const config::Config& c, const data::Manifest& all);

/// Keeps the first `max` rows (0 = all).
void limitRows(data::Manifest& m, std::int64_t max);

}  // namespace lumen::plugin
