#pragma once
// What training and inference of the clip_contrastive task share (clip_common.cpp): the reports
// table, the tokenizer with the model's start/end/padding/mask ids, text batches, the model
// built from the config, the contrastive loss chosen by loss.kind and the zero-shot prompts.

#include "config/config.h"
#include "nn/clip_model.h"
#include "text/tokenizer.h"

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lumen::clip {

/// Reports by image id, in file order (data.reports: columns id and report).
struct Reports {
    std::filesystem::path file;
    std::map<std::string, std::vector<std::string>> byId;
    /// The reports of `id`; throws naming the file when it has none.
    const std::vector<std::string>& of(const std::string& id) const;
};
/// Throws data::DataError naming file:line for a missing column or an empty report.
Reports readReports(const std::filesystem::path& csv);

/// The tokenizer of text.vocab / text.merges and the ids the model needs.
class ReportTokenizer {
public:
    ReportTokenizer(const config::Config& c, const std::filesystem::path& workspace);
    /// start + tokens (cut) + end.
    std::vector<std::int64_t> encode(const std::string& text) const;
    /// Ids without special tokens -> text.
    std::string decode(const std::vector<std::int64_t>& ids) const;
    /// Padded ids [B, L] and attention mask [B, L] (1 = token), L the longest.
    std::pair<torch::Tensor, torch::Tensor> batch(const std::vector<std::vector<std::int64_t>>& encoded) const;
    std::int64_t vocabSize() const { return vocabSize_; }
    std::int64_t startId() const { return start_; }
    std::int64_t endId() const { return end_; }
    std::int64_t padId() const { return pad_; }
    std::optional<std::int64_t> maskId() const { return mask_; }

private:
    std::unique_ptr<text::Tokenizer> tokenizer_;
    std::int64_t vocabSize_ = 0, start_ = 0, end_ = 0, pad_ = 0;
    std::optional<std::int64_t> mask_;
    std::size_t maxTokens_ = 64;
};

/// Patch tokens of ConvNeXt's last stage for a square image of `size` pixels.
std::int64_t imageTokens(int size);

nn::ClipModel buildModel(const config::Config& c, std::int64_t vocabSize);

/// The contrastive loss of loss.kind on embeddings with the positive mask [B, B].
torch::Tensor contrastiveLoss(const config::Config& c, nn::ClipModelImpl& model, const torch::Tensor& image,
                              const torch::Tensor& text, const torch::Tensor& positive);

/// Loss settings that do not go together (hard negatives with another loss than clip): a
/// ConfigError naming the key.
void checkLossConfig(const config::Config& c);

/// "{label} is present." with the label's underscores as spaces.
std::string prompt(const std::string& pattern, const std::string& label);

/// Text embeddings [N, D] of `texts`, encoded in batches of `batch` under no_grad.
torch::Tensor embedTexts(nn::ClipModelImpl& model, const ReportTokenizer& tok, const std::vector<std::string>& texts,
                         const torch::Device& device, std::int64_t batch = 64);

/// Zero-shot probabilities [N, labels] of image embeddings, from the config's prompts.
torch::Tensor zeroShot(const config::Config& c, nn::ClipModelImpl& model, const ReportTokenizer& tok,
                       const torch::Tensor& imageEmbeddings);

}  // namespace lumen::clip
