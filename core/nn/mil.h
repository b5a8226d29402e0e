#pragma once
// Multiple-instance aggregators: one study's view embeddings (B, V, D) with a mask of the real
// views (B, V) -> one study embedding and a weight per view that sums to 1 over the real views
// (what the Study page shows as "which view drove it"). docs/angio.md has the formulas.
//   mean            masked mean; weights 1/#views
//   max             masked max per feature; a view's weight = the share of features it won
//   attention       gated attention (Ilse et al. 2018): a = w^T (tanh(V x) * sigmoid(U x)),
//                   softmax over the real views; weights = the softmax
//   cls_token       a learnable token prepended to the views, one post-norm transformer
//                   encoder layer (PyTorch's TransformerEncoderLayer layout, ReLU) with the
//                   padding masked, the token's output is the study; weights = the token's
//                   attention over the views (mean over heads), renormalised over the views
//   attention_cls   both, concatenated (2 D); weights = the mean of the two
// Module names: attention_V, attention_U, attention_w, cls_token, cls_layer.{self_attn,
// linear1, linear2, norm1, norm2}. Torch-only header (lumen_ml).

#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>

namespace lumen::nn {

struct MilOptions {
    std::string mode = "attention_cls";  ///< mean, max, attention, cls_token, attention_cls
    std::int64_t dim = 512;              ///< D, the view embedding size
    std::int64_t attentionHidden = 256;  ///< gated attention's hidden size
    std::int64_t heads = 8;              ///< cls_token layer's attention heads (must divide D)
    std::int64_t feedforward = 0;        ///< cls_token layer's feed-forward width; 0 = 2 D
    double dropout = 0.0;                ///< inside the attention blocks (training only)
};

struct MilOutput {
    torch::Tensor pooled;   ///< (B, outputDim())
    torch::Tensor weights;  ///< (B, V), 0 on padded views, sums to 1 over the real ones
};

/// The names MilOptions::mode accepts, for error messages and the GUI.
const char* milModesList();

class MilAggregatorImpl : public torch::nn::Module {
public:
    explicit MilAggregatorImpl(MilOptions options);
    /// x (B, V, D), mask (B, V) bool with at least one real view per study.
    MilOutput forward(const torch::Tensor& x, const torch::Tensor& mask);
    std::int64_t outputDim() const { return options_.mode == "attention_cls" ? 2 * options_.dim : options_.dim; }
    const MilOptions& options() const { return options_; }

private:
    MilOutput gated(const torch::Tensor& x, const torch::Tensor& mask);
    MilOutput cls(const torch::Tensor& x, const torch::Tensor& mask);
    MilOptions options_;
    torch::nn::Linear attentionV_{nullptr}, attentionU_{nullptr}, attentionW_{nullptr};
    torch::Tensor clsToken_;
    torch::nn::MultiheadAttention selfAttn_{nullptr};
    torch::nn::Linear linear1_{nullptr}, linear2_{nullptr};
    torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
    torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(MilAggregator);

}  // namespace lumen::nn
