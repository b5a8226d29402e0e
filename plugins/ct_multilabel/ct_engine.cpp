// Training and inference of the ct_multilabel task on LibTorch: volumes prepared by
// data/volume_preprocessing.h, the 3-D ResNet and losses of core/nn, the Trainer of
// core/train, metrics of core/metrics, Grad-CAM 3-D for the viewer (docs/ct-multilabel.md).
#include "ct_engine.h"
#include "ct_labels.h"

#include "config/seed.h"
#include "data/csv_records.h"
#include "data/label_sets.h"
#include "data/sharding.h"
#include "data/volume_preprocessing.h"
#include "explain/grad_cam.h"
#include "explain/heatmap.h"
#include "io/nifti_writer.h"
#include "jobs/job.h"
#include "metrics/classification.h"
#include "nn/multilabel_loss.h"
#include "nn/resnet3d.h"
#include "nn/torchscript_export.h"
#include "plugin/task_kit.h"
#include "train/task_steps.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/parallel.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace lumen::ct {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

using plugin::fixed;
using plugin::inWorkspace;
using plugin::safeName;

/// "ct_0001.nii.gz" -> "ct_0001"; a folder name stays as it is.
std::string stemOf(const std::string& id) {
    std::string s = fs::path(id).filename().string();
    for (const char* ext : {".nii.gz", ".nii", ".gz"})
        if (s.size() > std::strlen(ext) && s.compare(s.size() - std::strlen(ext), std::string::npos, ext) == 0)
            return s.substr(0, s.size() - std::strlen(ext));
    return s;
}

data::VolumePreprocessing preprocessingOf(const config::Config& c) {
    data::VolumePreprocessing p;
    const auto sp = c.get<std::vector<double>>("preprocess.spacing");
    const auto sz = plugin::wholeNumbers(c, "preprocess.size");
    if (sp.size() != 3) throw config::ConfigError({}, {{"preprocess.spacing", "expected three numbers [x, y, z]", 0}});
    if (sz.size() != 3) throw config::ConfigError({}, {{"preprocess.size", "expected three numbers [x, y, z]", 0}});
    for (std::size_t i = 0; i < 3; ++i) {
        p.spacing[i] = sp[i];
        p.size[i] = static_cast<int>(sz[i]);
    }
    p.huMin = c.get<double>("preprocess.hu_min");
    p.huMax = c.get<double>("preprocess.hu_max");
    if (!(p.huMax > p.huMin))
        throw config::ConfigError({}, {{"preprocess.hu_max", "must be greater than preprocess.hu_min", 0}});
    for (const auto& w : c.get<std::vector<std::string>>("preprocess.extra_windows")) {
        try {
            p.extraWindows.push_back(data::parseHuWindow(w));
        } catch (const std::invalid_argument& e) {
            throw config::ConfigError({}, {{"preprocess.extra_windows", e.what(), 0}});
        }
    }
    return p;
}

nn::ResNet3d buildModel(const config::Config& c) {
    nn::ResNet3dOptions o;
    o.variant = c.get<std::string>("model.variant");
    o.widths = plugin::wholeNumbers(c, "model.widths");
    o.depths = plugin::wholeNumbers(c, "model.depths");
    o.strides = plugin::wholeNumbers(c, "model.strides");
    const auto stem = plugin::wholeNumbers(c, "model.stem_stride");
    if (stem.size() != 3) throw config::ConfigError({}, {{"model.stem_stride", "expected three numbers [x, y, z]", 0}});
    o.stemStride = {stem[2], stem[1], stem[0]};
    o.numClasses = static_cast<int>(c.get<std::vector<std::string>>("labels").size());
    o.norm = c.get<std::string>("model.norm");
    o.dropout = c.get<double>("model.dropout");
    o.pool = c.get<std::string>("model.pool");
    o.inChannels = preprocessingOf(c).channels();
    o.init = c.get<std::string>("model.init");
    try {
        return nn::ResNet3d(o);
    } catch (const std::invalid_argument& e) {
        throw config::ConfigError({}, {{"model", e.what(), 0}});
    }
}

// ---------------------------------------------------------------------------------------
// Data: prepared volumes held in memory (the labels CSV and splits: ct_labels.h).

struct Sample {
    std::string id;
    std::string patient;
    torch::Tensor volume;  // (1, D, H, W) float32 in [-1, 1]
    torch::Tensor target;  // (K,) or undefined
};

/// Reads and prepares the rows' volumes on `workers` threads; errors name the file.
struct VolumeSource {
    fs::path dir;
    data::VolumePreprocessing prep;
    data::CtSeriesPolicy series;
};

