#include "nn/roi_consistency.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lumen::nn {

MaskNetImpl::MaskNetImpl(int inChannels) {
    auto net = register_module("net", std::make_shared<torch::nn::Module>());
    conv0_ = net->register_module("0", torch::nn::Conv2d(torch::nn::Conv2dOptions(inChannels, 16, 3).padding(1)));
    conv2_ = net->register_module("2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)));
    conv4_ = net->register_module("4", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 1, 1)));
    // PyTorch's default Conv2d initialisation, as the original (nothing re-initialised).
}

torch::Tensor MaskNetImpl::forward(const torch::Tensor& x) {
    torch::Tensor y = torch::relu(conv0_->forward(x));
    y = torch::relu(conv2_->forward(y));
    return torch::sigmoid(conv4_->forward(y));
}

std::int64_t topkCount(std::int64_t pixels, double keepRatio) {
    if (!(keepRatio > 0.0 && keepRatio <= 1.0))
        throw std::invalid_argument("keep_ratio must be in (0, 1], got " + std::to_string(keepRatio));
    const auto k = static_cast<std::int64_t>(std::floor(keepRatio * static_cast<double>(pixels)));
    return std::clamp<std::int64_t>(k, 1, pixels);
}

torch::Tensor topkMask(const torch::Tensor& soft, double keepRatio) {
    if (soft.dim() != 3 && !(soft.dim() == 4 && soft.size(1) == 1))
        throw std::invalid_argument("topkMask: expected a soft mask (N, 1, H, W) or (N, H, W)");
    torch::NoGradGuard noGrad;
    const std::int64_t n = soft.size(0);
    torch::Tensor flat = soft.detach().reshape({n, -1}).to(torch::kFloat);
    const std::int64_t k = topkCount(flat.size(1), keepRatio);
    // A stable descending sort keeps equal scores in index order: exactly k kept, ties to the
    // lower index (the original's `flat >= kth value` keeps every tie, so more than k in bf16).
    const torch::Tensor order = std::get<1>(torch::sort(flat, /*stable=*/true, /*dim=*/1, /*descending=*/true));
    torch::Tensor mask = torch::zeros_like(flat);
    mask.scatter_(1, order.narrow(1, 0, k), 1.0);
    return mask.view(soft.sizes());
}

RoiConsistencyModelImpl::RoiConsistencyModelImpl(ConvNeXtOptions options, double keepRatio) : keepRatio_(keepRatio) {
    topkCount(1, keepRatio);  // validates
    const int inChannels = options.inChannels;
    classifier_ = register_module("classifier", ConvNeXt(std::move(options)));
    maskNet_ = register_module("maskNet", MaskNet(inChannels));
}

RoiOutputs RoiConsistencyModelImpl::forward(const torch::Tensor& images) {
    RoiOutputs out;
    out.softMask = maskNet_->forward(images);
    out.hardMask = topkMask(out.softMask, keepRatio_);
    const torch::Tensor hard = out.hardMask.to(images.scalar_type());
    const torch::Tensor crop = images * hard;
    const torch::Tensor drop = images * (1.0 - hard);
    if (fused_) {
        const std::vector<torch::Tensor> logits = classifier_->forward(torch::cat({images, crop, drop}, 0)).chunk(3, 0);
        out.logitsFull = logits[0];
        out.logitsCrop = logits[1];
        out.logitsDrop = logits[2];
    } else {
        out.logitsFull = classifier_->forward(images);
        out.logitsCrop = classifier_->forward(crop);
        out.logitsDrop = classifier_->forward(drop);
    }
    return out;
}

RoiLoss roiConsistencyLoss(const RoiOutputs& outputs, const torch::Tensor& targets, const RoiLossWeights& weights) {
    if (!outputs.logitsFull.defined() || outputs.logitsFull.sizes() != targets.sizes())
        throw std::invalid_argument("roiConsistencyLoss: targets must have the logits' shape (N, classes)");
    const torch::Tensor logitsFull = outputs.logitsFull.to(torch::kFloat);
    const torch::Tensor probFull = torch::sigmoid(logitsFull);
    const torch::Tensor probCrop = torch::sigmoid(outputs.logitsCrop.to(torch::kFloat));
    const torch::Tensor probDrop = torch::sigmoid(outputs.logitsDrop.to(torch::kFloat));
    const torch::Tensor mask = outputs.softMask.to(torch::kFloat);
    const std::int64_t h = mask.size(-2), w = mask.size(-1);

    RoiLoss loss;
    auto& c = loss.components;
    c["full"] = torch::binary_cross_entropy_with_logits(logitsFull, targets.to(torch::kFloat));
    c["consist"] = (probFull - probCrop).abs().mean();
    c["drop"] = torch::relu(probDrop - probFull.detach()).mean();
    c["sparse"] = mask.mean();
    c["tv"] = (mask.narrow(-2, 1, h - 1) - mask.narrow(-2, 0, h - 1)).abs().mean() +
              (mask.narrow(-1, 1, w - 1) - mask.narrow(-1, 0, w - 1)).abs().mean();
    loss.total = weights.full * c["full"] + weights.consist * c["consist"] + weights.drop * c["drop"] +
                 weights.sparse * c["sparse"] + weights.tv * c["tv"];
    return loss;
}

}  // namespace lumen::nn
