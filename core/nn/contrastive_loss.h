#pragma once
// Contrastive losses of the clip_contrastive task (docs/contrastive.md). Embeddings are rows;
// every loss L2-normalises them itself. Item i of `a` matches item i of `b` unless a positive
// mask says otherwise. Torch-only header (lumen_ml).

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <optional>
#include <utility>

namespace lumen::nn {

/// CLIP's temperature from a learnable log-temperature (initialised as log(temperature)):
/// exp(logT) with logT clamped to [log 0.01, 0] — CLIP's logit scale kept in [1, 100].
torch::Tensor temperatureFromLog(const torch::Tensor& logTemperature);

/// Cosine similarities of the rows of a and b: [Na, Nb].
torch::Tensor cosineSimilarity(const torch::Tensor& a, const torch::Tensor& b);

/// CLIP's symmetric InfoNCE: logits = cos(a, b) / T; the mean of cross-entropy over rows
/// (a -> b) and over columns (b -> a) with the diagonal as targets. Square batches.
torch::Tensor clipLoss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& temperature);

/// SigLIP's pairwise sigmoid loss: logits = cos(a, b) * exp(logScale) + bias, label +1 on the
/// diagonal and -1 elsewhere; -sum(log sigmoid(label * logit)) / N (the paper's normalisation).
/// logScale and bias are learnable (init log 10 and -10).
torch::Tensor sigLipLoss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& logScale,
                         const torch::Tensor& bias);

/// Multi-positive InfoNCE: `positive` [Na, Nb] (bool or 0/1) marks every b that matches an a
/// (several reports or prompts per image). Per row with a positive:
///   -log( sum_{j positive} exp(l_ij) / sum_j exp(l_ij) ),  l = cos(a, b) / T,
/// averaged over such rows; the same over columns; the mean of the two directions. With the
/// identity as mask it equals clipLoss.
torch::Tensor multiPositiveLoss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& positive,
                                const torch::Tensor& temperature);

/// multiPositiveLoss on given logits [Na, Nb] (e.g. patch-level similarities / T).
torch::Tensor multiPositiveFromLogits(const torch::Tensor& logits, const torch::Tensor& positive);

/// InfoNCE with the k hardest in-batch negatives of each query (highest similarity) weighted by
/// `weight` inside the softmax's denominator: -log( exp(l_ii) / sum_j w_ij exp(l_ij) ), w_ij =
/// weight for those k negatives, 1 otherwise; symmetric. k = 0 or weight = 1 is clipLoss.
torch::Tensor hardNegativeLoss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& temperature,
                               std::int64_t k, double weight);

/// Zero-shot classification as CT-CLIP does it: for each label a "present" and a "not present"
/// prompt embedding ([L, D] each); the probability of label l for item i is the softmax over
/// the pair of cos(image_i, prompt) / T, taken at "present". Returns [N, L].
torch::Tensor zeroShotProbabilities(const torch::Tensor& images, const torch::Tensor& presentPrompts,
                                    const torch::Tensor& absentPrompts, const torch::Tensor& temperature);

/// BERT's masked-language-modelling corruption of `ids` [B, L]: each position with
/// `maskable` true is chosen with probability `rate`; a chosen token becomes `maskId` (80 %),
/// a random id in [0, vocabSize) (10 %) or stays (10 %). Returns {corrupted ids, labels}: the
/// labels hold the original id at chosen positions and -100 (ignored by cross_entropy)
/// elsewhere. Draws from `generator` (default: the global one) so a seeded run repeats.
std::pair<torch::Tensor, torch::Tensor> maskTokens(const torch::Tensor& ids, const torch::Tensor& maskable,
                                                   std::int64_t maskId, std::int64_t vocabSize, double rate = 0.15,
                                                   c10::optional<at::Generator> generator = c10::nullopt);

}  // namespace lumen::nn
