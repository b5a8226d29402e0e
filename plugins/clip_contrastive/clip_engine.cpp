// Training and per-epoch validation of the clip_contrastive task: the image manifests and loader
// of the task kit, the reports and tokenizer of clip_common, the model and losses of core/nn,
// the Trainer of core/train and the retrieval / caption / classification metrics of core/metrics.
#include "clip_engine.h"

#include "clip_common.h"

#include "config/seed.h"
#include "data/data_error.h"
#include "data/loader.h"
#include "jobs/job.h"
#include "metrics/captioning.h"
#include "metrics/classification.h"
#include "metrics/retrieval.h"
#include "nn/contrastive_loss.h"
#include "plugin/image_manifests.h"
#include "plugin/task_kit.h"
#include "train/image_batches.h"
#include "train/task_steps.h"
#include "train/trainer.h"

#include <torch/torch.h>

#include <functional>

namespace lumen::clip {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

/// Distinct texts in first-appearance order and the index of each input's text.
struct TextGroups {
    std::vector<std::string> texts;
    std::vector<std::size_t> of;
};
TextGroups groupTexts(const std::vector<std::string>& reports) {
    TextGroups g;
    std::map<std::string, std::size_t> index;
    for (const auto& r : reports) {
        const auto [it, added] = index.emplace(r, g.texts.size());
        if (added) g.texts.push_back(r);
        g.of.push_back(it->second);
    }
    return g;
}

/// [B, B] bool: item i's report is the same text as item j's.
torch::Tensor positivesOf(const std::vector<std::string>& reports) {
    const auto g = groupTexts(reports);
    const auto n = static_cast<std::int64_t>(reports.size());
    auto p = torch::zeros({n, n}, torch::kBool);
    auto a = p.accessor<bool, 2>();
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j)
            a[i][j] = g.of[static_cast<std::size_t>(i)] == g.of[static_cast<std::size_t>(j)];
    return p;
}

std::vector<std::vector<double>> toRows(const torch::Tensor& m) {
    const auto d = m.to(torch::kCPU, torch::kDouble).contiguous();
    std::vector<std::vector<double>> rows(static_cast<std::size_t>(d.size(0)));
    for (std::int64_t i = 0; i < d.size(0); ++i)
        rows[static_cast<std::size_t>(i)].assign(d[i].data_ptr<double>(), d[i].data_ptr<double>() + d.size(1));
    return rows;
}

/// Drops the rows without a report (said on `job`, naming a few); none left is an error.
void keepReported(data::Manifest& m, const Reports& reports, const std::string& what, jobs::JobContext& job) {
    std::vector<std::string> missing;
    std::erase_if(m.rows, [&](const data::ManifestRow& r) {
        if (reports.byId.count(r.id)) return false;
        missing.push_back(r.id);
        return true;
    });
    if (missing.empty()) return;
    std::string names;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, missing.size()); ++i) names += (i ? ", " : "") + missing[i];
    if (m.rows.empty()) throw data::DataError(reports.file, "no " + what + " image has a report (e.g. " + names + ")");
    job.warning(std::to_string(missing.size()) + " " + what + " images have no report in " + reports.file.string() +
                " and are left out (" + names + (missing.size() > 3 ? ", ..." : "") + ")");
}

class ClipTrainable : public train::TrainableTask {
public:
    ClipTrainable(const config::Config& c, nn::ClipModel model, const ReportTokenizer& tok, const Reports& reports,
                  std::shared_ptr<data::Dataset> trainSet, std::shared_ptr<data::Dataset> valSet,
                  data::LoaderOptions lo, jobs::JobContext& job)
        : c_(c), model_(std::move(model)), tok_(tok), reports_(reports), job_(job) {
        train_ = std::make_unique<data::BatchLoader>(trainSet, lo);
        val_ = train::validationLoader(valSet, lo);
    }
    std::shared_ptr<torch::nn::Module> model() override { return model_.ptr(); }
    std::map<std::string, std::vector<torch::Tensor>> parameterGroups() override {
        return {{"backbone", model_->vision()->parameters()}, {"text", model_->text()->parameters()}};
    }
    std::int64_t batchesPerEpoch() override { return static_cast<std::int64_t>(train_->batchesPerEpoch()); }
    void startEpoch(std::int64_t epoch, std::int64_t firstBatch) override {
        epoch_ = epoch;
        train::startLoaderEpoch(*train_, epoch, firstBatch);
    }
    std::optional<train::TensorBatch> nextBatch() override { return train::nextTensorBatch(*train_); }
    train::LossOutput loss(const train::TensorBatch& batch) override {
        std::vector<std::string> texts;
        for (const auto& id : batch.ids) {
            // An image with several reports uses one per epoch, chosen by (epoch, id).
            const auto& all = reports_.of(id);
            texts.push_back(all[(std::hash<std::string>{}(id) + static_cast<std::size_t>(epoch_)) % all.size()]);
        }
        return losses(model_->encodeImage(batch.inputs), texts, true);
    }
    std::map<std::string, double> validate(const std::function<torch::Tensor(const torch::Tensor&)>& prepare) override;
    train::MonitoredMetric monitoredMetric() const override { return {"recall@1", true}; }

private:
    train::LossOutput losses(const nn::ImageFeatures& img, const std::vector<std::string>& texts, bool training);
    void retrievalMetrics(const torch::Tensor& images, const std::vector<std::string>& texts,
                          const torch::Device& device, std::map<std::string, double>& out);
    void zeroShotMetrics(const torch::Tensor& images, const std::vector<std::vector<double>>& truth,
                         std::map<std::string, double>& out);

