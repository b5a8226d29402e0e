#include "nn/clip_model.h"

#include "nn/contrastive_loss.h"

#include <torch/nn/functional/normalization.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lumen::nn {

namespace F = torch::nn::functional;

namespace {

torch::Tensor unitRows(const torch::Tensor& x) { return F::normalize(x, F::NormalizeFuncOptions().dim(-1)); }

}  // namespace

ClipHeadsImpl::ClipHeadsImpl(std::int64_t visionWidth, std::int64_t textWidth, std::int64_t embedDim,
                             double temperature, std::int64_t pooledWidth) {
    if (!(temperature > 0)) throw std::invalid_argument("temperature must be positive");
    imageNorm = register_module("image_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({visionWidth})));
    imageProjection = register_module("image_projection", torch::nn::Linear(pooledWidth, embedDim));
    textProjection = register_module("text_projection", torch::nn::Linear(textWidth, embedDim));
    patchProjection = register_module("patch_projection", torch::nn::Linear(visionWidth, embedDim));
    tokenProjection = register_module("token_projection", torch::nn::Linear(textWidth, embedDim));
    logTemperature = register_parameter("log_temperature", torch::full({}, std::log(temperature)));
    siglipLogScale = register_parameter("siglip_log_scale", torch::full({}, std::log(10.0)));
    siglipBias = register_parameter("siglip_bias", torch::full({}, -10.0));
}

CaptionDecoderImpl::CaptionDecoderImpl(std::int64_t vocabSize, std::int64_t visionWidth, const ClipModelOptions& o)
    : maxTokens_(o.maxCaptionTokens) {
    if (o.decoderWidth % o.decoderHeads != 0)
        throw std::invalid_argument("caption decoder width " + std::to_string(o.decoderWidth) +
                                    " is not a multiple of its heads " + std::to_string(o.decoderHeads));
    tokens_ = register_module("token_embedding", torch::nn::Embedding(vocabSize, o.decoderWidth));
    positions_ = register_module("position_embedding", torch::nn::Embedding(o.maxCaptionTokens, o.decoderWidth));
    memoryProjection_ = register_module("memory_projection", torch::nn::Linear(visionWidth, o.decoderWidth));
    memoryPositions_ = register_parameter("memory_positions", torch::randn({o.imageTokens, o.decoderWidth}) * 0.02);
    const auto layer = torch::nn::TransformerDecoderLayerOptions(o.decoderWidth, o.decoderHeads)
                           .dim_feedforward(o.decoderFeedforward)
                           .dropout(o.dropout)
                           .activation(torch::kGELU);
    decoder_ = register_module(
        "decoder", torch::nn::TransformerDecoder(torch::nn::TransformerDecoderOptions(layer, o.decoderLayers)));
    norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.decoderWidth})));
    output_ = register_module("output", torch::nn::Linear(o.decoderWidth, vocabSize));
}

torch::Tensor CaptionDecoderImpl::forward(const torch::Tensor& memory, const torch::Tensor& ids,
                                          const torch::Tensor& padding) {
    const auto t = ids.size(1), p = memory.size(1);
    if (t > maxTokens_)
        throw std::invalid_argument("caption of " + std::to_string(t) + " tokens; the decoder has " +
                                    std::to_string(maxTokens_) + " positions");
    if (p > memoryPositions_.size(0))
        throw std::invalid_argument("the image gives " + std::to_string(p) + " patch tokens; the model was built for " +
                                    std::to_string(memoryPositions_.size(0)) + " (image_size)");
    const auto opts = torch::TensorOptions().dtype(torch::kLong).device(ids.device());
    auto x = tokens_(ids) + positions_(torch::arange(t, opts)).unsqueeze(0);
    auto mem = memoryProjection_(memory) + memoryPositions_.slice(0, 0, p).unsqueeze(0);
    const auto causal = torch::full({t, t}, -std::numeric_limits<float>::infinity(), x.options()).triu(1).to(x.dtype());
    auto y = decoder_->forward(x.transpose(0, 1), mem.transpose(0, 1), causal, {},
                               padding.defined() ? padding : torch::Tensor{});
    return output_(norm_(y.transpose(0, 1)));
}

