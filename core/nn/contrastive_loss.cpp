#include "nn/contrastive_loss.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace lumen::nn {

namespace {

void requirePairs(const torch::Tensor& a, const torch::Tensor& b, bool square) {
    if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1))
        throw std::invalid_argument("contrastive loss: embeddings must be [N, D] with the same D");
    if (square && a.size(0) != b.size(0))
        throw std::invalid_argument("contrastive loss: " + std::to_string(a.size(0)) + " and " +
                                    std::to_string(b.size(0)) + " items do not pair up");
}

/// Mean over rows having a positive of -(logsumexp over positives - logsumexp over all).
torch::Tensor rowLoss(const torch::Tensor& logits, const torch::Tensor& positive) {
    const torch::Tensor lowest = torch::full({}, -std::numeric_limits<double>::infinity(), logits.options());
    const torch::Tensor positives = torch::where(positive, logits, lowest).logsumexp(1);
    const torch::Tensor has = positive.any(1);
    if (!has.any().item<bool>()) throw std::invalid_argument("contrastive loss: no item has a positive");
    return -(positives - logits.logsumexp(1)).masked_select(has).mean();
}

}  // namespace

torch::Tensor temperatureFromLog(const torch::Tensor& logTemperature) {
    return logTemperature.clamp(std::log(0.01), 0.0).exp();
}

torch::Tensor cosineSimilarity(const torch::Tensor& a, const torch::Tensor& b) {
    namespace F = torch::nn::functional;
    const auto options = F::NormalizeFuncOptions().p(2).dim(1);
    return torch::matmul(F::normalize(a, options), F::normalize(b, options).t());
}

torch::Tensor clipLoss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& temperature) {
    requirePairs(a, b, true);
    const torch::Tensor logits = cosineSimilarity(a, b) / temperature;
    const torch::Tensor targets =
        torch::arange(a.size(0), torch::TensorOptions().dtype(torch::kLong).device(a.device()));
    namespace F = torch::nn::functional;
    return (F::cross_entropy(logits, targets) + F::cross_entropy(logits.t(), targets)) / 2;
}

torch::Tensor sigLipLoss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& logScale,
                         const torch::Tensor& bias) {
    requirePairs(a, b, true);
    const torch::Tensor logits = cosineSimilarity(a, b) * logScale.exp() + bias;
    const torch::Tensor labels = 2 * torch::eye(a.size(0), logits.options()) - 1;
    return -torch::nn::functional::logsigmoid(labels * logits).sum() / a.size(0);
}

torch::Tensor multiPositiveLoss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& positive,
                                const torch::Tensor& temperature) {
    requirePairs(a, b, false);
    if (positive.dim() != 2 || positive.size(0) != a.size(0) || positive.size(1) != b.size(0))
        throw std::invalid_argument("multi-positive loss: the mask must be [" + std::to_string(a.size(0)) + ", " +
                                    std::to_string(b.size(0)) + "]");
    return multiPositiveFromLogits(cosineSimilarity(a, b) / temperature, positive);
}

torch::Tensor multiPositiveFromLogits(const torch::Tensor& logits, const torch::Tensor& positive) {
    if (positive.sizes() != logits.sizes())
        throw std::invalid_argument("multi-positive loss: mask and logits differ in shape");
    const torch::Tensor mask = positive.to(torch::kBool);
    return (rowLoss(logits, mask) + rowLoss(logits.t(), mask.t())) / 2;
}

torch::Tensor hardNegativeLoss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& temperature,
                               std::int64_t k, double weight) {
    requirePairs(a, b, true);
    if (k < 0 || weight <= 0) throw std::invalid_argument("hard-negative loss: k must be >= 0 and the weight > 0");
    const torch::Tensor logits = cosineSimilarity(a, b) / temperature;
    const auto n = a.size(0);
    const torch::Tensor eye = torch::eye(n, logits.options().dtype(torch::kBool));
    auto direction = [&](const torch::Tensor& l) {
        torch::Tensor logWeights = torch::zeros_like(l);
        const std::int64_t hardest = std::min<std::int64_t>(k, n - 1);
        if (hardest > 0 && weight != 1.0) {
            torch::NoGradGuard noGrad;  // which negatives are hardest is a choice, not a function to differentiate
            const torch::Tensor negatives = l.masked_fill(eye, -std::numeric_limits<double>::infinity());
            const torch::Tensor index = std::get<1>(negatives.topk(hardest, 1));
            logWeights.scatter_(1, index, std::log(weight));
        }
        const torch::Tensor denominator = (l + logWeights).logsumexp(1);
        return -(l.diagonal() - denominator).mean();
    };
    return (direction(logits) + direction(logits.t())) / 2;
}

torch::Tensor zeroShotProbabilities(const torch::Tensor& images, const torch::Tensor& presentPrompts,
                                    const torch::Tensor& absentPrompts, const torch::Tensor& temperature) {
    requirePairs(presentPrompts, absentPrompts, true);
    requirePairs(images, presentPrompts, false);
    const torch::Tensor present = cosineSimilarity(images, presentPrompts) / temperature;  // [N, L]
    const torch::Tensor absent = cosineSimilarity(images, absentPrompts) / temperature;
    return torch::softmax(torch::stack({present, absent}, -1), -1).select(-1, 0);
}

std::pair<torch::Tensor, torch::Tensor> maskTokens(const torch::Tensor& ids, const torch::Tensor& maskable,
                                                   std::int64_t maskId, std::int64_t vocabSize, double rate,
                                                   c10::optional<at::Generator> generator) {
    if (ids.sizes() != maskable.sizes()) throw std::invalid_argument("maskTokens: ids and maskable differ in shape");
    if (rate < 0 || rate > 1) throw std::invalid_argument("maskTokens: the rate must be in [0, 1]");
    const auto options = torch::TensorOptions().dtype(torch::kDouble).device(ids.device());
    auto uniform = [&] { return torch::empty(ids.sizes(), options).uniform_(0.0, 1.0, generator); };
    const torch::Tensor chosen = (uniform() < rate).logical_and(maskable.to(torch::kBool));
    const torch::Tensor how = uniform();
    const torch::Tensor random = torch::empty(ids.sizes(), ids.options()).random_(0, vocabSize, generator);
    torch::Tensor corrupted = ids.clone();
    corrupted = torch::where(chosen.logical_and(how < 0.8), torch::full_like(ids, maskId), corrupted);
    corrupted = torch::where(chosen.logical_and(how >= 0.8).logical_and(how < 0.9), random, corrupted);
    const torch::Tensor labels = torch::where(chosen, ids, torch::full_like(ids, -100));
    return {corrupted, labels};
}

}  // namespace lumen::nn
