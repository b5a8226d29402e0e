// Training and inference of the angio_multiview task on LibTorch: studies read by
// angio_data.cpp, the multi-view model and masked loss of core/nn/angio_model.h, the Trainer of
// core/train, per-head metrics of core/metrics (docs/angio.md).
#include "angio_engine.h"
#include "angio_data.h"

#include "config/seed.h"
#include "explain/video_cam.h"
#include "io/npy_writer.h"
#include "data/csv_records.h"
#include "jobs/job.h"
#include "metrics/classification.h"
#include "metrics/column_report.h"
#include "metrics/regression.h"
#include "nn/angio_model.h"
#include "plugin/task_kit.h"
#include "train/device.h"
#include "train/task_steps.h"
#include "train/trainer.h"
#include "util/atomic_file.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

namespace lumen::angio {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using plugin::fixed;
using plugin::inWorkspace;
using plugin::safeName;

nn::AngioModelOptions modelOptions(const config::Config& c) {
    nn::AngioModelOptions o;
    o.encoder.arch = c.get<std::string>("model.encoder");
    o.encoder.widths = plugin::wholeNumbers(c, "model.encoder_widths");
    o.encoder.depths = plugin::wholeNumbers(c, "model.encoder_depths");
    o.encoder.inChannels = c.get<std::int64_t>("model.in_channels");
    o.encoder.pool = c.get<std::string>("model.encoder_pool");
    o.encoder.frames = c.get<std::int64_t>("data.frames");
    o.encoder.resolution = c.get<std::int64_t>("data.resolution");
    o.aggregator.mode = c.get<std::string>("model.aggregator");
    o.aggregator.attentionHidden = c.get<std::int64_t>("model.attention_hidden");
    o.aggregator.heads = c.get<std::int64_t>("model.aggregator_heads");
    o.aggregator.dropout = c.get<double>("model.aggregator_dropout");
    o.segments = static_cast<std::int64_t>(c.get<std::vector<std::string>>("segments").size());
    o.headDropout = c.get<double>("model.head_dropout");
    return o;
}

nn::AngioMultiview buildModel(const config::Config& c) {
    try {
        return nn::AngioMultiview(modelOptions(c));
    } catch (const std::invalid_argument& e) {
        throw config::ConfigError({}, {{"model", e.what(), 0}});
    }
}

nn::AngioLossOptions lossOptions(const config::Config& c) {
    nn::AngioLossOptions o;
    o.stenosisWeight = c.get<double>("loss.stenosis_weight");
    o.binaryWeight = c.get<double>("loss.binary_weight");
    o.huberDelta = c.get<double>("loss.huber_delta");
    return o;
}

data::AngioManifest readManifest(const config::Config& c, const fs::path& workspace) {
    return data::readAngioManifest(inWorkspace(workspace, c.get<std::string>("data.manifest")),
                                   c.get<std::vector<std::string>>("segments"));
}

/// Train / validation studies: the split column when the manifest has one, else a seeded split
/// by patient (val_fraction of the patients, in the order they first appear after shuffling).
void splitStudies(const data::AngioManifest& m, const config::Config& c, std::vector<const data::AngioStudy*>& train,
                  std::vector<const data::AngioStudy*>& val, jobs::JobContext& job) {
    const auto trainSplit = c.get<std::string>("data.train_split"), valSplit = c.get<std::string>("data.val_split");
    bool hasSplit = false;
    for (const auto& s : m.studies) hasSplit = hasSplit || !s.split.empty();
    if (hasSplit) {
        train = m.split(trainSplit);
        val = m.split(valSplit);
        job.info("split from the manifest's split column: " + std::to_string(train.size()) + " training, " +
                 std::to_string(val.size()) + " validation studies");
        return;
    }
    std::vector<std::string> patients;
    for (const auto& s : m.studies) {
        const std::string p = s.patientId.empty() ? s.studyId : s.patientId;
        if (std::find(patients.begin(), patients.end(), p) == patients.end()) patients.push_back(p);
    }
    std::mt19937_64 rng(c.get<std::uint64_t>("seed"));
    for (std::size_t i = patients.size(); i > 1; --i) std::swap(patients[i - 1], patients[rng() % i]);
    const auto nVal =
        static_cast<std::size_t>(std::llround(c.get<double>("data.val_fraction") * double(patients.size())));
    const std::set<std::string> valPatients(patients.begin(), patients.begin() + std::ptrdiff_t(nVal));
    for (const auto& s : m.studies)
        (valPatients.count(s.patientId.empty() ? s.studyId : s.patientId) ? val : train).push_back(&s);
    job.info("no split column: seeded split by patient, " + std::to_string(val.size()) + " of " +
             std::to_string(m.studies.size()) + " studies for validation");
}

/// Per-head validation metrics over the labelled entries: stenosis MAE / RMSE / Pearson r (in
/// percent), AUROC per segment of every binary head and their macro means.
std::map<std::string, double> headMetrics(const std::vector<std::string>& columns, const std::vector<double>& truth,
                                          const std::vector<double>& pred) {
    const std::size_t k = columns.size(), n = k ? truth.size() / k : 0;
    std::map<std::string, double> out;
    std::vector<double> st, sp;
    std::map<std::string, std::vector<double>> aurocs;  // head -> per-segment AUROCs
    for (std::size_t col = 0; col < k; ++col) {
        std::vector<double> t(n), p(n);
        for (std::size_t i = 0; i < n; ++i) t[i] = truth[i * k + col], p[i] = pred[i * k + col];
        const std::string& head = nn::kAngioHeads[col % nn::kAngioHeadsPerSegment];
        if (col % nn::kAngioHeadsPerSegment == 0) {
            st.insert(st.end(), t.begin(), t.end());
            sp.insert(sp.end(), p.begin(), p.end());
            continue;
        }
        const auto clean = metrics::dropMissing(t, p);
        const auto a = metrics::auroc(clean.truth, clean.score);
        if (!a.has()) continue;
        aurocs[head].push_back(*a.value);
        out["auroc." + safeName(columns[col])] = *a.value;
    }
    const auto r = metrics::evaluateRegression(st, sp);
    if (r.mae.has()) out["stenosis_mae"] = *r.mae.value;
    if (r.rmse.has()) out["stenosis_rmse"] = *r.rmse.value;
    if (r.pearson.has()) out["stenosis_pearson"] = *r.pearson.value;
    double all = 0;
    std::size_t count = 0;
    for (const auto& [head, values] : aurocs) {
        double sum = 0;
        for (double v : values) sum += v;
        out["auroc_" + head + "_macro"] = sum / double(values.size());
        all += sum;
        count += values.size();
    }
    if (count) out["auroc_macro"] = all / double(count);
    return out;
}

/// Positions [from, from + count) of a list of `size`, clamped (empty past its end).
std::vector<std::size_t> positions(std::size_t from, std::size_t count, std::size_t size) {
    std::vector<std::size_t> out;
    for (std::size_t i = from; i < std::min(size, from + count); ++i) out.push_back(i);
    return out;
}

class AngioTrainable : public train::TrainableTask {
public:
    /// `readAhead`: make the next batch while one trains (BatchReadAhead; on a GPU).
    AngioTrainable(nn::AngioMultiview model, std::vector<LoadedStudy> trainSet, std::vector<LoadedStudy> valSet,
                   std::vector<std::string> columns, const config::Config& c, jobs::JobContext& job, bool readAhead)
        : model_(std::move(model)),
          train_(std::move(trainSet)),
          val_(std::move(valSet)),
          columns_(std::move(columns)),
          clip_(ClipOptions::fromConfig(c)),
          loss_(lossOptions(c)),
          job_(job),
          trainAhead_(train_, clip_, readAhead),
          valAhead_(val_, clip_, readAhead) {
        batchSize_ = static_cast<std::size_t>(c.get<int>("batch_size"));
        seed_ = c.get<std::uint64_t>("seed");
    }
    std::shared_ptr<torch::nn::Module> model() override { return model_.ptr(); }
    std::map<std::string, std::vector<torch::Tensor>> parameterGroups() override {
        return {{"backbone", model_->encoder()->parameters()}};
    }
    std::int64_t batchesPerEpoch() override { return std::int64_t((train_.size() + batchSize_ - 1) / batchSize_); }
    void startEpoch(std::int64_t epoch, std::int64_t firstBatch) override {
        trainAhead_.drop();
        epoch_ = epoch;
        order_.resize(train_.size());
        for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
        std::mt19937_64 rng(seed_ * 1000003ULL + static_cast<std::uint64_t>(epoch));
        for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng() % i]);
        pos_ = static_cast<std::size_t>(firstBatch) * batchSize_;
    }
    std::optional<train::TensorBatch> nextBatch() override {
        if (pos_ >= order_.size()) return std::nullopt;
        const auto studiesAt = [&](std::size_t from) {
            auto p = positions(from, batchSize_, order_.size());
            for (auto& i : p) i = order_[i];
            return p;
        };
        const auto idx = studiesAt(pos_);
        pos_ += batchSize_;
        // Clip starts, view choice and dropout from (seed, epoch): the same batches on resume.
        // The next batch is made while this one trains.
        auto b = trainAhead_.take(idx, std::int64_t((seed_ + 1) * 7919ULL + std::uint64_t(epoch_)), studiesAt(pos_));
        train::TensorBatch out{b.videos, b.targets, {}, b.mask};
        for (auto i : idx) out.ids.push_back(train_[i].studyId);
        return out;
    }
    train::LossOutput loss(const train::TensorBatch& batch) override {
        const auto out = model_->forward(batch.inputs, batch.mask);
        const auto l = nn::angioLoss(out.outputs.to(torch::kFloat), batch.targets, loss_);
        return {l.total, {{"huber", l.huber.detach()}, {"bce", l.bce.detach()}}};
    }
    std::map<std::string, double> validate(const std::function<torch::Tensor(const torch::Tensor&)>& prepare) override {
        if (val_.empty()) return {};
        std::vector<double> truth, pred;
        double lossSum = 0, huberSum = 0, bceSum = 0;
        std::int64_t batches = 0;
        for (std::size_t s = 0; s < val_.size(); s += batchSize_) {
            job_.throwIfCancelled();
            const auto b = valAhead_.take(positions(s, batchSize_, val_.size()), -1,
                                          positions(s + batchSize_, batchSize_, val_.size()));
            const auto out = model_->forward(prepare(b.videos), b.mask.to(b.videos.device())).outputs.to(torch::kFloat);
            const auto l = nn::angioLoss(out.cpu(), b.targets, loss_);
            lossSum += l.total.item<double>(), huberSum += l.huber.item<double>(), bceSum += l.bce.item<double>();
            ++batches;
            const auto p = nn::angioPredictions(out.cpu()).to(torch::kDouble).contiguous();
            const auto t = b.targets.to(torch::kDouble).contiguous();
            pred.insert(pred.end(), p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
            truth.insert(truth.end(), t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
        }
        auto m = headMetrics(columns_, truth, pred);
        m["loss"] = lossSum / double(batches);
        m["loss_huber"] = huberSum / double(batches);
        m["loss_bce"] = bceSum / double(batches);
        return m;
    }
    train::MonitoredMetric monitoredMetric() const override { return {"loss", false}; }

private:
    nn::AngioMultiview model_;
    std::vector<LoadedStudy> train_, val_;
    std::vector<std::string> columns_;
    ClipOptions clip_;
    nn::AngioLossOptions loss_;
    jobs::JobContext& job_;
    std::size_t batchSize_ = 2, pos_ = 0;
    std::uint64_t seed_ = 42;
    std::int64_t epoch_ = 0;
    std::vector<std::size_t> order_;
    BatchReadAhead trainAhead_, valAhead_;  // after what they read: they go first
};

/// The config's data.mean / data.std against the training videos' own (every frame), at 4
/// decimals: a difference is a warning naming both (the reproducibility audit found its
/// divergence this way).
void checkNormalisation(const config::Config& c, const data::PixelSums& sums, jobs::JobContext& job) {
    const double mean = c.get<double>("data.mean"), std = c.get<double>("data.std");
    const auto m = sums.stats();
    const std::string theirs = fixed(m.mean[0], 4), theirStd = fixed(m.stdev[0], 4);
    job.info("training videos: mean " + theirs + ", std " + theirStd + " over every frame of " +
             std::to_string(m.images) + " videos");
    if (fixed(mean, 4) != theirs || fixed(std, 4) != theirStd)
        job.warning("data.mean / data.std are " + fixed(mean, 4) + " / " + fixed(std, 4) +
                    " but the training videos' are " + theirs + " / " + theirStd +
                    " (every frame, 4 decimals); set them to the recomputed values unless a pretrained encoder "
                    "needs its own");
}

void loadEncoderWeights(nn::AngioMultiview& model, const config::Config& c, const fs::path& workspace,
                        jobs::JobContext& job) {
    const auto file = c.get<std::string>("model.encoder_weights");
    if (file.empty()) return;
    const auto report = nn::loadVideoEncoderWeights(*model->encoder(), inWorkspace(workspace, file),
                                                    c.get<std::string>("model.encoder_weights_prefix"));
    std::string unexpected;
    for (std::size_t i = 0; i < report.unexpected.size() && i < 10; ++i)
        unexpected += (i ? ", " : "") + report.unexpected[i];
    job.info("encoder weights from " + file + " (prefix \"" + report.strippedPrefix + "\")" +
             (report.unexpected.empty() ? std::string()
                                        : "; not used: " + std::to_string(report.unexpected.size()) + " keys (" +
                                              unexpected + (report.unexpected.size() > 10 ? ", ..." : "") + ")"));
}

}  // namespace

