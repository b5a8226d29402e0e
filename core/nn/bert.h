#pragma once
// A BERT text encoder whose parameters carry the names of the usual BERT state dict
// (docs/contrastive.md), so weights a user saved from PubMedBERT, CXR-BERT or any BertModel
// with torch.save load by name:
//   embeddings.{word_embeddings, position_embeddings, token_type_embeddings, LayerNorm}
//   encoder.layer.N.attention.self.{query, key, value}
//   encoder.layer.N.attention.output.{dense, LayerNorm}
//   encoder.layer.N.intermediate.dense, encoder.layer.N.output.{dense, LayerNorm}
//   pooler.dense
// Post-LayerNorm blocks, exact (erf) GELU, LayerNorm eps 1e-12, as BERT. Torch-only header.

#include "nn/tensor_file.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::nn {

struct BertOptions {
    std::int64_t vocabSize = 30522;
    std::int64_t hidden = 768;
    std::int64_t layers = 12;
    std::int64_t heads = 12;
    std::int64_t intermediate = 3072;
    std::int64_t maxPositions = 512;
    std::int64_t typeVocabSize = 2;
    double layerNormEps = 1e-12;
    double dropout = 0.1;           ///< hidden_dropout_prob
    double attentionDropout = 0.1;  ///< attention_probs_dropout_prob
    bool pooler = true;
};

struct BertOutput {
    torch::Tensor hidden;  ///< [B, L, hidden], the last layer
    torch::Tensor pooled;  ///< [B, hidden], tanh(dense(hidden[:, 0])); undefined without a pooler
};

class BertSelfAttentionImpl : public torch::nn::Module {
public:
    BertSelfAttentionImpl(const BertOptions& o);
    /// `additiveMask` [B, 1, 1, L]: 0 where attended, the dtype's lowest where masked.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additiveMask);

private:
    std::int64_t heads_;
    torch::nn::Linear query_{nullptr}, key_{nullptr}, value_{nullptr};
    torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(BertSelfAttention);

/// dense -> dropout -> LayerNorm(. + residual): BERT's attention.output and output blocks.
class BertResidualImpl : public torch::nn::Module {
public:
    BertResidualImpl(std::int64_t in, const BertOptions& o);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);

private:
    torch::nn::Linear dense_{nullptr};
    torch::nn::LayerNorm norm_{nullptr};
    torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(BertResidual);

class BertLayerImpl : public torch::nn::Module {
public:
    BertLayerImpl(const BertOptions& o);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additiveMask);

private:
    BertSelfAttention self_{nullptr};
    BertResidual attentionOutput_{nullptr}, output_{nullptr};
    torch::nn::Linear intermediate_{nullptr};
};
TORCH_MODULE(BertLayer);

class BertModelImpl : public torch::nn::Module {
public:
    explicit BertModelImpl(const BertOptions& o);
    /// `ids` [B, L] int64; `attentionMask` [B, L] (1 = token, 0 = padding; undefined = all
    /// tokens); `tokenTypes` [B, L] (undefined = all 0). Throws std::invalid_argument when L
    /// exceeds maxPositions or an id is outside the vocabulary.
    BertOutput forward(const torch::Tensor& ids, const torch::Tensor& attentionMask = {},
                       const torch::Tensor& tokenTypes = {});
    const BertOptions& options() const { return options_; }

private:
    BertOptions options_;
    torch::nn::Embedding words_{nullptr}, positions_{nullptr}, types_{nullptr};
    torch::nn::LayerNorm embeddingNorm_{nullptr};
    torch::nn::Dropout embeddingDropout_{nullptr};
    torch::nn::ModuleList layers_{nullptr};
    torch::nn::Linear pooler_{nullptr};
};
TORCH_MODULE(BertModel);

/// What loading BERT weights found: keys of the file that the model has no use for (a
/// pre-training head's cls.*, a position_ids buffer), listed, not fatal.
using BertLoadReport = PrefixedLoadReport;

/// Loads a torch.save() state dict (or a checkpoint dict nesting one, or a TorchScript
/// BertModel) into `model`. Keys may carry a prefix: `prefix` when given (e.g. a wrapper's
/// "text_encoder."), else the shortest prefix under which the file has
/// "embeddings.word_embeddings.weight" ("bert." of a pre-training checkpoint, "module.", a
/// wrapper's "state_dict.text_encoder." — nested dicts are flattened with ".").
/// Every parameter of the model must be in the file with its shape; otherwise throws
/// std::runtime_error naming the file and listing missing and mis-shaped keys.
BertLoadReport loadBertWeights(BertModel& model, const std::filesystem::path& path, const std::string& prefix = "");

}  // namespace lumen::nn
