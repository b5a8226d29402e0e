// Training and inference of the ct_multilabel task on LibTorch: volumes prepared by
// data/volume_preprocessing.h, the 3-D ResNet and losses of core/nn, the Trainer of
// core/train, metrics of core/metrics, Grad-CAM 3-D for the viewer (docs/ct-multilabel.md).
#include "ct_engine.h"

#include "config/seed.h"
#include "data/csv_records.h"
#include "data/volume_preprocessing.h"
#include "explain/grad_cam.h"
#include "explain/heatmap.h"
#include "io/nifti_writer.h"
#include "jobs/job.h"
#include "metrics/classification.h"
#include "nn/multilabel_loss.h"
#include "nn/resnet3d.h"
#include "nn/torchscript_export.h"
#include "train/trainer.h"
#include "util/atomic_file.h"

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

fs::path inWorkspace(const fs::path& workspace, const std::string& p) {
    const fs::path path(p);
    return path.is_absolute() ? path : workspace / path;
}

std::string fixed(double v, int digits = 6) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string safeName(std::string s) {
    for (char& c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) c = '_';
    return s;
}

/// "ct_0001.nii.gz" -> "ct_0001"; a folder name stays as it is.
std::string stemOf(const std::string& id) {
    std::string s = fs::path(id).filename().string();
    for (const char* ext : {".nii.gz", ".nii", ".gz"})
        if (s.size() > std::strlen(ext) && s.compare(s.size() - std::strlen(ext), std::string::npos, ext) == 0)
            return s.substr(0, s.size() - std::strlen(ext));
    return s;
}

std::vector<std::int64_t> ints(const config::Config& c, const std::string& key) {
    std::vector<std::int64_t> out;
    for (double v : c.get<std::vector<double>>(key)) {
        if (v != std::floor(v)) throw config::ConfigError({}, {{key, "expected whole numbers, got " + fixed(v, 3), 0}});
        out.push_back(static_cast<std::int64_t>(v));
    }
    return out;
}

data::VolumePreprocessing preprocessingOf(const config::Config& c) {
    data::VolumePreprocessing p;
    const auto sp = c.get<std::vector<double>>("preprocess.spacing");
    const auto sz = ints(c, "preprocess.size");
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
    o.widths = ints(c, "model.widths");
    o.depths = ints(c, "model.depths");
    o.strides = ints(c, "model.strides");
    const auto stem = ints(c, "model.stem_stride");
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
// Data: the labels CSV, splits, prepared volumes held in memory.

struct Row {
    std::string id;
    std::string patient;  // never empty: the patient column, the CT-RATE name's patient part, or the id
    std::string split;
    std::vector<float> targets;  // empty when the CSV has no label columns (inference only)
    std::size_t line = 0;
};

struct LabelTable {
    fs::path file;
    bool hasSplit = false, hasTargets = false;
    std::string patientSource;  // where the patients came from, for the log
    std::vector<Row> rows;
};

/// CT-RATE names a volume <split>_<patient>_<scan>_<reconstruction>[.nii.gz] (train_12_a_1):
/// its patient is the part before the scan letter (train_12). Empty for other names.
std::string ctRatePatient(const std::string& id) {
    static const std::regex name(R"(^(.+_[0-9]+)_[A-Za-z]+_[0-9]+(\.nii(\.gz)?)?$)");
    std::smatch m;
    return std::regex_match(id, m, name) ? m[1].str() : std::string();
}

/// The column holding patients: data.patient_column (an error when absent), else patient_id or
/// PatientID when present; -1 when none.
int patientColumn(const config::Config& c, const LabelTable& t, const std::function<int(const std::string&)>& col) {
    if (const auto named = c.get<std::string>("data.patient_column"); !named.empty()) {
        const int i = col(named);
        if (i < 0) throw std::runtime_error(t.file.string() + ": no \"" + named + "\" column (data.patient_column)");
        return i;
    }
    for (const char* name : {"patient_id", "PatientID"})
        if (const int i = col(name); i >= 0) return i;
    return -1;
}

/// Fills each row's patient and says where they came from.
void assignPatients(LabelTable& t, int patientIdx, const std::string& patientName,
                    const std::vector<std::vector<std::string>>& fields) {
    std::size_t fromColumn = 0, fromName = 0;
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
        auto& row = t.rows[r];
        const auto& f = fields[r];
        if (patientIdx >= 0 && static_cast<int>(f.size()) > patientIdx && !f[std::size_t(patientIdx)].empty()) {
            row.patient = f[std::size_t(patientIdx)];
            ++fromColumn;
        } else if (auto p = ctRatePatient(row.id); !p.empty()) {
            row.patient = std::move(p);
            ++fromName;
        } else {
            row.patient = row.id;
        }
    }
    std::set<std::string> patients;
    for (const auto& r : t.rows) patients.insert(r.patient);
    t.patientSource = std::to_string(patients.size()) + " patients for " + std::to_string(t.rows.size()) + " volumes (";
    if (fromColumn > 0) t.patientSource += std::to_string(fromColumn) + " from the \"" + patientName + "\" column, ";
    if (fromName > 0) t.patientSource += std::to_string(fromName) + " from CT-RATE names, ";
    t.patientSource += std::to_string(t.rows.size() - fromColumn - fromName) + " one per volume)";
}