const std::vector<std::string>& modelShapingKeys() {
    static const std::vector<std::string> keys = {"segments",
                                                  "model.encoder",
                                                  "model.encoder_widths",
                                                  "model.encoder_depths",
                                                  "model.in_channels",
                                                  "model.encoder_pool",
                                                  "model.aggregator",
                                                  "model.attention_hidden",
                                                  "model.aggregator_heads",
                                                  "data.frames",
                                                  "data.stride",
                                                  "data.resolution",
                                                  "data.mean",
                                                  "data.std"};
    return keys;
}

namespace {

/// The output columns with at least one label among `studies` (in column order).
std::vector<std::string> labelledColumns(const std::vector<LoadedStudy>& studies,
                                         const std::vector<std::string>& columns) {
    std::vector<bool> seen(columns.size(), false);
    for (const auto& s : studies) {
        const auto t = s.targets.to(torch::kFloat).contiguous();
        const float* v = t.data_ptr<float>();
        for (std::size_t k = 0; k < columns.size() && k < std::size_t(t.numel()); ++k)
            if (!std::isnan(v[k])) seen[k] = true;
    }
    std::vector<std::string> out;
    for (std::size_t k = 0; k < columns.size(); ++k)
        if (seen[k]) out.push_back(columns[k]);
    return out;
}

/// "lima_or_svg_stenosis, lima_or_svg_stenosis_binary, lima_or_svg_calcif_binary, … (5)".
std::string firstFew(const std::vector<std::string>& names) {
    std::string out;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, names.size()); ++i) out += (i ? ", " : "") + names[i];
    if (names.size() > 3) out += ", … (" + std::to_string(names.size()) + ")";
    return out;
}