VolumeSource volumeSourceOf(const config::Config& c, const fs::path& workspace, const data::VolumePreprocessing& prep) {
    VolumeSource s{inWorkspace(workspace, c.get<std::string>("data.volumes_dir")), prep, {}};
    s.series.allowIrregular = c.get<bool>("data.allow_irregular_series");
    return s;
}

std::vector<Sample> loadSamples(const std::vector<Row>& rows, const VolumeSource& src, int workers,
                                jobs::JobContext& job, const std::string& what,
                                std::vector<data::PreparedVolume>* grids = nullptr) {
    const auto& dir = src.dir;
    const auto& p = src.prep;
    std::vector<Sample> out(rows.size());
    std::vector<data::PreparedVolume> prepared(rows.size());
    std::vector<std::string> errors(rows.size());
    std::vector<std::vector<std::string>> warnings(rows.size());
    // Each row's error is kept in its slot, so the one reported is the first row's, whatever the timing.
    util::ParallelOptions stopWhenCancelled;
    stopWhenCancelled.stopRequested = [&] { return job.isCancelled(); };
    util::parallelFor(
        rows.size(), static_cast<unsigned>(std::max(1, workers)),
        [&](std::size_t i) {
            const fs::path file = dir / rows[i].id;
            try {
                auto pv = data::prepareVolume(data::readCtVolume(file, src.series, &warnings[i]), p, file.string());
                out[i].volume =
                    torch::from_blob(pv.values.data(), {pv.channels, pv.nz, pv.ny, pv.nx}, torch::kFloat).clone();
                pv.values.clear();
                pv.values.shrink_to_fit();
                prepared[i] = std::move(pv);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
            out[i].id = rows[i].id;
            out[i].patient = rows[i].patient;
            if (!rows[i].targets.empty()) out[i].target = torch::tensor(rows[i].targets, torch::kFloat);
        },
        stopWhenCancelled);
    job.throwIfCancelled();
    for (const auto& e : errors)
        if (!e.empty()) throw std::runtime_error(e);
    for (const auto& w : warnings)
        for (const auto& line : w) job.warning(line);
    if (!what.empty()) job.info("loaded " + std::to_string(rows.size()) + " " + what + " volumes");
    if (grids) *grids = std::move(prepared);
    return out;
}

torch::Tensor stackVolumes(const std::vector<Sample>& s, const std::vector<std::size_t>& idx) {
    std::vector<torch::Tensor> v;
    for (auto i : idx) v.push_back(s[i].volume);
    return torch::stack(v);
}
torch::Tensor stackTargets(const std::vector<Sample>& s, const std::vector<std::size_t>& idx) {
    std::vector<torch::Tensor> v;
    for (auto i : idx) v.push_back(s[i].target);
    return torch::stack(v);
}

// ---------------------------------------------------------------------------------------
// Thresholds and metrics.

struct Thresholds {
    std::string metric = "f1";
    std::int64_t epoch = 0;
    std::vector<double> values;  // one per label
};

metrics::ThresholdChooser thresholdChooser(const std::string& metric) {
    if (metric == "youden")
        return [](std::span<const double> t, std::span<const double> s) { return metrics::bestThresholdYouden(t, s); };
    return [](std::span<const double> t, std::span<const double> s) { return metrics::bestThresholdF1(t, s); };
}

std::vector<double> searchThresholds(const std::vector<std::vector<double>>& truth,
                                     const std::vector<std::vector<double>>& score, const std::string& metric) {
    const auto choose = thresholdChooser(metric);
    std::vector<double> t;
    for (std::size_t k = 0; k < truth.size(); ++k) {
        const auto v = choose(truth[k], score[k]);
        t.push_back(v.has() ? *v.value : 0.5);  // undefined (no positives): the neutral 0.5
    }
    return t;
}

/// Hamming accuracy, macro F1 and positive rate of cross-fitted decisions: each validation
/// volume is decided at thresholds chosen on the other fold's patients, so no reported F1 was
/// computed on the data its threshold was chosen on.
std::map<std::string, double> crossFittedMetrics(const std::vector<std::vector<double>>& truth,
                                                 const std::vector<std::vector<double>>& score,
                                                 const std::vector<int>& folds, const std::vector<std::string>& labels,
                                                 const std::string& metric) {
    const auto choose = thresholdChooser(metric);
    std::vector<std::vector<double>> decided;
    for (std::size_t k = 0; k < truth.size(); ++k)
        decided.push_back(metrics::crossFittedDecisions(truth[k], score[k], folds, choose));
    const auto report = metrics::evaluateMultiLabel(truth, decided, labels, {0.5});
    std::map<std::string, double> out;
    if (report.hammingAccuracy.has()) out["hamming_accuracy"] = *report.hammingAccuracy.value;
    if (report.macroF1.has()) out["f1_macro"] = *report.macroF1.value;
    double positives = 0, all = 0;
    for (const auto& l : report.labels) {
        positives += static_cast<double>(l.atThreshold.counts.tp + l.atThreshold.counts.fp);
        all += static_cast<double>(l.atThreshold.counts.total());
    }
    if (all > 0) out["positive_rate"] = positives / all;
    return out;
}

Json thresholdsJson(const Thresholds& t, const std::vector<std::string>& labels) {
    Json j;
    j["metric"] = t.metric;
    j["epoch"] = t.epoch;
    Json m = Json::object();
    for (std::size_t k = 0; k < labels.size(); ++k) m[labels[k]] = t.values[k];
    j["thresholds"] = m;
    return j;
}

Thresholds readThresholds(const fs::path& file, const std::vector<std::string>& labels) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(file.string() + ": cannot read thresholds");
    Json j;
    try {
        j = Json::parse(in);
    } catch (const std::exception& e) {
        throw std::runtime_error(file.string() + ": not JSON (" + e.what() + ")");
    }
    Thresholds t;
    t.metric = j.value("metric", "");
    t.epoch = j.value("epoch", 0);
    if (!j.contains("thresholds") || !j["thresholds"].is_object())
        throw std::runtime_error(file.string() + ": no \"thresholds\" object");
    for (const auto& l : labels) {
        if (!j["thresholds"].contains(l) || !j["thresholds"][l].is_number())
            throw std::runtime_error(file.string() + ": no threshold for label \"" + l + "\"");
        t.values.push_back(j["thresholds"][l].get<double>());
    }
    return t;
}