LabelTable readLabels(const config::Config& c, const fs::path& ws, bool needTargets) {
    LabelTable t;
    t.file = inWorkspace(ws, c.get<std::string>("data.labels_csv"));
    const auto records = data::readCsvRecords(t.file);
    if (records.empty()) throw std::runtime_error(t.file.string() + ": empty labels CSV");
    const auto& header = records[0].fields;
    const auto col = [&](const std::string& name) -> int {
        for (std::size_t i = 0; i < header.size(); ++i)
            if (header[i] == name) return static_cast<int>(i);
        return -1;
    };
    const auto idCol = c.get<std::string>("data.id_column");
    const int idIdx = col(idCol);
    if (idIdx < 0) throw std::runtime_error(t.file.string() + ": no \"" + idCol + "\" column (data.id_column)");
    const int splitIdx = col(c.get<std::string>("data.split_column"));
    t.hasSplit = splitIdx >= 0;
    const int patientIdx = patientColumn(c, t, col);
    std::vector<std::vector<std::string>> rowFields;
    const auto labels = c.get<std::vector<std::string>>("labels");
    std::vector<int> labelIdx;
    std::vector<std::string> missing;
    for (const auto& l : labels) {
        labelIdx.push_back(col(l));
        if (labelIdx.back() < 0) missing.push_back(l);
    }
    t.hasTargets = missing.empty();
    if (!missing.empty() && (needTargets || missing.size() < labels.size())) {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + ("\"" + m + "\"");
        throw std::runtime_error(t.file.string() + ": no column for label(s) " + list + " (labels)");
    }
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& f = records[r].fields;
        Row row;
        row.line = records[r].line;
        if (static_cast<int>(f.size()) <= idIdx || f[std::size_t(idIdx)].empty())
            throw std::runtime_error(t.file.string() + ":" + std::to_string(row.line) + ": no " + idCol);
        row.id = f[std::size_t(idIdx)];
        if (splitIdx >= 0 && static_cast<int>(f.size()) > splitIdx) row.split = f[std::size_t(splitIdx)];
        if (t.hasTargets) {
            for (std::size_t k = 0; k < labels.size(); ++k) {
                const int i = labelIdx[k];
                const std::string cell = static_cast<int>(f.size()) > i ? f[std::size_t(i)] : "";
                if (cell == "1" || cell == "1.0") row.targets.push_back(1.0f);
                else if (cell == "0" || cell == "0.0") row.targets.push_back(0.0f);
                else
                    throw std::runtime_error(t.file.string() + ":" + std::to_string(row.line) + ": " + labels[k] +
                                             " of " + row.id + " is \"" + cell + "\", expected 0 or 1");
            }
        }
        t.rows.push_back(std::move(row));
        rowFields.push_back(f);
    }
    assignPatients(t, patientIdx, patientIdx >= 0 ? header[std::size_t(patientIdx)] : std::string(), rowFields);
    return t;
}