/// `columns` that are not in `labelled`, in column order.
std::vector<std::string> unlabelled(const std::vector<std::string>& columns, const std::set<std::string>& labelled) {
    std::vector<std::string> out;
    for (const auto& col : columns)
        if (!labelled.count(col)) out.push_back(col);
    return out;
}

}  // namespace

std::string train(const config::Config& c, const plugin::RunContext& where, jobs::JobContext& job) {
    config::seedEverything(c.get<std::uint64_t>("seed"));
    const auto manifest = readManifest(c, where.workspace);
    std::vector<const data::AngioStudy*> trainStudies, valStudies;
    splitStudies(manifest, c, trainStudies, valStudies, job);
    if (trainStudies.empty())
        throw std::runtime_error(manifest.file.string() + ": no training studies (split \"" +
                                 c.get<std::string>("data.train_split") + "\")");
    const auto clip = ClipOptions::fromConfig(c);
    data::PixelSums sums(1, true);  // grey, as the model sees the frames
    auto trainSet = loadStudies(manifest, trainStudies, clip, job, "training", &sums);
    auto valSet = loadStudies(manifest, valStudies, clip, job, "validation");
    checkNormalisation(c, sums, job);
    auto model = buildModel(c);
    loadEncoderWeights(model, c, where.workspace, job);
    std::int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    job.info("training " + c.get<std::string>("model.encoder") + " + " + c.get<std::string>("model.aggregator") + " (" +
             std::to_string(params) + " parameters) on " + std::to_string(trainSet.size()) + " studies, " +
             std::to_string(manifest.labelledCount()) + " labelled cells in the manifest");
    auto o = train::trainerOptionsFor(c, "angio_multiview", where, modelShapingKeys());
    const auto columns = manifest.outputColumns();
    const auto labelled = labelledColumns(trainSet, columns);
    o.taskMeta = Json{{"columns", columns}, {"labelled_columns", labelled}}.dump();
    if (const auto none = unlabelled(columns, {labelled.begin(), labelled.end()}); !none.empty())
        job.warning(std::to_string(none.size()) + " of " + std::to_string(columns.size()) +
                    " output columns have no label in the training studies (" + firstFew(none) +
                    "): their heads stay untrained; inference marks them (preds.json \"untrained_columns\")");
    AngioTrainable task(model, std::move(trainSet), std::move(valSet), columns, c, job,
                        train::resolveDevice(o.device).is_cuda());
    train::Trainer trainer(o, task, job);
    train::AfterTraining after;
    after.summaryKeys = {"auroc_stenosis_binary_macro", "stenosis_mae", "auroc_macro"};
    // No TorchScript export: the model takes two inputs (videos, view mask) and the exporter
    // (nn/torchscript_export.h) writes single-input image models only (docs/angio.md).
    return train::finishTraining(trainer.run(), where, job, "angio_multiview", after);
}

