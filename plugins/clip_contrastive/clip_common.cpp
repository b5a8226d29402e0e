#include "clip_common.h"

#include "data/csv_records.h"
#include "data/data_error.h"
#include "nn/contrastive_loss.h"
#include "plugin/task_kit.h"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace lumen::clip {

namespace fs = std::filesystem;

const std::vector<std::string>& Reports::of(const std::string& id) const {
    const auto it = byId.find(id);
    if (it == byId.end()) throw data::DataError(file, "no report for image \"" + id + "\" (data.reports)");
    return it->second;
}

Reports readReports(const fs::path& csv) {
    const auto records = data::readCsvRecords(csv);
    if (records.empty()) throw data::DataError(csv, "empty file: expected the columns id and report");
    const auto& header = records.front().fields;
    const auto column = [&](const std::string& name) {
        const auto it = std::find(header.begin(), header.end(), name);
        if (it == header.end()) throw data::DataError(csv, 1, 0, name, "missing column (needs id and report)");
        return static_cast<std::size_t>(it - header.begin());
    };
    const auto cId = column("id"), cReport = column("report");
    Reports r;
    r.file = csv;
    for (std::size_t i = 1; i < records.size(); ++i) {
        const auto& rec = records[i];
        if (rec.fields.size() != header.size())
            throw data::DataError(
                csv, rec.line, 0, {},
                std::to_string(rec.fields.size()) + " fields, the header has " + std::to_string(header.size()));
        if (rec.fields[cId].empty()) throw data::DataError(csv, rec.line, cId + 1, "id", "empty id");
        if (rec.fields[cReport].find_first_not_of(" \t\r\n") == std::string::npos)
            throw data::DataError(csv, rec.line, cReport + 1, "report", "empty report");
        r.byId[rec.fields[cId]].push_back(rec.fields[cReport]);
    }
    return r;
}

ReportTokenizer::ReportTokenizer(const config::Config& c, const fs::path& ws)
    : maxTokens_(static_cast<std::size_t>(c.get<int>("text.max_tokens"))) {
    const auto vocab = c.get<std::string>("text.vocab");
    if (vocab.empty())
        throw config::ConfigError({}, {{"text.vocab", "set the tokenizer's vocabulary file (a BERT vocab.txt)", 0}});
    const auto merges = c.get<std::string>("text.merges");
    tokenizer_ = text::loadTokenizer(plugin::inWorkspace(ws, vocab).string(),
                                     merges.empty() ? std::string() : plugin::inWorkspace(ws, merges).string(),
                                     c.get<bool>("text.lowercase"));
    vocabSize_ = tokenizer_->vocabulary().maxId() + 1;
    const auto start = tokenizer_->startId(), end = tokenizer_->endId();
    if (!start || !end)
        throw config::ConfigError(
            {}, {{"text.vocab", vocab + " has no start and end tokens ([CLS]/[SEP] or <|endoftext|>)", 0}});
    start_ = *start;
    end_ = *end;
    pad_ = tokenizer_->padId().value_or(end_);
    mask_ = tokenizer_->maskId();
}

std::vector<std::int64_t> ReportTokenizer::encode(const std::string& text) const {
    auto ids = tokenizer_->encode(text, false);
    if (ids.size() + 2 > maxTokens_) ids.resize(maxTokens_ - 2);
    ids.insert(ids.begin(), start_);
    ids.push_back(end_);
    return ids;
}

std::string ReportTokenizer::decode(const std::vector<std::int64_t>& ids) const { return tokenizer_->decode(ids); }

std::pair<torch::Tensor, torch::Tensor> ReportTokenizer::batch(
    const std::vector<std::vector<std::int64_t>>& encoded) const {
    std::size_t longest = 1;
    for (const auto& e : encoded) longest = std::max(longest, e.size());
    const auto b = static_cast<std::int64_t>(encoded.size()), l = static_cast<std::int64_t>(longest);
    auto ids = torch::full({b, l}, pad_, torch::kLong);
    auto mask = torch::zeros({b, l}, torch::kLong);
    auto ia = ids.accessor<std::int64_t, 2>();
    auto ma = mask.accessor<std::int64_t, 2>();
    for (std::int64_t i = 0; i < b; ++i)
        for (std::size_t j = 0; j < encoded[static_cast<std::size_t>(i)].size(); ++j) {
            ia[i][static_cast<std::int64_t>(j)] = encoded[static_cast<std::size_t>(i)][j];
            ma[i][static_cast<std::int64_t>(j)] = 1;
        }
    return {ids, mask};
}

std::int64_t imageTokens(int size) {
    std::int64_t s = size / 4;
    for (int i = 0; i < 3; ++i) s /= 2;
    return std::max<std::int64_t>(1, s) * std::max<std::int64_t>(1, s);
}