    const config::Config& c_;
    nn::ClipModel model_;
    const ReportTokenizer& tok_;
    const Reports& reports_;
    jobs::JobContext& job_;
    std::unique_ptr<data::BatchLoader> train_, val_;
    std::int64_t epoch_ = 0;
};

train::LossOutput ClipTrainable::losses(const nn::ImageFeatures& img, const std::vector<std::string>& texts,
                                        bool training) {
    const auto device = img.embedding.device();
    std::vector<std::vector<std::int64_t>> enc;
    for (const auto& t : texts) enc.push_back(tok_.encode(t));
    auto [ids, mask] = tok_.batch(enc);
    ids = ids.to(device);
    mask = mask.to(device);
    const auto txt = model_->encodeText(ids, mask);
    const auto positive = positivesOf(texts).to(device);
    train::LossOutput out;
    const auto add = [&](const std::string& name, const torch::Tensor& value, double weight) {
        out.components[name] = value.detach();
        out.total = out.total.defined() ? out.total + weight * value : weight * value;
    };
    add("contrastive", contrastiveLoss(c_, *model_, img.embedding, txt.embedding, positive),
        c_.get<double>("loss_weights.contrastive"));
    if (const double w = c_.get<double>("loss_weights.patch_contrastive"); w > 0)
        add("patch_contrastive",
            nn::multiPositiveFromLogits(model_->patchSimilarity(img, txt, mask) / model_->temperature(), positive), w);
    const auto ignored = [](torch::Tensor labels, const torch::Tensor& keep) {
        return labels.masked_fill(keep == 0, -100);
    };
    if (model_->hasCaptioning()) {
        const auto input = ids.slice(1, 0, -1), target = ignored(ids.slice(1, 1), mask.slice(1, 1));
        const auto logits = model_->captionLogits(img, input, mask.slice(1, 0, -1) == 0);
        add("captioning",
            F::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat), target.reshape({-1}),
                             F::CrossEntropyFuncOptions().ignore_index(-100)),
            c_.get<double>("loss_weights.captioning"));
    }
    // Masked-language modelling draws random numbers: training only, so validation leaves the
    // generator (and a resumed run) alone.
    if (training && model_->hasMaskedModeling()) {
        const auto maskable = (mask == 1) & (ids != tok_.startId()) & (ids != tok_.endId());
        auto [corrupted, labels] =
            nn::maskTokens(ids, maskable, *tok_.maskId(), tok_.vocabSize(), c_.get<double>("mlm.rate"));
        if ((labels != -100).any().item<bool>()) {
            const auto logits = model_->mlmLogits(model_->text()->forward(corrupted, mask).hidden);
            add("masked_modeling",
                F::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat), labels.reshape({-1}),
                                 F::CrossEntropyFuncOptions().ignore_index(-100)),
                c_.get<double>("loss_weights.masked_modeling"));
        }
    }
    return out;
}