/// Fisher-Yates with mt19937_64 (the same order on every platform, unlike std::shuffle).
template <typename T>
void seededShuffle(std::vector<T>& v, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (std::size_t i = v.size(); i > 1; --i) {
        const std::size_t j = static_cast<std::size_t>(rng() % i);
        std::swap(v[i - 1], v[j]);
    }
}

/// Seeded split by patient: the rows are shuffled, patients are taken in the order they first
/// appear, and the first round(fraction x patients) validate. With one volume per patient this
/// is the row-level split of earlier versions (the same volumes validate).
void splitByPatient(std::vector<Row> rows, double fraction, std::uint64_t seed, std::vector<Row>& train,
                    std::vector<Row>& val) {
    seededShuffle(rows, seed);
    std::vector<std::string> order;
    std::set<std::string> seen;
    for (const auto& r : rows)
        if (seen.insert(r.patient).second) order.push_back(r.patient);
    const auto nVal = std::min(order.size(), static_cast<std::size_t>(std::lround(fraction * static_cast<double>(order.size()))));
    const std::set<std::string> held(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(nVal));
    for (auto& r : rows) (held.count(r.patient) ? val : train).push_back(std::move(r));
}

/// Two folds of the validation samples by patient (patients sorted, shuffled by the seed,
/// then alternated), for cross-fitted thresholds.
std::vector<int> patientFolds(const std::vector<std::string>& patients, std::uint64_t seed) {
    std::vector<std::string> unique(patients);
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    seededShuffle(unique, seed ^ 0xF01D5ULL);
    std::map<std::string, int> foldOf;
    for (std::size_t i = 0; i < unique.size(); ++i) foldOf[unique[i]] = static_cast<int>(i % 2);
    std::vector<int> out;
    for (const auto& p : patients) out.push_back(foldOf[p]);
    return out;
}

