#pragma once
// Multi-label classification losses on logits (ct_multilabel, docs/models.md): binary cross
// entropy and the sigmoid focal loss of Lin et al. (2017), both with optional positive-class
// weights. Computed in float32, mean over all elements. Torch-only header (lumen_ml).

#include <torch/types.h>

#include <string>
#include <vector>

namespace lumen::nn {

struct MultiLabelLossOptions {
    std::string type = "focal";     ///< "focal" or "bce"
    double alpha = 0.25;            ///< focal: weight of positives (negatives 1 - alpha); < 0 disables
    double gamma = 2.0;             ///< focal: focusing exponent
    std::vector<double> posWeight;  ///< per label multiplier of the positive term; empty = 1
};

/// torchvision.ops.sigmoid_focal_loss(logits, targets, alpha, gamma, reduction="mean"), each
/// element's loss multiplied by posWeight[k] where the target is 1 (when given).
torch::Tensor sigmoidFocalLoss(const torch::Tensor& logits, const torch::Tensor& targets, double alpha, double gamma,
                               const torch::Tensor& posWeight = {});

/// BCEWithLogitsLoss(pos_weight=posWeight) (mean).
torch::Tensor bceWithLogitsLoss(const torch::Tensor& logits, const torch::Tensor& targets,
                                const torch::Tensor& posWeight = {});

/// Dispatch on options.type; throws std::invalid_argument for another type or a posWeight
/// whose length is not the label count.
torch::Tensor multiLabelLoss(const torch::Tensor& logits, const torch::Tensor& targets,
                             const MultiLabelLossOptions& options);

}  // namespace lumen::nn
