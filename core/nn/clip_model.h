#pragma once
// The clip_contrastive task's model (docs/contrastive.md): an image encoder (ConvNeXt trunk)
// and a BERT text encoder with projection heads into one L2-normalised embedding space, a
// learnable temperature (and SigLIP's scale and bias), a small transformer decoder that writes
// a report from the image's patch tokens (teacher forcing in training; greedy and beam
// decoding), and BERT's masked-language-modelling head. The top-level children —
// vision_encoder, text_encoder, heads, caption_decoder, mlm_head — are the modules whose
// gradient norms the trainer reports. Torch-only header (lumen_ml).

#include "nn/bert.h"
#include "nn/convnext.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/transformer.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lumen::nn {

struct ClipModelOptions {
    std::string visionVariant = "atto";  ///< ConvNeXt width (convNeXtSpec)
    int inChannels = 3;
    double dropPath = 0.0;
    std::int64_t imageTokens = 49;  ///< patch tokens of the last stage at the training size ((size / 32)^2)
    /// How patch tokens become the image embedding: "mean" (CLIP's global average, then
    /// LayerNorm and projection) or "spatial" (each token LayerNormed, all imageTokens of them
    /// flattened and projected: the embedding knows where a finding lies — reports state the
    /// side and zone — at the price of a fixed image size).
    std::string imagePooling = "mean";
    BertOptions text;  ///< vocabSize = the tokenizer's
    std::int64_t embedDim = 128;
    double temperature = 0.1;  ///< initial; learnable as log(temperature)
    bool captioning = true;
    bool maskedModeling = true;
    std::int64_t decoderLayers = 2, decoderHeads = 4, decoderWidth = 128, decoderFeedforward = 256;
    std::int64_t maxCaptionTokens = 48;  ///< positions of the decoder, start and end tokens included
    double dropout = 0.1;
};

/// Projections into the shared space and the loss parameters.
class ClipHeadsImpl : public torch::nn::Module {
public:
    ClipHeadsImpl(std::int64_t visionWidth, std::int64_t textWidth, std::int64_t embedDim, double temperature,
                  std::int64_t pooledWidth);
    torch::nn::LayerNorm imageNorm{nullptr};
    torch::nn::Linear imageProjection{nullptr}, textProjection{nullptr};
    torch::nn::Linear patchProjection{nullptr}, tokenProjection{nullptr};  ///< patch-level contrastive
    torch::Tensor logTemperature, siglipLogScale, siglipBias;
};
TORCH_MODULE(ClipHeads);

/// A transformer decoder over the image's patch tokens (memory) writing report tokens.
class CaptionDecoderImpl : public torch::nn::Module {
public:
    CaptionDecoderImpl(std::int64_t vocabSize, std::int64_t visionWidth, const ClipModelOptions& o);
    /// `memory` [B, P, visionWidth], `ids` [B, T] (the start token first), `padding` [B, T] bool
    /// (true = padding; undefined = none) -> logits [B, T, vocab] of the next token.
    torch::Tensor forward(const torch::Tensor& memory, const torch::Tensor& ids, const torch::Tensor& padding = {});
    std::int64_t maxTokens() const { return maxTokens_; }

private:
    std::int64_t maxTokens_;
    torch::nn::Embedding tokens_{nullptr}, positions_{nullptr};
    torch::nn::Linear memoryProjection_{nullptr}, output_{nullptr};
    torch::Tensor memoryPositions_;
    torch::nn::TransformerDecoder decoder_{nullptr};
    torch::nn::LayerNorm norm_{nullptr};
};
TORCH_MODULE(CaptionDecoder);

/// BERT's MLM head: dense -> GELU -> LayerNorm -> vocabulary logits.
class MlmHeadImpl : public torch::nn::Module {
public:
    MlmHeadImpl(const BertOptions& o);
    torch::Tensor forward(const torch::Tensor& hidden);

private:
    torch::nn::Linear dense_{nullptr}, decoder_{nullptr};
    torch::nn::LayerNorm norm_{nullptr};
};
TORCH_MODULE(MlmHead);

struct ImageFeatures {
    torch::Tensor embedding;  ///< [B, embedDim], L2-normalised
    torch::Tensor tokens;     ///< [B, P, visionWidth] patch tokens of the last stage
};
struct TextFeatures {
    torch::Tensor embedding;  ///< [B, embedDim], L2-normalised ([CLS] projected)
    torch::Tensor hidden;     ///< [B, L, hidden]
};

/// One decoded caption: its token ids (no start/end token) and the sum of their log-probabilities
/// (the end token's included when it was reached).
struct Caption {
    std::vector<std::int64_t> ids;
    double logProb = 0;
};

class ClipModelImpl : public torch::nn::Module {
public:
    explicit ClipModelImpl(const ClipModelOptions& o);
    ImageFeatures encodeImage(const torch::Tensor& images);
    /// `ids` [B, L], `attentionMask` [B, L] (1 = token).
    TextFeatures encodeText(const torch::Tensor& ids, const torch::Tensor& attentionMask);
    torch::Tensor temperature() const;  ///< exp(log T), CLIP's clamp
    /// Patch-level similarity (FILIP): for image i and text j, the mean over j's tokens of the
    /// best cosine with any of i's patches. [Bi, Bj].
    torch::Tensor patchSimilarity(const ImageFeatures& image, const TextFeatures& text,
                                  const torch::Tensor& attentionMask);
    /// Caption logits by teacher forcing (`ids` starts with the start token).
    torch::Tensor captionLogits(const ImageFeatures& image, const torch::Tensor& ids, const torch::Tensor& padding);
    torch::Tensor mlmLogits(const torch::Tensor& hidden);
    /// Greedy decoding of each image's caption (at most maxCaptionTokens - 1 tokens).
    std::vector<Caption> greedyCaptions(const ImageFeatures& image, std::int64_t startId, std::int64_t endId);
    /// Beam search with `beam` hypotheses per image; finished hypotheses are ranked by their
    /// log-probability divided by their length (end token counted). beam = 1 is greedy.
    std::vector<Caption> beamCaptions(const ImageFeatures& image, std::int64_t startId, std::int64_t endId,
                                      std::int64_t beam);

    const ClipModelOptions& options() const { return options_; }
    ConvNeXt& vision() { return vision_; }
    BertModel& text() { return text_; }
    ClipHeads& heads() { return heads_; }
    bool hasCaptioning() const { return !decoder_.is_empty(); }
    bool hasMaskedModeling() const { return !mlm_.is_empty(); }

private:
    ClipModelOptions options_;
    ConvNeXt vision_{nullptr};
    BertModel text_{nullptr};
    ClipHeads heads_{nullptr};
    CaptionDecoder decoder_{nullptr};
    MlmHead mlm_{nullptr};
};
TORCH_MODULE(ClipModel);

}  // namespace lumen::nn