nn::ClipModel buildModel(const config::Config& c, std::int64_t vocabSize) {
    nn::ClipModelOptions o;
    o.visionVariant = c.get<std::string>("model.variant");
    o.dropPath = c.get<double>("model.drop_path");
    o.imageTokens = imageTokens(c.get<int>("image_size"));
    o.imagePooling = c.get<std::string>("model.image_pooling");
    o.text.vocabSize = vocabSize;
    o.text.hidden = c.get<std::int64_t>("text.hidden");
    o.text.layers = c.get<std::int64_t>("text.layers");
    o.text.heads = c.get<std::int64_t>("text.heads");
    o.text.intermediate = c.get<std::int64_t>("text.intermediate");
    o.text.maxPositions = c.get<std::int64_t>("text.max_positions");
    o.text.dropout = o.text.attentionDropout = c.get<double>("text.dropout");
    if (o.text.hidden % o.text.heads != 0)
        throw config::ConfigError({}, {{"text.heads", "must divide text.hidden", 0}});
    if (c.get<std::int64_t>("text.max_tokens") > o.text.maxPositions)
        throw config::ConfigError({}, {{"text.max_tokens", "exceeds text.max_positions", 0}});
    o.embedDim = c.get<std::int64_t>("embed_dim");
    o.temperature = c.get<double>("temperature");
    o.captioning = c.get<double>("loss_weights.captioning") > 0;
    o.maskedModeling = c.get<double>("loss_weights.masked_modeling") > 0;
    o.decoderLayers = c.get<std::int64_t>("caption.layers");
    o.decoderHeads = c.get<std::int64_t>("caption.heads");
    o.decoderWidth = c.get<std::int64_t>("caption.width");
    o.decoderFeedforward = 2 * o.decoderWidth;
    o.maxCaptionTokens = c.get<std::int64_t>("text.max_tokens");
    if (o.decoderWidth % o.decoderHeads != 0)
        throw config::ConfigError({}, {{"caption.heads", "must divide caption.width", 0}});
    return nn::ClipModel(o);
}

torch::Tensor contrastiveLoss(const config::Config& c, nn::ClipModelImpl& model, const torch::Tensor& image,
                              const torch::Tensor& text, const torch::Tensor& positive) {
    const auto kind = c.get<std::string>("loss.kind");
    const auto k = c.get<std::int64_t>("loss.hard_negatives");
    if (kind == "siglip") return nn::sigLipLoss(image, text, model.heads()->siglipLogScale, model.heads()->siglipBias);
    const auto t = model.temperature();
    if (kind == "clip")
        return k > 0 ? nn::hardNegativeLoss(image, text, t, k, c.get<double>("loss.hard_negative_weight"))
                     : nn::clipLoss(image, text, t);
    return nn::multiPositiveLoss(image, text, positive, t);
}

void checkLossConfig(const config::Config& c) {
    if (c.get<std::int64_t>("loss.hard_negatives") > 0 && c.get<std::string>("loss.kind") != "clip")
        throw config::ConfigError({}, {{"loss.hard_negatives", "applies to loss.kind clip only", 0}});
}

std::string prompt(const std::string& pattern, const std::string& label) {
    std::string name = label;
    std::replace(name.begin(), name.end(), '_', ' ');
    std::string out = pattern;
    for (std::size_t at; (at = out.find("{label}")) != std::string::npos;) out.replace(at, 7, name);
    return out;
}

torch::Tensor embedTexts(nn::ClipModelImpl& model, const ReportTokenizer& tok, const std::vector<std::string>& texts,
                         const torch::Device& device, std::int64_t batch) {
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> parts;
    for (std::size_t i = 0; i < texts.size(); i += static_cast<std::size_t>(batch)) {
        std::vector<std::vector<std::int64_t>> enc;
        for (std::size_t j = i; j < std::min(texts.size(), i + static_cast<std::size_t>(batch)); ++j)
            enc.push_back(tok.encode(texts[j]));
        auto [ids, mask] = tok.batch(enc);
        parts.push_back(model.encodeText(ids.to(device), mask.to(device)).embedding.to(torch::kCPU, torch::kFloat));
    }
    if (parts.empty()) return torch::zeros({0, model.options().embedDim});
    return torch::cat(parts);
}

torch::Tensor zeroShot(const config::Config& c, nn::ClipModelImpl& model, const ReportTokenizer& tok,
                       const torch::Tensor& imageEmbeddings) {
    std::vector<std::string> present, absent;
    for (const auto& l : c.get<std::vector<std::string>>("labels")) {
        present.push_back(prompt(c.get<std::string>("zero_shot.present"), l));
        absent.push_back(prompt(c.get<std::string>("zero_shot.absent"), l));
    }
    const auto device = model.heads()->logTemperature.device();
    torch::NoGradGuard noGrad;
    return nn::zeroShotProbabilities(imageEmbeddings.to(torch::kCPU, torch::kFloat),
                                     embedTexts(model, tok, present, device), embedTexts(model, tok, absent, device),
                                     model.temperature().to(torch::kCPU, torch::kFloat));
}

}  // namespace lumen::clip
