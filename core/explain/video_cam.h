#pragma once
// Grad-CAM over the videos of one angiography study (docs/angio.md § Video Grad-CAM): every
// real view's last-stage map F_v (C, t, h, w) of the video encoder, one study output (a segment
// head) as the score, its gradient with respect to each view's map, and the CAM per view over
// frames x space. A study's output depends on all its views (through the MIL aggregator), so
// the CAMs of its views share one scale: the hottest view is the one that drove the output.
// Torch-only header (lumen_ml).

#include "explain/grad_cam.h"
#include "nn/angio_model.h"

#include <cstdint>
#include <vector>

namespace lumen::explain {

struct StudyVideoCams {
    torch::Tensor outputs;            ///< (1, K) the model's outputs of this pass (eval mode)
    std::vector<std::int64_t> views;  ///< the slots of the real views, in the CAMs' order
    std::vector<torch::Tensor> cams;  ///< per requested column: (R, t, h, w) raw CAM (after ReLU), float32
};

/// videos (1, V, C, T, H, W) and mask (1, V) as the model takes them; `columns` index the
/// model's outputs (segment * 5 + head). The model should be in eval mode (dropout off).
/// Throws std::invalid_argument for a batch of more than one study or a column out of range.
StudyVideoCams studyVideoCams(nn::AngioMultiview& model, const torch::Tensor& videos, const torch::Tensor& mask,
                              const std::vector<std::int64_t>& columns, CamMethod method);

}  // namespace lumen::explain
