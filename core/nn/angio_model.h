#pragma once
// The multi-view angiography model (angio_multiview, docs/angio.md): every real view of a
// study through one video encoder, the views' embeddings through a MIL aggregator, and one
// Linear -> 1 per (segment, head) with dropout before it. Output columns are segment-major:
// column s * 5 + h, heads in kAngioHeads order. The stenosis head predicts a fraction
// (x 100 = percent), the others logits.
//   encoder.*      the video encoder (torchvision names: encoder.stem.0.weight, encoder.conv_proj.weight, ...)
//   aggregator.*   the MIL aggregator (nn/mil.h)
//   heads.weight / heads.bias   (segments * 5, aggregator output): the 90 Linear -> 1 heads
//                               stacked in one matrix (row s * 5 + h), one GEMM instead of 90
// The masked loss: Huber on the stenosis fraction and BCE-with-logits on the binaries, each a
// mean over the labelled (non-NaN) entries only, weighted per head type.
// Torch-only header (lumen_ml).

#include "nn/mil.h"
#include "nn/video_encoder.h"

#include <torch/nn/modules/dropout.h>

#include <array>
#include <cstdint>
#include <string>

namespace lumen::nn {

/// Head order inside a segment's five columns; stenosis is the one regression head.
inline constexpr std::array<const char*, 5> kAngioHeads{"stenosis", "stenosis_binary", "calcif_binary", "cto",
                                                        "thrombus"};
inline constexpr std::int64_t kAngioHeadsPerSegment = 5;

struct AngioModelOptions {
    VideoEncoderOptions encoder;  ///< numClasses is forced to 0 (features only)
    MilOptions aggregator;        ///< dim is set from the encoder
    std::int64_t segments = 18;
    double headDropout = 0.2;
};

struct AngioOutput {
    torch::Tensor outputs;      ///< (B, segments * 5): stenosis fraction, logits for the binaries
    torch::Tensor viewWeights;  ///< (B, V), sums to 1 over the real views
    torch::Tensor embeddings;   ///< (B, V, D) the views' encoder embeddings (0 on padding)
};

class AngioMultiviewImpl : public torch::nn::Module {
public:
    explicit AngioMultiviewImpl(AngioModelOptions options);
    /// videos (B, V, C, T, H, W), mask (B, V) bool (>= 1 real view per study). Padded views are
    /// not encoded at all.
    AngioOutput forward(const torch::Tensor& videos, const torch::Tensor& mask);
    /// The rest of the model after the encoder: embeddings (B, V, D) -> outputs (Grad-CAM
    /// over a video feeds a view's feature map through encoder()->camHead, then this).
    AngioOutput forwardFromEmbeddings(const torch::Tensor& embeddings, const torch::Tensor& mask);
    std::shared_ptr<VideoEncoderImpl>& encoder() { return encoder_; }
    MilAggregator& aggregator() { return aggregator_; }
    const AngioModelOptions& options() const { return options_; }
    std::int64_t numOutputs() const { return options_.segments * kAngioHeadsPerSegment; }

private:
    AngioModelOptions options_;
    std::shared_ptr<VideoEncoderImpl> encoder_;
    MilAggregator aggregator_{nullptr};
    torch::nn::Dropout dropout_{nullptr};
    torch::nn::Linear heads_{nullptr};
};
TORCH_MODULE(AngioMultiview);

struct AngioLossOptions {
    double stenosisWeight = 2.0;  ///< loss.stenosis_weight: the Huber term's weight
    double binaryWeight = 1.0;    ///< loss.binary_weight: the BCE terms' weight
    double huberDelta = 0.1;      ///< loss.huber_delta, in fraction units (0.1 = 10 percentage points)
};

struct AngioLoss {
    torch::Tensor total;  ///< stenosisWeight * huber + binaryWeight * bce (0-d)
    torch::Tensor huber;  ///< mean over labelled stenosis entries (0 when none)
    torch::Tensor bce;    ///< mean over labelled binary entries (0 when none)
    std::int64_t labelledStenosis = 0, labelledBinary = 0;
};

/// outputs (B, segments * 5) as the model returns them; targets the same shape with stenosis
/// in percent, binaries 0/1 and NaN where not labelled (a missing label is never a zero).
AngioLoss angioLoss(const torch::Tensor& outputs, const torch::Tensor& targets, const AngioLossOptions& options);

/// Model outputs -> the predictions table's values: stenosis in percent (clamped to 0..100),
/// binaries as probabilities.
torch::Tensor angioPredictions(const torch::Tensor& outputs);

}  // namespace lumen::nn