namespace {

/// The studies inference runs on: data.dicom_dir grouped by StudyInstanceUID when set, else the
/// manifest's data.infer_split (every study when no study has that split).
data::AngioManifest inferenceStudies(const config::Config& c, const fs::path& workspace,
                                     std::vector<const data::AngioStudy*>& studies, jobs::JobContext& job) {
    const auto segments = c.get<std::vector<std::string>>("segments");
    data::AngioManifest m;
    if (const auto dir = c.get<std::string>("data.dicom_dir"); !dir.empty()) {
        std::vector<std::string> skipped;
        m = data::angioManifestOfDicomFolder(inWorkspace(workspace, dir), &skipped, segments);
        for (const auto& s : skipped) job.warning("skipped " + s);
    } else {
        m = data::readAngioManifest(inWorkspace(workspace, c.get<std::string>("data.manifest")), segments);
    }
    studies = m.split(c.get<std::string>("data.infer_split"));
    if (studies.empty())
        for (const auto& s : m.studies) studies.push_back(&s);
    return m;
}

/// When the inferred studies carry labels: per column AUROC, AUPRC and the confusion numbers
/// at the g-mean threshold (binaries), MAE / RMSE / r (stenosis %), macro per head, and
/// bootstrap intervals over studies, to metrics.json beside the predictions.
void writeLabelledMetrics(const std::vector<LoadedStudy>& studies, const std::vector<std::string>& columns,
                          const std::vector<std::vector<double>>& predicted, const config::Config& c,
                          const fs::path& outDir, jobs::JobContext& job) {
    const std::size_t k = columns.size(), n = studies.size();
    std::vector<std::vector<double>> truth(k, std::vector<double>(n)), score(k, std::vector<double>(n));
    std::size_t labelled = 0;
    for (std::size_t r = 0; r < n; ++r) {
        const auto t = studies[r].targets.to(torch::kDouble).contiguous();
        for (std::size_t col = 0; col < k; ++col) {
            truth[col][r] = t[std::int64_t(col)].item<double>();
            score[col][r] = predicted[r][col];
            labelled += !std::isnan(truth[col][r]);
        }
    }
    if (labelled == 0) return;
    std::vector<metrics::ColumnSpec> specs;
    for (std::size_t col = 0; col < k; ++col) {
        const std::string& head = nn::kAngioHeads[col % nn::kAngioHeadsPerSegment];
        specs.push_back(
            {columns[col],
             col % nn::kAngioHeadsPerSegment == 0 ? metrics::ColumnKind::Regression : metrics::ColumnKind::Binary,
             head});
    }
    metrics::BootstrapOptions bo;
    bo.resamples = c.get<int>("infer.bootstrap");
    bo.seed = static_cast<std::uint64_t>(c.get<int>("seed"));
    job.info("metrics over " + std::to_string(labelled) + " labelled cells, " + std::to_string(bo.resamples) +
             " bootstrap resamples");
    const auto report = metrics::evaluateColumns(truth, score, specs, bo, &job);
    util::writeFileAtomically(outDir / "metrics.json", metrics::toJson(report).dump(1) + "\n");
    job.artifact("metrics", (outDir / "metrics.json").string());
    for (const auto& g : report.groups)
        job.info(g.name + ": " +
                 (g.kind == metrics::ColumnKind::Regression
                      ? "MAE " + (g.mae.has() ? fixed(*g.mae.value, 2) : g.mae.reason)
                      : "macro AUROC " + (g.macroAuroc.has() ? fixed(*g.macroAuroc.value, 3) : g.macroAuroc.reason) +
                            " over " + std::to_string(g.columns) + " segments"));
}

/// What infer.cam_* ask for.
struct CamRequest {
    int studies = 0;
    std::vector<std::string> columns;
    explain::CamMethod method = explain::CamMethod::GradCam;
    std::set<std::string> untrained;  ///< never the default column
};

/// The output columns whose heads had no label in training, from the checkpoint's task_meta
/// (written since 2026-12-07); nullopt for an older checkpoint, which does not say.
std::optional<std::vector<std::string>> untrainedColumns(const train::InferenceSetup& setup,
                                                         const std::vector<std::string>& columns,
                                                         jobs::JobContext& job) {
    if (setup.info.taskMeta.empty()) {
        job.info(setup.checkpoint.string() +
                 ": the checkpoint does not record which columns had labels (written before 2026-12-07); "
                 "every column is shown as trained");
        return std::nullopt;
    }
    const auto meta = Json::parse(setup.info.taskMeta, nullptr, false);
    if (meta.is_discarded() || !meta.contains("labelled_columns") || !meta["labelled_columns"].is_array())
        throw train::CheckpointError(setup.checkpoint.string() + ": task_meta has no \"labelled_columns\" list");
    std::set<std::string> labelled;
    for (const auto& col : meta["labelled_columns"])
        if (col.is_string()) labelled.insert(col.get<std::string>());
    auto out = unlabelled(columns, labelled);
    if (!out.empty())
        job.warning(std::to_string(out.size()) + " of " + std::to_string(columns.size()) +
                    " columns had no label in training (" + firstFew(out) +
                    "): their values are written but untrained (preds.json \"untrained_columns\")");
    return out;
}

std::vector<std::int64_t> camColumns(const CamRequest& req, const std::vector<std::string>& columns,
                                     const std::vector<double>& predicted) {
    std::vector<std::int64_t> wanted;
    if (req.columns.empty()) {
        std::int64_t best = -1;  // the highest-scoring trained _stenosis_binary (head 1 of every segment)
        for (std::size_t k = 1; k < columns.size(); k += nn::kAngioHeadsPerSegment)
            if (!req.untrained.count(columns[k]) && (best < 0 || predicted[k] > predicted[std::size_t(best)]))
                best = std::int64_t(k);
        if (best >= 0) wanted.push_back(best);
        return wanted;
    }
    for (const auto& name : req.columns) {
        const auto it = std::find(columns.begin(), columns.end(), name);
        if (it == columns.end())
            throw config::ConfigError({}, {{"infer.cam_columns", "\"" + name + "\" is not an output column", 0}});
        wanted.push_back(std::int64_t(it - columns.begin()));
    }
    return wanted;
}

/// The video CAMs of study `index`: one .npy per column, shaped (real views, t, h, w), divided
/// by the study's joint maximum so its views share one scale. Returns preds.json's "cams".
Json studyCams(nn::AngioMultiview& model, const std::vector<LoadedStudy>& studies, std::size_t index,
               const ClipOptions& clip, const CamRequest& req, const std::vector<std::string>& columns,
               const std::vector<double>& predicted, const train::InferenceSetup& setup) {
    const auto wanted = camColumns(req, columns, predicted);
    const auto b = makeBatch(studies, {index}, clip, -1);
    const auto cams = explain::studyVideoCams(model, train::toDevice(b.videos, setup.device),
                                              train::toDevice(b.mask, setup.device), wanted, req.method);
    const auto& study = studies[index];
    Json out = Json::object();
    fs::create_directories(setup.outDir / "cams");
    for (std::size_t i = 0; i < wanted.size(); ++i) {
        auto cam = cams.cams[i].to(torch::kCPU, torch::kFloat).contiguous();
        const double rawMax = cam.max().item<double>();
        if (rawMax > 0) cam = (cam / rawMax).contiguous();
        std::vector<std::size_t> shape;
        for (auto d : cam.sizes()) shape.push_back(std::size_t(d));
        const auto& column = columns[std::size_t(wanted[i])];
        const fs::path file = setup.outDir / "cams" / (safeName(study.studyId) + "__" + safeName(column) + ".npy");
        util::writeFileAtomically(
            file, io::npyBytes(cam.data_ptr<float>(), std::size_t(cam.numel()) * sizeof(float), "<f4", shape));
        Json views = Json::array();
        for (const auto slot : cams.views) {
            const auto& video = study.videos[b.views[0][std::size_t(slot)]];
            views.push_back({{"slot", slot}, {"clip_start", centredStart(video.frames.size(0), clip)}});
        }
        out[column] = {{"file", fs::relative(file, setup.outDir).string()},
                       {"shape", shape},
                       {"raw_max", rawMax},
                       {"views", views}};
    }
    return out;
}

}  // namespace

