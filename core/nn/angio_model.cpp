#include "nn/angio_model.h"

#include <torch/torch.h>

#include <stdexcept>

namespace lumen::nn {

namespace {

/// (B, segments * 5) -> a bool mask of the stenosis (regression) columns.
torch::Tensor stenosisColumns(const torch::Tensor& like) {
    auto cols = torch::arange(like.size(1), torch::TensorOptions().dtype(torch::kLong).device(like.device()));
    return (cols.remainder(kAngioHeadsPerSegment) == 0).unsqueeze(0).expand(like.sizes());
}

}  // namespace

AngioMultiviewImpl::AngioMultiviewImpl(AngioModelOptions options) : options_(std::move(options)) {
    if (options_.segments < 1) throw std::invalid_argument("model.segments must be >= 1");
    options_.encoder.numClasses = 0;
    encoder_ = register_module("encoder", makeVideoEncoder(options_.encoder));
    options_.aggregator.dim = encoder_->featureDim();
    aggregator_ = register_module("aggregator", MilAggregator(options_.aggregator));
    dropout_ = register_module("dropout", torch::nn::Dropout(options_.headDropout));
    heads_ = register_module("heads", torch::nn::Linear(aggregator_->outputDim(), numOutputs()));
}

AngioOutput AngioMultiviewImpl::forward(const torch::Tensor& videos, const torch::Tensor& mask) {
    if (videos.dim() != 6) throw std::invalid_argument("angio model: expected videos (B, V, C, T, H, W)");
    const auto b = videos.size(0), v = videos.size(1);
    const auto m = mask.to(torch::kBool);
    const auto flat = videos.flatten(0, 1);                               // (B V, C, T, H, W)
    const auto real = m.flatten().nonzero().squeeze(1);                   // indices of the real views
    const auto features = encoder_->forward(flat.index_select(0, real));  // (R, D)
    auto embeddings = torch::zeros({b * v, features.size(1)}, features.options()).index_copy(0, real, features);
    return forwardFromEmbeddings(embeddings.view({b, v, -1}), m);
}

AngioOutput AngioMultiviewImpl::forwardFromEmbeddings(const torch::Tensor& embeddings, const torch::Tensor& mask) {
    auto agg = aggregator_->forward(embeddings, mask);
    return {heads_->forward(dropout_->forward(agg.pooled)), agg.weights, embeddings};
}

AngioLoss angioLoss(const torch::Tensor& outputs, const torch::Tensor& targets, const AngioLossOptions& o) {
    if (outputs.sizes() != targets.sizes() || outputs.dim() != 2 || outputs.size(1) % kAngioHeadsPerSegment != 0)
        throw std::invalid_argument("angio loss: outputs and targets must both be (B, segments * 5)");
    const auto labelled = targets.isnan().logical_not();
    const auto stenosis = stenosisColumns(outputs);
    const auto regMask = labelled & stenosis, binMask = labelled & stenosis.logical_not();
    AngioLoss l;
    l.labelledStenosis = regMask.sum().item<std::int64_t>();
    l.labelledBinary = binMask.sum().item<std::int64_t>();
    const auto safeTargets = torch::where(labelled, targets, torch::zeros_like(targets));
    const auto zero = outputs.sum() * 0.0;  // keeps the graph (and the dtype) when nothing is labelled
    if (l.labelledStenosis > 0) {
        auto h = torch::nn::functional::huber_loss(
            outputs, safeTargets / 100.0,
            torch::nn::functional::HuberLossFuncOptions().reduction(torch::kNone).delta(o.huberDelta));
        l.huber = h.masked_select(regMask).mean();
    } else {
        l.huber = zero;
    }
    if (l.labelledBinary > 0) {
        auto e = torch::nn::functional::binary_cross_entropy_with_logits(
            outputs, safeTargets,
            torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
        l.bce = e.masked_select(binMask).mean();
    } else {
        l.bce = zero;
    }
    l.total = o.stenosisWeight * l.huber + o.binaryWeight * l.bce;
    return l;
}

torch::Tensor angioPredictions(const torch::Tensor& outputs) {
    const auto stenosis = stenosisColumns(outputs);
    return torch::where(stenosis, (outputs * 100.0).clamp(0.0, 100.0), torch::sigmoid(outputs));
}

}  // namespace lumen::nn
