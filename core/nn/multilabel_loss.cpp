#include "nn/multilabel_loss.h"

#include <torch/torch.h>

#include <stdexcept>

namespace lumen::nn {

namespace {

/// Element weights posWeight[k] * t + (1 - t), broadcast over the batch.
torch::Tensor positiveWeights(const torch::Tensor& t, const torch::Tensor& posWeight) {
    return t * posWeight.to(t.dtype()).view({1, -1}) + (1 - t);
}

}  // namespace

torch::Tensor sigmoidFocalLoss(const torch::Tensor& logitsIn, const torch::Tensor& targetsIn, double alpha,
                               double gamma, const torch::Tensor& posWeight) {
    const auto x = logitsIn.to(torch::kFloat), t = targetsIn.to(torch::kFloat);
    const auto p = torch::sigmoid(x);
    const auto ce = torch::binary_cross_entropy_with_logits(x, t, {}, {}, at::Reduction::None);
    const auto pt = p * t + (1 - p) * (1 - t);
    auto loss = ce * (1 - pt).pow(gamma);
    if (alpha >= 0) loss = loss * (alpha * t + (1 - alpha) * (1 - t));
    if (posWeight.defined()) loss = loss * positiveWeights(t, posWeight);
    return loss.mean();
}

torch::Tensor bceWithLogitsLoss(const torch::Tensor& logits, const torch::Tensor& targets,
                                const torch::Tensor& posWeight) {
    const auto x = logits.to(torch::kFloat), t = targets.to(torch::kFloat);
    return torch::binary_cross_entropy_with_logits(
        x, t, {}, posWeight.defined() ? posWeight.to(torch::kFloat) : posWeight, at::Reduction::Mean);
}

torch::Tensor multiLabelLoss(const torch::Tensor& logits, const torch::Tensor& targets,
                             const MultiLabelLossOptions& o) {
    torch::Tensor w;
    if (!o.posWeight.empty()) {
        if (static_cast<std::int64_t>(o.posWeight.size()) != logits.size(-1))
            throw std::invalid_argument("loss.pos_weight: " + std::to_string(o.posWeight.size()) + " values for " +
                                        std::to_string(logits.size(-1)) + " labels");
        w = torch::tensor(o.posWeight, torch::kDouble).to(torch::kFloat);
    }
    if (o.type == "focal") return sigmoidFocalLoss(logits, targets, o.alpha, o.gamma, w);
    if (o.type == "bce") return bceWithLogitsLoss(logits, targets, w);
    throw std::invalid_argument("loss.type: unknown loss \"" + o.type + "\" (known: focal, bce)");
}

}  // namespace lumen::nn