void ClipTrainable::retrievalMetrics(const torch::Tensor& images, const std::vector<std::string>& texts,
                                     const torch::Device& device, std::map<std::string, double>& out) {
    // Identical reports are one text: an image matches its report's text, a text any image of
    // it (metrics::evaluateGroupedRetrieval).
    const auto groups = groupTexts(texts);
    out["retrieval_texts"] = static_cast<double>(groups.texts.size());
    if (groups.texts.size() < 2) return;
    const auto textEmb = embedTexts(*model_, tok_, groups.texts, device);
    const auto r = metrics::evaluateGroupedRetrieval(toRows(torch::matmul(images, textEmb.t())), groups.of);
    for (const auto& [name, d] : {std::pair{"i2t", &r.aToB}, std::pair{"t2i", &r.bToA}}) {
        for (const auto& [k, v] : d->recallAtK) out["recall@" + std::to_string(k) + "_" + name] = v;
        out[std::string("median_rank_") + name] = d->medianRank;
        out[std::string("mrr_") + name] = d->meanReciprocalRank;
    }
    out["recall@1"] = 0.5 * (r.aToB.recallAtK.at(1) + r.bToA.recallAtK.at(1));
    out["alignment"] = r.alignmentScore;
    out["matched_similarity"] = r.meanAlignment;
    out["unmatched_similarity"] = r.meanUnmatched;
}

void ClipTrainable::zeroShotMetrics(const torch::Tensor& images, const std::vector<std::vector<double>>& truth,
                                    std::map<std::string, double>& out) {
    const auto labels = c_.get<std::vector<std::string>>("labels");
    if (truth.empty() || labels.empty()) return;
    const auto p = toRows(zeroShot(c_, *model_, tok_, images).t());  // [labels][images]
    double sum = 0;
    int n = 0;
    for (std::size_t k = 0; k < labels.size() && k < truth.size(); ++k) {
        const auto a = metrics::auroc(truth[k], p[k]);
        if (!a.has()) continue;
        out["zero_shot_auroc." + plugin::safeName(labels[k])] = *a.value;
        sum += *a.value;
        ++n;
    }
    if (n > 0) out["zero_shot_auroc"] = sum / n;
}

std::map<std::string, double> ClipTrainable::validate(
    const std::function<torch::Tensor(const torch::Tensor&)>& prepare) {
    if (!val_) return {};
    val_->startEpoch(0);
    std::vector<torch::Tensor> embeddings;
    std::vector<std::string> texts, captions;
    std::vector<std::vector<std::string>> references;
    std::vector<std::vector<double>> truth;
    std::map<std::string, double> sums;
    std::int64_t batches = 0;
    const auto captionSamples = static_cast<std::size_t>(c_.get<std::int64_t>("caption.val_samples"));
    torch::Device device(torch::kCPU);
    while (auto b = val_->next()) {
        job_.throwIfCancelled();
        const auto x = prepare(train::imagesOf(*b));
        device = x.device();
        const auto img = model_->encodeImage(x);
        std::vector<std::string> batchTexts;
        for (const auto& id : b->ids) batchTexts.push_back(reports_.of(id).front());
        const auto l = losses(img, batchTexts, false);
        sums["loss"] += l.total.item<double>();
        for (const auto& [k, v] : l.components) sums["loss." + k] += v.item<double>();
        ++batches;
        embeddings.push_back(img.embedding.to(torch::kCPU, torch::kFloat));
        texts.insert(texts.end(), batchTexts.begin(), batchTexts.end());
        const auto y = train::targetsOf(*b).to(torch::kDouble);
        truth.resize(static_cast<std::size_t>(y.size(1)));
        for (std::int64_t k = 0; k < y.size(1); ++k)
            for (std::int64_t i = 0; i < y.size(0); ++i)
                truth[static_cast<std::size_t>(k)].push_back(y[i][k].item<double>());
        if (model_->hasCaptioning() && captions.size() < captionSamples) {
            const auto decoded = model_->greedyCaptions(img, tok_.startId(), tok_.endId());
            for (std::size_t i = 0; i < decoded.size() && captions.size() < captionSamples; ++i) {
                captions.push_back(tok_.decode(decoded[i].ids));
                references.push_back(reports_.of(b->ids[i]));
            }
        }
    }
    std::map<std::string, double> out;
    for (const auto& [k, v] : sums) out[k] = v / static_cast<double>(std::max<std::int64_t>(1, batches));
    out["temperature"] = model_->temperature().item<double>();
    if (embeddings.empty()) return out;
    const auto images = torch::cat(embeddings);
    retrievalMetrics(images, texts, device, out);
    zeroShotMetrics(images, truth, out);
    if (!captions.empty()) {
        const auto s = metrics::evaluateCaptions(captions, references);
        out["bleu4"] = s.bleu4;
        out["rouge_l"] = s.rougeL;
        if (s.withNumber > 0) {
            out["caption_number_stated"] = s.numberStated;
            out["caption_number_matched"] = s.numberMatched;
        }
    }
    return out;
}

}  // namespace