fs::path epochThresholdsFile(const fs::path& checkpointDir, std::int64_t epoch) {
    char name[64];
    std::snprintf(name, sizeof name, "thresholds_epoch%03lld.json", static_cast<long long>(epoch));
    return checkpointDir / name;
}

class CtTrainable : public train::TrainableTask {
public:
    CtTrainable(nn::ResNet3d model, std::vector<Sample> trainSet, std::vector<Sample> valSet,
                std::vector<std::string> labels, nn::MultiLabelLossOptions loss, const config::Config& c,
                fs::path checkpointDir, jobs::JobContext& job, int rank = 0, int worldSize = 1)
        : model_(std::move(model)),
          train_(std::move(trainSet)),
          val_(std::move(valSet)),
          labels_(std::move(labels)),
          loss_(std::move(loss)),
          checkpointDir_(std::move(checkpointDir)),
          job_(job),
          rank_(rank),
          worldSize_(worldSize) {
        batchSize_ = static_cast<std::size_t>(c.get<int>("batch_size"));
        seed_ = c.get<std::uint64_t>("seed");
        thresholdMetric_ = c.get<std::string>("threshold.metric");
        flipLr_ = c.get<bool>("augment.flip_lr");
        std::vector<std::string> patients;
        for (const auto& v : val_) patients.push_back(v.patient);
        folds_ = patientFolds(patients, seed_);
    }
    std::shared_ptr<torch::nn::Module> model() override { return model_.ptr(); }
    std::map<std::string, std::vector<torch::Tensor>> parameterGroups() override {
        return {{"backbone", model_->backbone().parameters()}, {"head", model_->head().parameters()}};
    }
    std::int64_t batchesPerEpoch() override {
        const std::size_t w = static_cast<std::size_t>(worldSize_);
        const std::size_t mine = (train_.size() + w - 1) / w;  // this rank's share (data::shardOrder)
        return static_cast<std::int64_t>((mine + batchSize_ - 1) / batchSize_);
    }
    void startEpoch(std::int64_t epoch, std::int64_t firstBatch) override {
        epoch_ = epoch;
        order_.resize(train_.size());
        for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
        seededShuffle(order_, seed_ * 1000003ULL + static_cast<std::uint64_t>(epoch));
        order_ = data::shardOrder(order_, rank_, worldSize_);
        pos_ = static_cast<std::size_t>(firstBatch) * batchSize_;
    }
    std::optional<train::TensorBatch> nextBatch() override {
        if (pos_ >= order_.size()) return std::nullopt;
        std::vector<std::size_t> idx(
            order_.begin() + static_cast<std::ptrdiff_t>(pos_),
            order_.begin() + static_cast<std::ptrdiff_t>(std::min(order_.size(), pos_ + batchSize_)));
        auto x = stackVolumes(train_, idx);
        if (flipLr_) {
            // Left-right flips drawn from (seed, epoch, sample): the same on resume.
            for (std::size_t b = 0; b < idx.size(); ++b) {
                std::mt19937_64 rng(seed_ ^ (static_cast<std::uint64_t>(epoch_) << 32) ^
                                    (idx[b] * 0x9E3779B97F4A7C15ULL));
                if (rng() & 1) x[static_cast<std::int64_t>(b)] = x[static_cast<std::int64_t>(b)].flip({3});
            }
        }
        train::TensorBatch b{x, stackTargets(train_, idx), {}};
        for (auto i : idx) b.ids.push_back(train_[i].id);
        pos_ += batchSize_;
        return b;
    }
    train::LossOutput loss(const train::TensorBatch& batch) override {
        const auto logits = model_->forward(batch.inputs);
        train::LossOutput r;
        r.total = nn::multiLabelLoss(logits, batch.targets, loss_);
        r.components[loss_.type] = r.total.detach();
        return r;
    }
    std::map<std::string, double> validate(const std::function<torch::Tensor(const torch::Tensor&)>& prepare) override {
        if (val_.empty()) return {};
        std::vector<std::vector<double>> truth(labels_.size()), score(labels_.size());
        double lossSum = 0;
        std::int64_t batches = 0;
        for (std::size_t s = 0; s < val_.size(); s += batchSize_) {
            job_.throwIfCancelled();
            std::vector<std::size_t> idx;
            for (std::size_t i = s; i < std::min(val_.size(), s + batchSize_); ++i) idx.push_back(i);
            const auto logits = model_->forward(prepare(stackVolumes(val_, idx))).to(torch::kFloat);
            const auto y = stackTargets(val_, idx);
            lossSum += nn::multiLabelLoss(logits, y.to(logits.device()), loss_).item<double>();
            ++batches;
            const auto p = torch::sigmoid(logits).to(torch::kCPU, torch::kDouble).contiguous();
            const auto yd = y.to(torch::kDouble).contiguous();
            const auto pa = p.accessor<double, 2>(), ya = yd.accessor<double, 2>();
            for (std::int64_t i = 0; i < p.size(0); ++i)
                for (std::size_t k = 0; k < labels_.size(); ++k) {
                    truth[k].push_back(ya[i][static_cast<std::int64_t>(k)]);
                    score[k].push_back(pa[i][static_cast<std::int64_t>(k)]);
                }
        }
        // Thresholds searched on this whole validation pass are the ones kept for inference. The
        // F1, Hamming accuracy and positive rate reported are cross-fitted (crossFittedMetrics);
        // the in-sample F1 at the kept thresholds (optimistic, the original's "optimal threshold"
        // report) is f1_macro_in_sample.
        Thresholds t;
        t.metric = thresholdMetric_;
        t.epoch = epoch_ + 1;
        t.values = searchThresholds(truth, score, thresholdMetric_);
        if (!checkpointDir_.empty()) {
            fs::create_directories(checkpointDir_);
            util::writeFileAtomically(epochThresholdsFile(checkpointDir_, t.epoch),
                                      thresholdsJson(t, labels_).dump(1) + "\n");
        }
        lastThresholds_ = t;
        const auto report = metrics::evaluateMultiLabel(truth, score, labels_, t.values);
        auto out = crossFittedMetrics(truth, score, folds_, labels_, thresholdMetric_);
        out["loss"] = lossSum / static_cast<double>(std::max<std::int64_t>(1, batches));
        if (report.macroAuroc.has()) out["auroc_macro"] = *report.macroAuroc.value;
        if (report.macroF1.has()) out["f1_macro_in_sample"] = *report.macroF1.value;
        for (const auto& l : report.labels)
            if (l.auroc.has()) out["auroc." + safeName(l.name)] = *l.auroc.value;
        return out;
    }
    train::MonitoredMetric monitoredMetric() const override { return {"auroc_macro", true}; }
    const Thresholds& lastThresholds() const { return lastThresholds_; }

private:
    nn::ResNet3d model_;
    std::vector<Sample> train_, val_;
    std::vector<std::string> labels_;
    nn::MultiLabelLossOptions loss_;
    fs::path checkpointDir_;
    jobs::JobContext& job_;
    std::size_t batchSize_ = 1;
    std::uint64_t seed_ = 42;
    std::string thresholdMetric_;
    bool flipLr_ = false;
    int rank_ = 0, worldSize_ = 1;
    std::int64_t epoch_ = 0;
    std::vector<std::size_t> order_;
    std::size_t pos_ = 0;
    std::vector<int> folds_;  // cross-fitting fold of each validation volume (by patient)
    Thresholds lastThresholds_;
};

}  // namespace