MlmHeadImpl::MlmHeadImpl(const BertOptions& o) {
    dense_ = register_module("dense", torch::nn::Linear(o.hidden, o.hidden));
    norm_ =
        register_module("LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.hidden}).eps(o.layerNormEps)));
    decoder_ = register_module("decoder", torch::nn::Linear(o.hidden, o.vocabSize));
}

torch::Tensor MlmHeadImpl::forward(const torch::Tensor& hidden) { return decoder_(norm_(torch::gelu(dense_(hidden)))); }

ClipModelImpl::ClipModelImpl(const ClipModelOptions& o) : options_(o) {
    ConvNeXtOptions v;
    v.variant = o.visionVariant;
    v.numClasses = 1;  // the classifier head is not used: the trunk's last stage is
    v.inChannels = o.inChannels;
    v.dropPath = o.dropPath;
    vision_ = register_module("vision_encoder", ConvNeXt(v));
    text_ = register_module("text_encoder", BertModel(o.text));
    if (o.imagePooling != "mean" && o.imagePooling != "spatial")
        throw std::invalid_argument("image pooling \"" + o.imagePooling + "\": mean or spatial");
    const auto width = vision_->numFeatures();
    heads_ = register_module("heads", ClipHeads(width, o.text.hidden, o.embedDim, o.temperature,
                                                o.imagePooling == "spatial" ? width * o.imageTokens : width));
    if (o.captioning)
        decoder_ = register_module("caption_decoder", CaptionDecoder(o.text.vocabSize, vision_->numFeatures(), o));
    if (o.maskedModeling) mlm_ = register_module("mlm_head", MlmHead(o.text));
}

ImageFeatures ClipModelImpl::encodeImage(const torch::Tensor& images) {
    const auto f = vision_->forwardFeatures(images);  // [B, C, h, w]
    ImageFeatures out;
    out.tokens = f.flatten(2).transpose(1, 2);  // [B, P, C]
    if (options_.imagePooling == "spatial") {
        if (out.tokens.size(1) != options_.imageTokens)
            throw std::invalid_argument("the image gives " + std::to_string(out.tokens.size(1)) +
                                        " patch tokens; spatial pooling was built for " +
                                        std::to_string(options_.imageTokens) + " (image_size)");
        out.embedding = unitRows(heads_->imageProjection(heads_->imageNorm(out.tokens).flatten(1)));
    } else {
        out.embedding = unitRows(heads_->imageProjection(heads_->imageNorm(out.tokens.mean(1))));
    }
    return out;
}

TextFeatures ClipModelImpl::encodeText(const torch::Tensor& ids, const torch::Tensor& attentionMask) {
    TextFeatures out;
    out.hidden = text_->forward(ids, attentionMask).hidden;
    out.embedding = unitRows(heads_->textProjection(out.hidden.select(1, 0)));
    return out;
}

torch::Tensor ClipModelImpl::temperature() const { return temperatureFromLog(heads_->logTemperature); }

torch::Tensor ClipModelImpl::patchSimilarity(const ImageFeatures& image, const TextFeatures& text,
                                             const torch::Tensor& attentionMask) {
    const auto p = unitRows(heads_->patchProjection(image.tokens));                 // [Bi, P, D]
    const auto w = unitRows(heads_->tokenProjection(text.hidden));                  // [Bj, L, D]
    const auto best = std::get<0>(torch::einsum("ipd,jld->ijlp", {p, w}).max(-1));  // [Bi, Bj, L]
    const auto m = attentionMask.to(best.dtype()).unsqueeze(0);                     // [1, Bj, L]
    return (best * m).sum(-1) / m.sum(-1).clamp_min(1);
}

torch::Tensor ClipModelImpl::captionLogits(const ImageFeatures& image, const torch::Tensor& ids,
                                           const torch::Tensor& padding) {
    if (decoder_.is_empty()) throw std::logic_error("the model was built without a caption decoder");
    return decoder_->forward(image.tokens, ids, padding);
}

torch::Tensor ClipModelImpl::mlmLogits(const torch::Tensor& hidden) {
    if (mlm_.is_empty()) throw std::logic_error("the model was built without a masked-language-modelling head");
    return mlm_->forward(hidden);
}

std::vector<Caption> ClipModelImpl::greedyCaptions(const ImageFeatures& image, std::int64_t startId,
                                                   std::int64_t endId) {
    if (decoder_.is_empty()) throw std::logic_error("the model was built without a caption decoder");
    const auto b = image.tokens.size(0);
    std::vector<Caption> out(static_cast<std::size_t>(b));
    std::vector<bool> done(static_cast<std::size_t>(b), false);
    auto ids = torch::full({b, 1}, startId, torch::TensorOptions().dtype(torch::kLong).device(image.tokens.device()));
    for (std::int64_t step = 1; step < decoder_->maxTokens(); ++step) {
        const auto logp = torch::log_softmax(decoder_->forward(image.tokens, ids).select(1, -1).to(torch::kFloat), -1);
        const auto [best, arg] = logp.max(-1);
        const auto bestC = best.to(torch::kCPU, torch::kDouble).contiguous();
        const auto argC = arg.to(torch::kCPU).contiguous();
        bool all = true;
        for (std::int64_t i = 0; i < b; ++i) {
            auto& c = out[static_cast<std::size_t>(i)];
            if (done[static_cast<std::size_t>(i)]) continue;
            c.logProb += bestC[i].item<double>();
            const auto tok = argC[i].item<std::int64_t>();
            if (tok == endId) done[static_cast<std::size_t>(i)] = true;
            else c.ids.push_back(tok);
            all = all && done[static_cast<std::size_t>(i)];
        }
        if (all) break;
        ids = torch::cat({ids, arg.unsqueeze(1)}, 1);
    }
    return out;
}

namespace {

struct Hypothesis {
    std::vector<std::int64_t> ids;  ///< start token first
    double logProb = 0;
};

double normalised(const Caption& c, bool ended) {
    return c.logProb / static_cast<double>(std::max<std::size_t>(1, c.ids.size() + (ended ? 1 : 0)));
}

}  // namespace

std::vector<Caption> ClipModelImpl::beamCaptions(const ImageFeatures& image, std::int64_t startId, std::int64_t endId,
                                                 std::int64_t beam) {
    if (decoder_.is_empty()) throw std::logic_error("the model was built without a caption decoder");
    if (beam < 1) throw std::invalid_argument("beam width must be at least 1");
    std::vector<Caption> out;
    for (std::int64_t b = 0; b < image.tokens.size(0); ++b) {
        const auto memory = image.tokens.slice(0, b, b + 1);
        std::vector<Hypothesis> live{{{startId}, 0.0}};
        std::vector<std::pair<Caption, bool>> finished;  // caption, ended with the end token
        for (std::int64_t step = 1; step < decoder_->maxTokens() && !live.empty(); ++step) {
            std::vector<std::int64_t> flat;
            for (const auto& h : live) flat.insert(flat.end(), h.ids.begin(), h.ids.end());
            const auto n = static_cast<std::int64_t>(live.size());
            const auto ids = torch::tensor(flat, torch::kLong).view({n, step}).to(memory.device());
            const auto logp =
                torch::log_softmax(decoder_->forward(memory.expand({n, -1, -1}), ids).select(1, -1).to(torch::kFloat),
                                   -1)
                    .to(torch::kCPU, torch::kDouble);
            const auto k = std::min<std::int64_t>(beam, logp.size(1));
            const auto [top, arg] = logp.topk(k, -1);
            struct Cand {
                double score;
                std::size_t from;
                std::int64_t token;
            };
            std::vector<Cand> cands;
            for (std::int64_t h = 0; h < n; ++h)
                for (std::int64_t j = 0; j < k; ++j)
                    cands.push_back({live[static_cast<std::size_t>(h)].logProb + top[h][j].item<double>(),
                                     static_cast<std::size_t>(h), arg[h][j].item<std::int64_t>()});
            std::stable_sort(cands.begin(), cands.end(),
                             [](const Cand& a, const Cand& c) { return a.score > c.score; });
            std::vector<Hypothesis> next;
            for (std::size_t i = 0; i < cands.size() && static_cast<std::int64_t>(i) < beam; ++i) {
                const auto& c = cands[i];
                const auto& from = live[c.from];
                if (c.token == endId) {
                    finished.push_back({Caption{{from.ids.begin() + 1, from.ids.end()}, c.score}, true});
                } else {
                    next.push_back(from);
                    next.back().ids.push_back(c.token);
                    next.back().logProb = c.score;
                }
            }
            live = std::move(next);
            if (static_cast<std::int64_t>(finished.size()) >= beam) break;
        }
        for (const auto& h : live) finished.push_back({Caption{{h.ids.begin() + 1, h.ids.end()}, h.logProb}, false});
        const auto best = std::max_element(finished.begin(), finished.end(), [](const auto& a, const auto& c) {
            return normalised(a.first, a.second) < normalised(c.first, c.second);
        });
        out.push_back(best->first);
    }
    return out;
}

}  // namespace lumen::nn
