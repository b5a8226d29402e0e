#pragma once
// The starting config of the torchscript task for a probed model: what `lumen-cli torchscript
// init` writes and the run launcher's "From TorchScript model…" loads (docs/byo-model.md).

#include "explain/cam_job.h"

#include <string>

namespace lumen::infer {

/// "1x3x224x224".
std::string shapeText(const std::vector<std::int64_t>& shape);

/// YAML (with a comment header) for `model` as written into infer.checkpoint: input kind, size and
/// channels from the probe's input (4-D → image, 5-D → volume), ImageNet mean/std for 3-channel
/// images, one name `output_k` per output the probe gave, `data` as data.folder when it is a
/// folder, else as data.manifest. It validates against the task's schema.
std::string torchscriptConfigYaml(const std::string& model, const explain::LayerListing& probe,
                                  const std::string& data);

}  // namespace lumen::infer