const std::vector<std::string>& defaultLabels() { return data::ctRateLabels(); }

const std::vector<std::string>& modelShapingKeys() {
    static const std::vector<std::string> keys = {"labels",
                                                  "model.variant",
                                                  "model.widths",
                                                  "model.depths",
                                                  "model.strides",
                                                  "model.stem_stride",
                                                  "model.norm",
                                                  "model.pool",
                                                  "preprocess.spacing",
                                                  "preprocess.size",
                                                  "preprocess.hu_min",
                                                  "preprocess.hu_max",
                                                  "preprocess.extra_windows"};
    return keys;
}

std::string train(const config::Config& c, const plugin::RunContext& where, jobs::JobContext& job) {
    const auto seed = c.get<std::uint64_t>("seed");
    config::seedEverything(seed);
    const auto labels = c.get<std::vector<std::string>>("labels");
    const auto prep = preprocessingOf(c);
    auto table = readLabels(c, where.workspace, true);
    const auto trainSplit = c.get<std::string>("data.train_split"), valSplit = c.get<std::string>("data.val_split");
    std::vector<Row> trainRows, valRows;
    if (table.hasSplit) {
        for (const auto& r : table.rows) {
            if (r.split == trainSplit) trainRows.push_back(r);
            else if (r.split == valSplit) valRows.push_back(r);
        }
        job.info("split from the \"" + c.get<std::string>("data.split_column") + "\" column of " + table.file.string());
    } else {
        splitByPatient(table.rows, c.get<double>("data.val_fraction"), seed, trainRows, valRows);
        job.info("no split column in " + table.file.string() + ": seeded split by patient, " + table.patientSource +
                 "; " + std::to_string(valRows.size()) + " volumes for validation");
    }
    if (const auto max = c.get<std::int64_t>("data.max_volumes"); max > 0) {
        if (static_cast<std::int64_t>(trainRows.size()) > max) trainRows.resize(static_cast<std::size_t>(max));
        if (static_cast<std::int64_t>(valRows.size()) > max) valRows.resize(static_cast<std::size_t>(max));
    }
    if (trainRows.empty())
        throw std::runtime_error(table.file.string() + ": no training rows (split \"" + trainSplit + "\")");
    // Which volume went where, so validation results can be reproduced and inspected later.
    if (!where.runDir.empty()) {
        std::string csv = "VolumeName,split,patient\n";
        for (const auto& r : trainRows)
            csv += data::csvField(r.id) + "," + data::csvField(trainSplit) + "," + data::csvField(r.patient) + "\n";
        for (const auto& r : valRows)
            csv += data::csvField(r.id) + "," + data::csvField(valSplit) + "," + data::csvField(r.patient) + "\n";
        util::writeFileAtomically(where.runDir / "split.csv", csv);
        job.artifact("split", (where.runDir / "split.csv").string());
    }

    const auto source = volumeSourceOf(c, where.workspace, prep);
    const int workers = std::max(1, c.get<int>("num_workers"));
    auto trainSet = loadSamples(trainRows, source, workers, job, "training");
    auto valSet = loadSamples(valRows, source, workers, job, "validation");

    nn::MultiLabelLossOptions lo;
    lo.type = c.get<std::string>("loss.type");
    lo.alpha = c.get<double>("loss.focal_alpha");
    lo.gamma = c.get<double>("loss.focal_gamma");
    lo.posWeight = c.get<std::vector<double>>("loss.pos_weight");
    if (!lo.posWeight.empty() && lo.posWeight.size() != labels.size())
        throw config::ConfigError(
            {},
            {{"loss.pos_weight",
              std::to_string(lo.posWeight.size()) + " values for " + std::to_string(labels.size()) + " labels", 0}});
    if (c.get<bool>("loss.pos_weight_auto")) {
        lo.posWeight.assign(labels.size(), 1.0);
        std::string text;
        for (std::size_t k = 0; k < labels.size(); ++k) {
            double pos = 0;
            for (const auto& r : trainRows) pos += r.targets[k];
            const double neg = static_cast<double>(trainRows.size()) - pos;
            lo.posWeight[k] = std::clamp(pos > 0 ? neg / pos : 1.0, 1.0, 50.0);
            text += (k ? ", " : "") + fixed(lo.posWeight[k], 2);
        }
        job.info("positive-class weights (negatives/positives): " + text);
    }

    auto model = buildModel(c);
    const auto o = train::trainerOptionsFor(c, "ct_multilabel", where, modelShapingKeys());
    const auto nTrain = trainSet.size(), nVal = valSet.size();
    std::int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    job.info("training 3-D ResNet-" + c.get<std::string>("model.variant") + " (" + std::to_string(params) +
             " parameters) on " + std::to_string(nTrain) + " volumes (" + std::to_string(nVal) +
             " for validation); preprocessing " + prep.toJson());
    CtTrainable task(model, std::move(trainSet), std::move(valSet), labels, lo, c, o.checkpointDir, job, where.rank,
                     where.worldSize);
    train::Trainer trainer(o, task, job);
    train::AfterTraining after;
    after.summaryKeys = {"auroc_macro", "hamming_accuracy", "f1_macro", "positive_rate"};
    after.onBest = [&](const fs::path& best) {
        // Beside the best checkpoint: after a resume that never improved, the earlier run's.
        const auto src = epochThresholdsFile(best.parent_path(), train::readCheckpointInfo(best).epoch);
        std::error_code ec;
        if (!fs::exists(src, ec)) return;
        auto j = thresholdsJson(readThresholds(src, labels), labels);
        j["checkpoint"] = best.filename().string();
        j["checkpoint_path"] = best.string();
        j["preprocessing"] = Json::parse(prep.toJson());
        util::writeFileAtomically(where.runDir / "thresholds.json", j.dump(1) + "\n");
        job.artifact("thresholds", (where.runDir / "thresholds.json").string());
    };
    // Its input is the prepared volume: the preprocessing is recorded in thresholds.json.
    after.exportBest = [&](const fs::path& best, const fs::path& file) {
        train::loadModelWeights(*model, best, true);
        model->eval();
        nn::exportTorchScript(model, file);
    };
    return train::finishTraining(trainer.run(), where, job, "ct_multilabel", after);
}