std::string infer(const config::Config& cIn, const plugin::RunContext& where, jobs::JobContext& job) {
    const auto setup = train::prepareInference(cIn, where, job, "angio_multiview", modelShapingKeys());
    const auto& c = setup.config;
    std::vector<const data::AngioStudy*> chosen;
    const auto manifest = inferenceStudies(c, where.workspace, chosen, job);
    auto clip = ClipOptions::fromConfig(c);
    const auto studies = loadStudies(manifest, chosen, clip, job, "inference");
    auto model = buildModel(c);
    train::loadModelWeights(*model, setup.checkpoint, true);
    model->to(setup.device);
    model->eval();
    const auto columns = manifest.outputColumns();
    const auto untrained = untrainedColumns(setup, columns, job);  // before the work: a bad task_meta stops here
    std::ostringstream csv;
    csv << "study_id";
    for (const auto& col : columns) csv << ',' << col;
    csv << '\n';
    Json rows = Json::array();
    std::vector<std::vector<double>> predicted;
    const auto batchSize = static_cast<std::size_t>(std::max(1, c.get<int>("infer.batch_size")));
    const auto t0 = std::chrono::steady_clock::now();
    BatchReadAhead ahead(studies, clip, setup.device.is_cuda());
    for (std::size_t s = 0; s < studies.size(); s += batchSize) {
        job.throwIfCancelled();
        const auto idx = positions(s, batchSize, studies.size());
        const auto b = ahead.take(idx, -1, positions(s + batchSize, batchSize, studies.size()));
        nn::AngioOutput out;
        {
            torch::NoGradGuard noGrad;
            train::AutocastScope autocast(setup.autocast, setup.device.type());
            out = model->forward(train::toDevice(b.videos, setup.device), train::toDevice(b.mask, setup.device));
        }
        const auto p = nn::angioPredictions(out.outputs.to(torch::kCPU, torch::kDouble)).contiguous();
        const auto w = out.viewWeights.to(torch::kCPU, torch::kDouble).contiguous();
        for (std::size_t r = 0; r < idx.size(); ++r) {
            const auto& study = studies[idx[r]];
            csv << data::csvField(study.studyId);
            Json preds = Json::object(), views = Json::array();
            auto& values = predicted.emplace_back();
            for (std::size_t k = 0; k < columns.size(); ++k) {
                const double v = p[std::int64_t(r)][std::int64_t(k)].item<double>();
                csv << ',' << fixed(v, 6);
                preds[columns[k]] = v;
                values.push_back(v);
            }
            csv << '\n';
            for (std::size_t slot = 0; slot < b.views[r].size(); ++slot) {
                const auto& video = study.videos[b.views[r][slot]];
                views.push_back({{"path", video.path},
                                 {"file", fs::absolute(video.file).lexically_normal().string()},
                                 {"frame_time_ms", video.frameTimeMs},
                                 {"view", video.view},
                                 {"attention", w[std::int64_t(r)][std::int64_t(slot)].item<double>()}});
            }
            rows.push_back({{"study_id", study.studyId}, {"views", views}, {"predictions", preds}});
        }
        job.progress(double(std::min(studies.size(), s + batchSize)) / double(studies.size()),
                     "inference " + std::to_string(std::min(studies.size(), s + batchSize)) + "/" +
                         std::to_string(studies.size()) + " studies");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CamRequest cam{c.get<int>("infer.cam_studies"), c.get<std::vector<std::string>>("infer.cam_columns"),
                   explain::camMethodFromName(c.get<std::string>("infer.cam_method"))};
    if (untrained) cam.untrained.insert(untrained->begin(), untrained->end());
    for (std::size_t s = 0; s < std::min(studies.size(), std::size_t(std::max(0, cam.studies))); ++s) {
        job.throwIfCancelled();
        rows[s]["cams"] = studyCams(model, studies, s, clip, cam, columns, predicted[s], setup);
        job.progress(1.0, "video Grad-CAM " + std::to_string(s + 1) + "/" + std::to_string(cam.studies));
    }
    util::writeFileAtomically(setup.outDir / "preds.csv", csv.str());
    Json doc;
    doc["task"] = "angio_multiview";
    doc["checkpoint"] = setup.checkpoint.string();
    doc["columns"] = columns;
    if (untrained) doc["untrained_columns"] = *untrained;
    doc["clip"] = {{"frames", clip.frames},
                   {"stride", clip.stride},
                   {"resolution", clip.resolution},
                   {"max_views", clip.maxViews},
                   {"start", "centred"},
                   {"mean", clip.mean},
                   {"std", clip.std}};
    if (cam.studies > 0)
        doc["cam"] = {{"method", explain::camMethodName(cam.method)},
                      {"layer", "encoder." + model->encoder()->camLayer()},
                      {"frames", clip.frames},
                      {"stride", clip.stride},
                      {"array", "(views, t, h, w) float32 over the clip's frames x the frame, / the study's maximum"}};
    doc["seconds_per_study"] = studies.empty() ? 0.0 : seconds / double(studies.size());
    doc["predictions"] = rows;
    util::writeFileAtomically(setup.outDir / "preds.json", doc.dump(1) + "\n");
    job.artifact("predictions", (setup.outDir / "preds.csv").string());
    job.artifact("predictions_json", (setup.outDir / "preds.json").string());
    writeLabelledMetrics(studies, columns, predicted, c, setup.outDir, job);
    return std::to_string(studies.size()) + " studies, " +
           fixed(studies.empty() ? 0 : seconds / double(studies.size()), 3) + " s/study -> " +
           (setup.outDir / "preds.csv").string();
}

}  // namespace lumen::angio