const std::vector<std::string>& modelShapingKeys() {
    static const std::vector<std::string> keys = {"model.variant",
                                                  "model.image_pooling",
                                                  "embed_dim",
                                                  "image_size",
                                                  "data.mean",
                                                  "data.std",
                                                  "text.vocab",
                                                  "text.merges",
                                                  "text.lowercase",
                                                  "text.max_tokens",
                                                  "text.hidden",
                                                  "text.layers",
                                                  "text.heads",
                                                  "text.intermediate",
                                                  "text.max_positions",
                                                  "caption.layers",
                                                  "caption.heads",
                                                  "caption.width",
                                                  "loss_weights.captioning",
                                                  "loss_weights.masked_modeling"};
    return keys;
}

std::string train(const config::Config& c, const plugin::RunContext& where, jobs::JobContext& job) {
    const auto seed = c.get<std::uint64_t>("seed");
    config::seedEverything(seed);
    checkLossConfig(c);
    const int size = c.get<int>("image_size");
    const auto reports = readReports(plugin::inWorkspace(where.workspace, c.get<std::string>("data.reports")));
    const ReportTokenizer tok(c, where.workspace);
    if (c.get<double>("loss_weights.masked_modeling") > 0 && !tok.maskId())
        throw config::ConfigError(
            {}, {{"loss_weights.masked_modeling", "needs a [MASK] token in text.vocab (or set the weight to 0)", 0}});
    const auto all = plugin::imageManifest(c, where.workspace, job, false);
    auto [trainM, valM] = plugin::trainValManifests(c, all, seed, job);
    keepReported(trainM, reports, "training", job);
    if (!valM.rows.empty()) keepReported(valM, reports, "validation", job);

    data::AugmentOptions aug = train::evalAugment(size);
    aug.hflip = c.get<bool>("augment.hflip");
    aug.rotateDegrees = c.get<double>("augment.rotate_degrees");
    const auto mean = train::configFloats(c, "data.mean"), stdev = train::configFloats(c, "data.std");
    auto trainSet = data::makeImageDataset(trainM, 3, aug, mean, stdev);
    auto valSet = data::makeImageDataset(valM, 3, train::evalAugment(size), mean, stdev);
    data::LoaderOptions lo;
    lo.batchSize = c.get<int>("batch_size");
    lo.workers = c.get<int>("num_workers");
    lo.prefetch = std::max(2, lo.workers);
    lo.shuffle = true;
    lo.dropLast = true;  // a batch of one has no negatives
    lo.seed = seed;
    lo.rank = where.rank;
    lo.worldSize = where.worldSize;

    auto model = buildModel(c, tok.vocabSize());
    if (const auto pre = c.get<std::string>("model.pretrained"); !pre.empty()) {
        nn::loadPretrained(model->vision(), plugin::inWorkspace(where.workspace, pre));
        job.info("pretrained image encoder: " + pre);
    }
    if (const auto pre = c.get<std::string>("text.pretrained"); !pre.empty()) {
        const auto report = nn::loadBertWeights(model->text(), plugin::inWorkspace(where.workspace, pre));
        job.info("pretrained text encoder: " + pre +
                 (report.unexpected.empty() ? std::string()
                                            : " (" + std::to_string(report.unexpected.size()) +
                                                  " keys not used, e.g. " + report.unexpected.front() + ")"));
    }
    ClipTrainable task(c, model, tok, reports, trainSet, valSet, lo, job);
    const auto o = train::trainerOptionsFor(c, "clip_contrastive", where, modelShapingKeys());
    job.info("training ConvNeXt-" + c.get<std::string>("model.variant") + " + BERT (" +
             std::to_string(c.get<std::int64_t>("text.layers")) + " layers, vocabulary " +
             std::to_string(tok.vocabSize()) + ") on " + std::to_string(trainM.rows.size()) + " image-report pairs (" +
             std::to_string(valM.rows.size()) + " for validation), " + std::to_string(size) + " px, loss " +
             c.get<std::string>("loss.kind"));
    train::Trainer trainer(o, task, job);
    train::AfterTraining after;
    after.summaryKeys = {"recall@1", "alignment"};
    return train::finishTraining(trainer.run(), where, job, "clip_contrastive", after);
}

}  // namespace lumen::clip