namespace {

// Inference, step by step: thresholds, rows, the CAM plan, one volume at a time, the outputs.

struct InferenceThresholds {
    Thresholds values;
    fs::path file;  // empty: 0.5 for every label
};

/// infer.thresholds, else the file of the checkpoint's epoch, else the run's thresholds.json.
InferenceThresholds inferenceThresholds(const train::InferenceSetup& setup, const plugin::RunContext& where,
                                        const std::vector<std::string>& labels, jobs::JobContext& job) {
    InferenceThresholds t;
    const auto& ckpt = setup.checkpoint;
    if (const auto given = setup.config.get<std::string>("infer.thresholds"); !given.empty()) {
        t.file = inWorkspace(where.workspace, given);
    } else {
        std::error_code ec;
        for (const auto& f : {epochThresholdsFile(ckpt.parent_path(), setup.info.epoch),
                              ckpt.parent_path().parent_path() / "thresholds.json"})
            if (fs::exists(f, ec)) {
                t.file = f;
                break;
            }
    }
    if (!t.file.empty()) {
        t.values = readThresholds(t.file, labels);
        job.info("thresholds from " + t.file.string());
    } else {
        t.values.metric = "none";
        t.values.values.assign(labels.size(), 0.5);
        job.warning("no thresholds stored with " + ckpt.string() + ": deciding at 0.5");
    }
    return t;
}

/// The data.infer_split rows (all rows when there are none), at most data.max_volumes.
std::vector<Row> inferenceRows(const config::Config& c, const plugin::RunContext& where) {
    auto table = readLabels(c, where.workspace, false);
    std::vector<Row> rows;
    const auto inferSplit = c.get<std::string>("data.infer_split");
    if (table.hasSplit)
        for (const auto& r : table.rows)
            if (r.split == inferSplit) rows.push_back(r);
    if (rows.empty()) rows = std::move(table.rows);
    if (const auto max = c.get<std::int64_t>("data.max_volumes");
        max > 0 && static_cast<std::int64_t>(rows.size()) > max)
        rows.resize(static_cast<std::size_t>(max));
    return rows;
}

struct CamPlan {
    int volumes = 0, stage = -1;
    std::vector<std::string> labels;  // empty: every label decided positive
    std::string layer, methodName;
    explain::CamMethod method = explain::CamMethod::GradCam;
    explain::CamCache cache;  // docs/explain.md: merged with an earlier run's entries
};

CamPlan planCams(const config::Config& c, const nn::ResNet3d& model, const train::InferenceSetup& setup,
                 const plugin::RunContext& where, const std::vector<std::string>& labels) {
    CamPlan p;
    p.volumes = c.get<int>("infer.cam_volumes");
    p.stage = c.get<int>("infer.cam_stage");
    p.labels = c.get<std::vector<std::string>>("infer.cam_labels");
    for (const auto& l : p.labels)
        if (std::find(labels.begin(), labels.end(), l) == labels.end())
            throw config::ConfigError({}, {{"infer.cam_labels", "\"" + l + "\" is not one of the labels", 0}});
    p.layer = "features.layer" + std::to_string(p.stage < 0 ? model->numStages() : p.stage);
    p.method = explain::camMethodFromName(c.get<std::string>("infer.cam_method"));
    p.methodName = explain::camMethodName(p.method);
    if (p.volumes > 0) {
        const auto dir = explain::camCacheDir(where.workspace, setup.checkpoint, p.layer, p.methodName);
        p.cache = explain::readCamCache(dir);
        p.cache.dir = dir;
        p.cache.model = setup.checkpoint.string();
        p.cache.layer = p.layer;
        p.cache.method = p.methodName;
        fs::create_directories(setup.outDir / "cams");
    }
    return p;
}

/// The CAM of label k for one volume: raw into the CAM cache, and for the viewer upsampled to
/// the prepared grid, min-max normalised, as NIfTI under cams/. Returns the NIfTI's path
/// relative to the output folder.
std::string explainLabel(CamPlan& plan, const torch::Tensor& features, const torch::Tensor& logits, std::size_t k,
                         double prob, const Row& row, const std::string& label, const data::PreparedVolume& pv,
                         const fs::path& out) {
    // explain::camFromFeatures (Grad-CAM: weights = spatial mean of d logit / d features,
    // CAM = ReLU(sum_c w_c F_c)); raw, at feature resolution (d, h, w).
    const auto kk = static_cast<std::int64_t>(k);
    const auto raw =
        explain::camFromFeatures(features, logits.select(1, kk), plan.method)[0].to(torch::kCPU).contiguous();
    explain::Heatmap h;
    for (auto d : raw.sizes()) h.shape.push_back(static_cast<std::size_t>(d));
    h.values.assign(raw.data_ptr<float>(), raw.data_ptr<float>() + raw.numel());
    explain::CamEntry e;
    e.id = row.id;
    e.label = label;
    e.target = static_cast<int>(k);
    e.file = explain::camFileName(e.id, e.label);
    e.score = logits[0][kk].item<double>();
    e.rawMin = *std::min_element(h.values.begin(), h.values.end());
    e.rawMax = *std::max_element(h.values.begin(), h.values.end());
    e.inputH = static_cast<std::size_t>(pv.ny);
    e.inputW = static_cast<std::size_t>(pv.nx);
    e.inputD = static_cast<std::size_t>(pv.nz);
    e.prob = prob;
    explain::saveCam(h, e, plan.cache.dir);
    auto& entries = plan.cache.entries;
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [&](const explain::CamEntry& x) { return x.id == e.id && x.label == e.label; }),
                  entries.end());
    entries.push_back(e);
    const auto up = explain::normalised(explain::upsample(
        h, {static_cast<std::size_t>(pv.nz), static_cast<std::size_t>(pv.ny), static_cast<std::size_t>(pv.nx)}));
    const fs::path nii = out / "cams" / (safeName(stemOf(row.id)) + "__" + safeName(label) + ".nii.gz");
    io::writeNifti(nii, pv.toImageVolume(up.values));
    return fs::relative(nii, out).string();
}

