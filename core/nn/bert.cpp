#include "nn/bert.h"

#include "nn/tensor_file.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace lumen::nn {

namespace {

/// A parameter-less module that only names its children ("embeddings", "encoder", ...).
std::shared_ptr<torch::nn::Module> holder(torch::nn::Module& parent, const std::string& name) {
    return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

torch::nn::LayerNorm layerNorm(std::int64_t size, double eps) {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({size}).eps(eps));
}

}  // namespace

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertOptions& o) : heads_(o.heads) {
    if (o.hidden % o.heads != 0)
        throw std::invalid_argument("BERT: hidden size " + std::to_string(o.hidden) + " is not a multiple of " +
                                    std::to_string(o.heads) + " heads");
    query_ = register_module("query", torch::nn::Linear(o.hidden, o.hidden));
    key_ = register_module("key", torch::nn::Linear(o.hidden, o.hidden));
    value_ = register_module("value", torch::nn::Linear(o.hidden, o.hidden));
    dropout_ = register_module("dropout", torch::nn::Dropout(o.attentionDropout));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& additiveMask) {
    const auto b = x.size(0), l = x.size(1), h = x.size(2), d = h / heads_;
    auto split = [&](const torch::Tensor& t) { return t.view({b, l, heads_, d}).permute({0, 2, 1, 3}); };
    const torch::Tensor q = split(query_(x)), k = split(key_(x)), v = split(value_(x));
    torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(d));
    if (additiveMask.defined()) scores = scores + additiveMask;
    const torch::Tensor probabilities = dropout_(torch::softmax(scores, -1));
    return torch::matmul(probabilities, v).permute({0, 2, 1, 3}).reshape({b, l, h});
}

BertResidualImpl::BertResidualImpl(std::int64_t in, const BertOptions& o) {
    dense_ = register_module("dense", torch::nn::Linear(in, o.hidden));
    norm_ = register_module("LayerNorm", layerNorm(o.hidden, o.layerNormEps));
    dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
}

torch::Tensor BertResidualImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
    return norm_(dropout_(dense_(x)) + residual);
}

BertLayerImpl::BertLayerImpl(const BertOptions& o) {
    auto attention = holder(*this, "attention");
    self_ = attention->register_module("self", BertSelfAttention(o));
    attentionOutput_ = attention->register_module("output", BertResidual(o.hidden, o));
    intermediate_ =
        holder(*this, "intermediate")->register_module("dense", torch::nn::Linear(o.hidden, o.intermediate));
    output_ = register_module("output", BertResidual(o.intermediate, o));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& additiveMask) {
    const torch::Tensor attended = attentionOutput_(self_(x, additiveMask), x);
    return output_(torch::gelu(intermediate_(attended)), attended);
}

BertModelImpl::BertModelImpl(const BertOptions& o) : options_(o) {
    if (o.vocabSize < 1 || o.hidden < 1 || o.layers < 0 || o.heads < 1 || o.intermediate < 1 || o.maxPositions < 1)
        throw std::invalid_argument("BERT: sizes must be positive");
    auto embeddings = holder(*this, "embeddings");
    words_ = embeddings->register_module("word_embeddings", torch::nn::Embedding(o.vocabSize, o.hidden));
    positions_ = embeddings->register_module("position_embeddings", torch::nn::Embedding(o.maxPositions, o.hidden));
    types_ = embeddings->register_module("token_type_embeddings", torch::nn::Embedding(o.typeVocabSize, o.hidden));
    embeddingNorm_ = embeddings->register_module("LayerNorm", layerNorm(o.hidden, o.layerNormEps));
    embeddingDropout_ = embeddings->register_module("dropout", torch::nn::Dropout(o.dropout));
    layers_ = holder(*this, "encoder")->register_module("layer", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < o.layers; ++i) layers_->push_back(BertLayer(o));
    if (o.pooler) pooler_ = holder(*this, "pooler")->register_module("dense", torch::nn::Linear(o.hidden, o.hidden));
    // BERT's initialisation: normal(0, 0.02) weights, zero biases, LayerNorm 1/0.
    torch::NoGradGuard noGrad;
    for (auto& p : named_parameters()) {
        const std::string& name = p.key();
        if (name.find("LayerNorm") != std::string::npos) {
            p.value().fill_(name.size() > 6 && name.compare(name.size() - 6, 6, "weight") == 0 ? 1.0 : 0.0);
        } else if (name.size() > 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
            p.value().zero_();
        } else {
            p.value().normal_(0.0, 0.02);
        }
    }
}

BertOutput BertModelImpl::forward(const torch::Tensor& ids, const torch::Tensor& attentionMask,
                                  const torch::Tensor& tokenTypes) {
    if (ids.dim() != 2) throw std::invalid_argument("BERT: ids must be [batch, length]");
    const auto b = ids.size(0), l = ids.size(1);
    if (l > options_.maxPositions)
        throw std::invalid_argument("BERT: " + std::to_string(l) + " tokens, more than the " +
                                    std::to_string(options_.maxPositions) + " positions of the model");
    if (ids.numel() && (ids.min().item<std::int64_t>() < 0 || ids.max().item<std::int64_t>() >= options_.vocabSize))
        throw std::invalid_argument("BERT: a token id is outside the vocabulary of " +
                                    std::to_string(options_.vocabSize));
    const torch::Tensor positions = torch::arange(l, ids.options()).unsqueeze(0).expand({b, l});
    const torch::Tensor types = tokenTypes.defined() ? tokenTypes : torch::zeros_like(ids);
    torch::Tensor x = embeddingDropout_(embeddingNorm_(words_(ids) + types_(types) + positions_(positions)));
    torch::Tensor additive;
    if (attentionMask.defined()) {
        const auto lowest = std::numeric_limits<float>::lowest();
        additive = (1.0 - attentionMask.to(x.dtype()).view({b, 1, 1, l})) * lowest;
    }
    for (const auto& layer : *layers_) x = layer->as<BertLayer>()->forward(x, additive);
    BertOutput out;
    out.hidden = x;
    if (pooler_) out.pooled = torch::tanh(pooler_(x.select(1, 0)));
    return out;
}

BertLoadReport loadBertWeights(BertModel& model, const std::filesystem::path& path, const std::string& prefix) {
    return loadPrefixedStateDict(*model, path, prefix, "embeddings.word_embeddings.weight", "BERT weights");
}

}  // namespace lumen::nn
