#include "nn/mil.h"

#include <torch/torch.h>

#include <limits>
#include <stdexcept>

namespace lumen::nn {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

bool knownMode(const std::string& m) {
    return m == "mean" || m == "max" || m == "attention" || m == "cls_token" || m == "attention_cls";
}

bool usesGated(const std::string& m) { return m == "attention" || m == "attention_cls"; }
bool usesCls(const std::string& m) { return m == "cls_token" || m == "attention_cls"; }

torch::Tensor renormalise(const torch::Tensor& w) { return w / w.sum(1, true).clamp_min(1e-12); }

}  // namespace

const char* milModesList() { return "mean, max, attention, cls_token, attention_cls"; }

MilAggregatorImpl::MilAggregatorImpl(MilOptions options) : options_(std::move(options)) {
    const auto& o = options_;
    if (!knownMode(o.mode))
        throw std::invalid_argument("model.aggregator: unknown aggregator \"" + o.mode +
                                    "\" (known: " + milModesList() + ")");
    if (o.dim < 1) throw std::invalid_argument("model.aggregator: embedding size must be >= 1");
    dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
    if (usesGated(o.mode)) {
        attentionV_ = register_module("attention_V", torch::nn::Linear(o.dim, o.attentionHidden));
        attentionU_ = register_module("attention_U", torch::nn::Linear(o.dim, o.attentionHidden));
        attentionW_ = register_module("attention_w", torch::nn::Linear(o.attentionHidden, 1));
    }
    if (usesCls(o.mode)) {
        if (o.heads < 1 || o.dim % o.heads != 0)
            throw std::invalid_argument("model.aggregator_heads: " + std::to_string(o.heads) +
                                        " does not divide the embedding size " + std::to_string(o.dim));
        clsToken_ = register_parameter("cls_token", torch::randn({1, 1, o.dim}) * 0.02);
        auto layer = register_module("cls_layer", std::make_shared<torch::nn::Module>("cls_layer"));
        const std::int64_t ff = o.feedforward > 0 ? o.feedforward : 2 * o.dim;
        selfAttn_ = layer->register_module(
            "self_attn",
            torch::nn::MultiheadAttention(torch::nn::MultiheadAttentionOptions(o.dim, o.heads).dropout(o.dropout)));
        linear1_ = layer->register_module("linear1", torch::nn::Linear(o.dim, ff));
        linear2_ = layer->register_module("linear2", torch::nn::Linear(ff, o.dim));
        norm1_ = layer->register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim})));
        norm2_ = layer->register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim})));
    }
}

MilOutput MilAggregatorImpl::gated(const torch::Tensor& x, const torch::Tensor& mask) {
    const auto pad = mask.logical_not().unsqueeze(-1);  // (B, V, 1)
    const auto xs = x.masked_fill(pad, 0.0);
    auto a = attentionW_->forward(torch::tanh(attentionV_->forward(xs)) *
                                  torch::sigmoid(attentionU_->forward(xs)));  // (B, V, 1)
    a = torch::softmax(a.masked_fill(pad, kNegInf), 1);
    const auto weights = a.squeeze(-1);
    return {(dropout_->forward(a) * xs).sum(1), weights};
}

MilOutput MilAggregatorImpl::cls(const torch::Tensor& x, const torch::Tensor& mask) {
    const auto b = x.size(0);
    // Sequence-first for LibTorch's MultiheadAttention: (1 + V, B, D); the token is never padding.
    auto seq = torch::cat({clsToken_.expand({b, 1, options_.dim}), x}, 1);
    const auto padding = torch::cat({torch::zeros({b, 1}, mask.options()), mask.logical_not()}, 1);
    auto s = seq.transpose(0, 1);
    auto [attn, attnWeights] = selfAttn_->forward(s, s, s, padding, /*need_weights=*/true);
    s = norm1_->forward(s + dropout_->forward(attn));
    s = norm2_->forward(s + dropout_->forward(linear2_->forward(dropout_->forward(torch::relu(linear1_->forward(s))))));
    // attnWeights (B, 1 + V, 1 + V), averaged over heads: the token's row, over the views.
    const auto weights = renormalise(attnWeights.select(1, 0).slice(1, 1));
    return {s.select(0, 0), weights};
}

MilOutput MilAggregatorImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
    if (x.dim() != 3 || x.size(2) != options_.dim)
        throw std::invalid_argument("MIL aggregator: expected (B, V, " + std::to_string(options_.dim) +
                                    ") view embeddings");
    if (mask.sizes() != x.sizes().slice(0, 2))
        throw std::invalid_argument("MIL aggregator: the mask must be (B, V) like the embeddings");
    const auto m = mask.to(torch::kBool);
    const auto& mode = options_.mode;
    if (mode == "mean") {
        const auto mf = m.to(x.dtype());
        const auto w = mf / mf.sum(1, true).clamp_min(1.0);
        return {(x * w.unsqueeze(-1)).sum(1), w};
    }
    if (mode == "max") {
        const auto filled = x.masked_fill(m.logical_not().unsqueeze(-1), kNegInf);
        auto [pooled, winner] = filled.max(1);  // (B, D) each
        auto w = torch::zeros(m.sizes(), x.options());
        w.scatter_add_(1, winner, torch::ones(winner.sizes(), x.options()));
        return {pooled, w / static_cast<double>(options_.dim)};
    }
    if (mode == "attention") return gated(x, m);
    if (mode == "cls_token") return cls(x, m);
    auto g = gated(x, m);
    auto c = cls(x, m);
    return {torch::cat({g.pooled, c.pooled}, 1), 0.5 * (g.weights + c.weights)};
}

}  // namespace lumen::nn