/// What inference gathers, row by row, for preds.csv and preds.json.
struct PredictionTable {
    std::ostringstream csv;
    Json rows = Json::array();
    std::vector<double> positives;
    double seconds = 0;
};

/// One volume: forward (with features kept for Grad-CAM when `cam`), decisions at the
/// thresholds, the CAMs of the wanted labels, one CSV line and one JSON row.
void predictVolume(nn::ResNet3d& model, const Row& row, const VolumeSource& source, bool cam,
                   const train::InferenceSetup& setup, const std::vector<std::string>& labels, const Thresholds& thr,
                   CamPlan& plan, const std::string& idColumn, const fs::path& out, PredictionTable& table,
                   jobs::JobContext& job) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<data::PreparedVolume> grid;
    auto s = loadSamples({row}, source, 1, job, "", &grid);
    const auto x = train::toDevice(s[0].volume.unsqueeze(0), setup.device);
    torch::Tensor features, logits;
    {
        train::AutocastScope autocast(setup.autocast, setup.device.type());
        if (cam) {
            features = model->forwardFeatures(x, plan.stage).detach().to(torch::kFloat).requires_grad_(true);
            logits = model->forwardHead(features, plan.stage).to(torch::kFloat);
        } else {
            torch::NoGradGuard g;
            logits = model->forward(x).to(torch::kFloat);
        }
    }
    const auto probs = torch::sigmoid(logits.detach()).to(torch::kCPU, torch::kDouble).contiguous();
    const auto pa = probs.accessor<double, 2>();
    Json jp = Json::object(), jd = Json::object(), jc = Json::object();
    std::vector<int> decisions;
    table.csv << data::csvField(row.id);
    for (std::size_t k = 0; k < labels.size(); ++k) {
        const double p = pa[0][static_cast<std::int64_t>(k)];
        table.csv << ',' << fixed(p);
        jp[labels[k]] = p;
        decisions.push_back(p >= thr.values[k] ? 1 : 0);
        table.positives[k] += decisions.back();
    }
    for (std::size_t k = 0; k < labels.size(); ++k) {
        table.csv << ',' << decisions[k];
        jd[labels[k]] = decisions[k];
    }
    table.csv << '\n';
    if (cam)
        for (std::size_t k = 0; k < labels.size(); ++k) {
            const bool wanted = plan.labels.empty()
                                    ? decisions[k] == 1
                                    : std::find(plan.labels.begin(), plan.labels.end(), labels[k]) != plan.labels.end();
            if (wanted)
                jc[labels[k]] = explainLabel(plan, features, logits, k, pa[0][static_cast<std::int64_t>(k)], row,
                                             labels[k], grid[0], out);
        }
    table.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Json j;
    j[idColumn] = row.id;
    j["probabilities"] = jp;
    j["decisions"] = jd;
    if (cam) j["cams"] = jc;
    table.rows.push_back(j);
}