struct Sample {
    std::string id;
    std::string patient;
    torch::Tensor volume;   // (1, D, H, W) float32 in [-1, 1]
    torch::Tensor target;   // (K,) or undefined
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
    std::atomic<std::size_t> next{0}, done{0};
    const auto work = [&] {
        for (std::size_t i; (i = next++) < rows.size();) {
            if (job.isCancelled()) return;
            const fs::path file = dir / rows[i].id;
            try {
                auto pv = data::prepareVolume(data::readCtVolume(file, src.series, &warnings[i]), p, file.string());
                out[i].volume = torch::from_blob(pv.values.data(), {pv.channels, pv.nz, pv.ny, pv.nx}, torch::kFloat).clone();
                pv.values.clear();
                pv.values.shrink_to_fit();
                prepared[i] = std::move(pv);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
            out[i].id = rows[i].id;
            out[i].patient = rows[i].patient;
            if (!rows[i].targets.empty()) out[i].target = torch::tensor(rows[i].targets, torch::kFloat);
            ++done;
        }
    };
    std::vector<std::thread> pool;
    const int n = std::max(1, std::min<int>(workers, static_cast<int>(rows.size())));
    for (int t = 1; t < n; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
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
                fs::path checkpointDir, jobs::JobContext& job)
        : model_(std::move(model)), train_(std::move(trainSet)), val_(std::move(valSet)),
          labels_(std::move(labels)), loss_(std::move(loss)), checkpointDir_(std::move(checkpointDir)), job_(job) {
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
        return static_cast<std::int64_t>((train_.size() + batchSize_ - 1) / batchSize_);
    }
    void startEpoch(std::int64_t epoch, std::int64_t firstBatch) override {
        epoch_ = epoch;
        order_.resize(train_.size());
        for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
        seededShuffle(order_, seed_ * 1000003ULL + static_cast<std::uint64_t>(epoch));
        pos_ = static_cast<std::size_t>(firstBatch) * batchSize_;
    }
    std::optional<train::TensorBatch> nextBatch() override {
        if (pos_ >= order_.size()) return std::nullopt;
        std::vector<std::size_t> idx(order_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                     order_.begin() + static_cast<std::ptrdiff_t>(std::min(order_.size(), pos_ + batchSize_)));
        auto x = stackVolumes(train_, idx);
        if (flipLr_) {
            // Left-right flips drawn from (seed, epoch, sample): the same on resume.
            for (std::size_t b = 0; b < idx.size(); ++b) {
                std::mt19937_64 rng(seed_ ^ (static_cast<std::uint64_t>(epoch_) << 32) ^ (idx[b] * 0x9E3779B97F4A7C15ULL));
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
    std::map<std::string, double> validate(
        const std::function<torch::Tensor(const torch::Tensor&)>& prepare) override {
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
            lossSum += nn::multiLabelLoss(logits, y, loss_).item<double>();
            ++batches;
            const auto p = torch::sigmoid(logits).to(torch::kDouble).contiguous();
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
    std::int64_t epoch_ = 0;
    std::vector<std::size_t> order_;
    std::size_t pos_ = 0;
    std::vector<int> folds_;  // cross-fitting fold of each validation volume (by patient)
    Thresholds lastThresholds_;
};

}  // namespace

const std::vector<std::string>& defaultLabels() {
    static const std::vector<std::string> labels = {
        "Medical material", "Arterial wall calcification", "Cardiomegaly", "Pericardial effusion",
        "Coronary artery wall calcification", "Hiatal hernia", "Lymphadenopathy", "Emphysema", "Atelectasis",
        "Lung nodule", "Lung opacity", "Pulmonary fibrotic sequela", "Pleural effusion",
        "Mosaic attenuation pattern", "Peribronchial thickening", "Consolidation", "Bronchiectasis",
        "Interlobular septal thickening"};
    return labels;
}

const std::vector<std::string>& modelShapingKeys() {
    static const std::vector<std::string> keys = {
        "labels", "model.variant", "model.widths", "model.depths", "model.strides", "model.stem_stride",
        "model.norm", "model.pool", "preprocess.spacing", "preprocess.size", "preprocess.hu_min", "preprocess.hu_max",
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
        throw config::ConfigError({}, {{"loss.pos_weight", std::to_string(lo.posWeight.size()) + " values for " +
                                                               std::to_string(labels.size()) + " labels", 0}});
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
    auto o = train::TrainerOptions::fromConfig(c, "ct_multilabel");
    o.checkpointDir = where.runDir / "checkpoints";
    o.modelKeys = modelShapingKeys();
    if (const auto r = c.get<std::string>("resume"); !r.empty()) o.resumeFrom = inWorkspace(where.workspace, r);
    const auto nTrain = trainSet.size(), nVal = valSet.size();
    std::int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    job.info("training 3-D ResNet-" + c.get<std::string>("model.variant") + " (" + std::to_string(params) +
             " parameters) on " + std::to_string(nTrain) + " volumes (" + std::to_string(nVal) +
             " for validation); preprocessing " + prep.toJson());
    CtTrainable task(model, std::move(trainSet), std::move(valSet), labels, lo, c, o.checkpointDir, job);
    train::Trainer trainer(o, task, job);
    const auto r = trainer.run();

    std::string summary = "trained " + std::to_string(r.epochsDone) + " epochs (" + std::to_string(r.steps) + " steps)";
    if (!r.bestCheckpoint.empty()) {
        job.artifact("best_checkpoint", r.bestCheckpoint.string());
        const auto info = train::readCheckpointInfo(r.bestCheckpoint);
        // Beside the best checkpoint: after a resume that never improved, the earlier run's.
        const auto src = epochThresholdsFile(r.bestCheckpoint.parent_path(), info.epoch);
        std::error_code ec;
        if (fs::exists(src, ec)) {
            auto t = readThresholds(src, labels);
            auto j = thresholdsJson(t, labels);
            j["checkpoint"] = r.bestCheckpoint.filename().string();
            j["checkpoint_path"] = r.bestCheckpoint.string();
            j["preprocessing"] = Json::parse(prep.toJson());
            util::writeFileAtomically(where.runDir / "thresholds.json", j.dump(1) + "\n");
            job.artifact("thresholds", (where.runDir / "thresholds.json").string());
        }
        // The best weights (EMA when on) as TorchScript, for use outside Lumen. Its input is
        // the prepared volume: the preprocessing is recorded in thresholds.json.
        train::loadModelWeights(*model, r.bestCheckpoint, true);
        model->eval();
        const auto ts = where.runDir / "ct_multilabel_best.torchscript.pt";
        nn::exportTorchScript(model, ts);
        job.artifact("torchscript", ts.string());
    }
    for (const char* key : {"auroc_macro", "hamming_accuracy", "f1_macro", "positive_rate"})
        if (auto it = r.lastValidation.find(key); it != r.lastValidation.end())
            summary += std::string(", val ") + key + " " + fixed(it->second, 4);
    if (r.stoppedEarly) summary += ", stopped early";
    if (!r.bestCheckpoint.empty()) summary += "; best " + r.bestCheckpoint.filename().string();
    return summary;
}

std::string infer(const config::Config& cIn, const plugin::RunContext& where, jobs::JobContext& job) {
    const auto ckptKey = cIn.get<std::string>("infer.checkpoint");
    if (ckptKey.empty()) throw config::ConfigError({}, {{"infer.checkpoint", "inference needs a checkpoint", 0}});
    const fs::path ckpt = inWorkspace(where.workspace, ckptKey);
    const auto info = train::readCheckpointInfo(ckpt);
    if (info.taskId != "ct_multilabel")
        throw std::runtime_error(ckpt.string() + ": a checkpoint of task \"" + info.taskId + "\", not ct_multilabel");
    // The model and its preprocessing as they were trained: model-shaping keys from the checkpoint.
    const config::Config c(config::withKeysFrom(cIn.root(), config::parseYaml(info.configYaml, ckpt.string()),
                                                modelShapingKeys(), [&](const std::string& key, const std::string& v) {
                                                    job.warning(key + ": using the checkpoint's value " + v);
                                                }));
    const int threads = c.get<int>("threads");
    torch::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    const auto labels = c.get<std::vector<std::string>>("labels");
    const auto prep = preprocessingOf(c);

    // Thresholds: given, or those of the checkpoint's epoch, or the run's thresholds.json.
    Thresholds thr;
    fs::path thrFile;
    if (const auto t = c.get<std::string>("infer.thresholds"); !t.empty()) {
        thrFile = inWorkspace(where.workspace, t);
    } else {
        std::error_code ec;
        for (const auto& f : {epochThresholdsFile(ckpt.parent_path(), info.epoch), ckpt.parent_path().parent_path() / "thresholds.json"})
            if (fs::exists(f, ec)) {
                thrFile = f;
                break;
            }
    }
    if (!thrFile.empty()) {
        thr = readThresholds(thrFile, labels);
        job.info("thresholds from " + thrFile.string());
    } else {
        thr.metric = "none";
        thr.values.assign(labels.size(), 0.5);
        job.warning("no thresholds stored with " + ckpt.string() + ": deciding at 0.5");
    }

    auto table = readLabels(c, where.workspace, false);
    std::vector<Row> rows;
    const auto inferSplit = c.get<std::string>("data.infer_split");
    if (table.hasSplit)
        for (const auto& r : table.rows)
            if (r.split == inferSplit) rows.push_back(r);
    if (rows.empty()) rows = table.rows;
    if (const auto max = c.get<std::int64_t>("data.max_volumes"); max > 0 && static_cast<std::int64_t>(rows.size()) > max)
        rows.resize(static_cast<std::size_t>(max));
    const auto source = volumeSourceOf(c, where.workspace, prep);

    auto model = buildModel(c);
    train::loadModelWeights(*model, ckpt, true);
    model->eval();
    const bool bf16 = c.get<std::string>("precision") == "bf16" && train::cpuSupportsBf16();

    const fs::path out = cIn.get<std::string>("infer.out_dir").empty() ? where.runDir
                                                                       : inWorkspace(where.workspace, cIn.get<std::string>("infer.out_dir"));
    fs::create_directories(out);
    const int camVolumes = c.get<int>("infer.cam_volumes");
    const int camStage = c.get<int>("infer.cam_stage");
    const auto camLabels = c.get<std::vector<std::string>>("infer.cam_labels");
    for (const auto& l : camLabels)
        if (std::find(labels.begin(), labels.end(), l) == labels.end())
            throw config::ConfigError({}, {{"infer.cam_labels", "\"" + l + "\" is not one of the labels", 0}});
    const std::string layer = "features.layer" + std::to_string(camStage < 0 ? model->numStages() : camStage);
    const auto camMethod = explain::camMethodFromName(c.get<std::string>("infer.cam_method"));
    const std::string camMethodName = explain::camMethodName(camMethod);
    // The CAM cache of docs/explain.md: <workspace>/cache/cam/<sha16>_<layer>_<method>/, merged
    // with what an earlier run of the same checkpoint put there.
    explain::CamCache camCache;
    if (camVolumes > 0) {
        const auto dir = explain::camCacheDir(where.workspace, ckpt, layer, camMethodName);
        camCache = explain::readCamCache(dir);
        camCache.dir = dir;
        camCache.model = ckpt.string();
        camCache.layer = layer;
        camCache.method = camMethodName;
        fs::create_directories(out / "cams");
    }
    const fs::path camDir = camCache.dir;

    std::ostringstream csv;
    csv << c.get<std::string>("data.id_column");
    for (const auto& l : labels) csv << ',' << data::csvField(l);
    for (const auto& l : labels) csv << ',' << data::csvField(l + ".decision");
    csv << '\n';
    Json preds = Json::array();
    std::vector<double> positives(labels.size(), 0);
    double seconds = 0;
    for (std::size_t n = 0; n < rows.size(); ++n) {
        job.throwIfCancelled();
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<data::PreparedVolume> grid;
        auto s = loadSamples({rows[n]}, source, 1, job, "", &grid);
        const auto& pv = grid[0];
        const auto x = s[0].volume.unsqueeze(0);
        const bool cam = static_cast<int>(n) < camVolumes;
        torch::Tensor features, logits;
        {
            train::AutocastScope autocast(bf16);
            if (cam) {
                features = model->forwardFeatures(x, camStage).detach().to(torch::kFloat).requires_grad_(true);
                logits = model->forwardHead(features, camStage).to(torch::kFloat);
            } else {
                torch::NoGradGuard g;
                logits = model->forward(x).to(torch::kFloat);
            }
        }
        const auto probs = torch::sigmoid(logits.detach()).to(torch::kDouble).contiguous();
        const auto pa = probs.accessor<double, 2>();
        csv << data::csvField(rows[n].id);
        Json jp = Json::object(), jd = Json::object(), jc = Json::object();
        std::vector<int> decisions;
        for (std::size_t k = 0; k < labels.size(); ++k) {
            const double p = pa[0][static_cast<std::int64_t>(k)];
            csv << ',' << fixed(p);
            jp[labels[k]] = p;
            decisions.push_back(p >= thr.values[k] ? 1 : 0);
            positives[k] += decisions.back();
        }
        for (std::size_t k = 0; k < labels.size(); ++k) {
            csv << ',' << decisions[k];
            jd[labels[k]] = decisions[k];
        }
        csv << '\n';
        if (cam) {
            for (std::size_t k = 0; k < labels.size(); ++k) {
                const bool wanted = camLabels.empty() ? decisions[k] == 1
                                                      : std::find(camLabels.begin(), camLabels.end(), labels[k]) != camLabels.end();
                if (!wanted) continue;
                // explain::camFromFeatures (Grad-CAM: weights = spatial mean of d logit / d
                // features, CAM = ReLU(sum_c w_c F_c)); raw, at feature resolution (d, h, w).
                const auto raw = explain::camFromFeatures(features, logits.select(1, static_cast<std::int64_t>(k)),
                                                          camMethod)[0].contiguous();
                explain::Heatmap h;
                for (auto d : raw.sizes()) h.shape.push_back(static_cast<std::size_t>(d));
                h.values.assign(raw.data_ptr<float>(), raw.data_ptr<float>() + raw.numel());
                explain::CamEntry e;
                e.id = rows[n].id;
                e.label = labels[k];
                e.target = static_cast<int>(k);
                e.file = explain::camFileName(e.id, e.label);
                e.score = logits[0][static_cast<std::int64_t>(k)].item<double>();
                e.rawMin = *std::min_element(h.values.begin(), h.values.end());
                e.rawMax = *std::max_element(h.values.begin(), h.values.end());
                e.inputH = static_cast<std::size_t>(pv.ny);
                e.inputW = static_cast<std::size_t>(pv.nx);
                e.inputD = static_cast<std::size_t>(pv.nz);
                e.prob = pa[0][static_cast<std::int64_t>(k)];
                explain::saveCam(h, e, camDir);
                camCache.entries.erase(std::remove_if(camCache.entries.begin(), camCache.entries.end(),
                                                      [&](const explain::CamEntry& x) { return x.id == e.id && x.label == e.label; }),
                                       camCache.entries.end());
                camCache.entries.push_back(e);
                // For the viewer: upsampled to the prepared grid, min-max normalised, as NIfTI.
                const auto up = explain::normalised(explain::upsample(
                    h, {static_cast<std::size_t>(pv.nz), static_cast<std::size_t>(pv.ny), static_cast<std::size_t>(pv.nx)}));
                const auto name = safeName(stemOf(rows[n].id)) + "__" + safeName(labels[k]);
                const fs::path nii = out / "cams" / (name + ".nii.gz");
                io::writeNifti(nii, pv.toImageVolume(up.values));
                jc[labels[k]] = fs::relative(nii, out).string();
            }
        }
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        Json row;
        row[c.get<std::string>("data.id_column")] = rows[n].id;
        row["probabilities"] = jp;
        row["decisions"] = jd;
        if (cam) row["cams"] = jc;
        preds.push_back(row);
        job.progress(static_cast<double>(n + 1) / rows.size(), "inference " + std::to_string(n + 1) + "/" + std::to_string(rows.size()));
    }
    util::writeFileAtomically(out / "preds.csv", csv.str());
    Json doc;
    doc["task"] = "ct_multilabel";
    doc["checkpoint"] = ckpt.string();
    doc["preprocessing"] = Json::parse(prep.toJson());
    doc["labels"] = labels;
    doc["thresholds"] = thresholdsJson(thr, labels);
    if (!thrFile.empty()) doc["thresholds"]["file"] = thrFile.string();
    if (camVolumes > 0)
        doc["cam"] = {{"method", camMethodName}, {"layer", layer}, {"cache_dir", camDir.string()}, {"volumes", "cams/"},
                      {"volume_format", "NIfTI float32 on the prepared grid (RAS), min-max normalised"}};
    doc["seconds_per_volume"] = rows.empty() ? 0.0 : seconds / rows.size();
    doc["predictions"] = preds;
    util::writeFileAtomically(out / "preds.json", doc.dump(1) + "\n");
    if (camVolumes > 0) explain::writeCamCacheIndex(camCache);
    job.artifact("predictions", (out / "preds.csv").string());
    job.artifact("predictions_json", (out / "preds.json").string());
    if (camVolumes > 0) {
        job.artifact("cams", (out / "cams").string());
        job.artifact("cam_cache", camDir.string());
    }
    double rate = 0;
    for (double p : positives) rate += p;
    rate = rows.empty() ? 0 : rate / (static_cast<double>(rows.size()) * labels.size());
    return std::to_string(rows.size()) + " volumes, positive rate " + fixed(rate, 3) + ", " +
           fixed(rows.empty() ? 0 : seconds / rows.size(), 3) + " s/volume -> " + (out / "preds.csv").string();
}

}  // namespace lumen::ct