/// preds.csv, preds.json and the CAM cache index, with their artifacts.
void writeInferenceOutputs(PredictionTable& table, const train::InferenceSetup& setup,
                           const data::VolumePreprocessing& prep, const std::vector<std::string>& labels,
                           const InferenceThresholds& thr, const CamPlan& plan, std::size_t volumes,
                           jobs::JobContext& job) {
    const auto& out = setup.outDir;
    util::writeFileAtomically(out / "preds.csv", table.csv.str());
    Json doc;
    doc["task"] = "ct_multilabel";
    doc["checkpoint"] = setup.checkpoint.string();
    doc["preprocessing"] = Json::parse(prep.toJson());
    doc["labels"] = labels;
    doc["thresholds"] = thresholdsJson(thr.values, labels);
    if (!thr.file.empty()) doc["thresholds"]["file"] = thr.file.string();
    if (plan.volumes > 0)
        doc["cam"] = {{"method", plan.methodName},
                      {"layer", plan.layer},
                      {"cache_dir", plan.cache.dir.string()},
                      {"volumes", "cams/"},
                      {"volume_format", "NIfTI float32 on the prepared grid (RAS), min-max normalised"}};
    doc["seconds_per_volume"] = volumes == 0 ? 0.0 : table.seconds / static_cast<double>(volumes);
    doc["predictions"] = table.rows;
    util::writeFileAtomically(out / "preds.json", doc.dump(1) + "\n");
    if (plan.volumes > 0) explain::writeCamCacheIndex(plan.cache);
    job.artifact("predictions", (out / "preds.csv").string());
    job.artifact("predictions_json", (out / "preds.json").string());
    if (plan.volumes > 0) {
        job.artifact("cams", (out / "cams").string());
        job.artifact("cam_cache", plan.cache.dir.string());
    }
}

}  // namespace

std::string infer(const config::Config& cIn, const plugin::RunContext& where, jobs::JobContext& job) {
    // The model and its preprocessing as they were trained: model-shaping keys from the checkpoint.
    const auto setup = train::prepareInference(cIn, where, job, "ct_multilabel", modelShapingKeys());
    const auto& c = setup.config;
    const auto labels = c.get<std::vector<std::string>>("labels");
    const auto prep = preprocessingOf(c);
    const auto thr = inferenceThresholds(setup, where, labels, job);
    const auto rows = inferenceRows(c, where);
    const auto source = volumeSourceOf(c, where.workspace, prep);

    auto model = buildModel(c);
    train::loadModelWeights(*model, setup.checkpoint, true);
    model->to(setup.device);
    model->eval();
    auto plan = planCams(c, model, setup, where, labels);

    PredictionTable table;
    table.positives.assign(labels.size(), 0);
    const auto idColumn = c.get<std::string>("data.id_column");
    table.csv << idColumn;
    for (const auto& l : labels) table.csv << ',' << data::csvField(l);
    for (const auto& l : labels) table.csv << ',' << data::csvField(l + ".decision");
    table.csv << '\n';
    for (std::size_t n = 0; n < rows.size(); ++n) {
        job.throwIfCancelled();
        predictVolume(model, rows[n], source, static_cast<int>(n) < plan.volumes, setup, labels, thr.values, plan,
                      idColumn, setup.outDir, table, job);
        job.progress(static_cast<double>(n + 1) / rows.size(),
                     "inference " + std::to_string(n + 1) + "/" + std::to_string(rows.size()));
    }
    writeInferenceOutputs(table, setup, prep, labels, thr, plan, rows.size(), job);
    double rate = 0;
    for (double p : table.positives) rate += p;
    rate = rows.empty() ? 0 : rate / (static_cast<double>(rows.size()) * labels.size());
    return std::to_string(rows.size()) + " volumes, positive rate " + fixed(rate, 3) + ", " +
           fixed(rows.empty() ? 0 : table.seconds / rows.size(), 3) + " s/volume -> " +
           (setup.outDir / "preds.csv").string();
}

}  // namespace lumen::ct
