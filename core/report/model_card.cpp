// The model card's numbers: which runs and files it is about, truths joined with predictions,
// metrics, bootstrap intervals, temperature scaling (docs/cards.md).
#include "report/model_card.h"

#include "data/manifest.h"
#include "data/numeric_table.h"
#include "report/model_card_detail.h"
#include "util/sha256.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

namespace lumen::report {
namespace {

namespace fs = std::filesystem;
using detail::ModelCardData;

// A config value by its dotted key (nested maps, or a flat "a.b" key); null when absent.
YAML::Node configNode(const std::string& yaml, const std::string& key) {
    YAML::Node root;
    try {
        root = YAML::Load(yaml);
    } catch (const YAML::Exception&) {
        return {};
    }
    if (!root.IsMap()) return {};
    if (auto flat = root[key]) return flat;
    YAML::Node node = root;
    std::stringstream parts(key);
    std::string part;
    while (std::getline(parts, part, '.')) {
        if (!node.IsMap()) return {};
        YAML::Node next = node[part];
        if (!next) return {};
        node = next;
    }
    return node;
}

std::string configString(const std::string& yaml, const std::string& key) {
    const YAML::Node n = configNode(yaml, key);
    return n && n.IsScalar() ? n.as<std::string>() : std::string();
}

std::vector<std::string> configList(const std::string& yaml, const std::string& key) {
    const YAML::Node n = configNode(yaml, key);
    std::vector<std::string> out;
    if (n && n.IsSequence())
        for (const auto& item : n) out.push_back(item.as<std::string>());
    return out;
}

std::optional<std::string> lastArtifact(const runs::RunStore& store, std::int64_t run, const std::string& kind) {
    std::optional<std::string> out;
    for (const auto& a : store.artifacts(run))
        if (a.kind == kind) out = a.path;
    return out;
}

bool isUnder(const fs::path& file, const fs::path& folder) {
    const std::string f = fs::absolute(file).lexically_normal().string();
    const std::string d = fs::absolute(folder).lexically_normal().string() + "/";
    return f.rfind(d, 0) == 0;
}

fs::path inWorkspace(const runs::Workspace& ws, const std::string& path) {
    const fs::path p(path);
    return p.is_absolute() ? p : ws.root / p;
}

std::string shaOrNote(const fs::path& file) {
    std::error_code ec;
    if (file.empty()) return {};
    if (!fs::is_regular_file(file, ec)) return "(file missing: " + file.filename().string() + ")";
    return util::sha256File(file);
}

// The training run and the inference run whose predictions the card evaluates.
void findRuns(const runs::RunStore& store, const runs::Workspace& ws, ModelCard& card) {
    const auto isTraining = [&](std::int64_t id) {
        return lastArtifact(store, id, "best_checkpoint") || lastArtifact(store, id, "checkpoint");
    };
    const auto hasPredictions = [&](std::int64_t id) { return lastArtifact(store, id, "predictions").has_value(); };
    if (isTraining(card.run.id)) card.train = card.run;
    if (hasPredictions(card.run.id)) card.infer = card.run;
    const auto all = store.runs();  // newest first
    if (card.train && !card.infer) {
        const fs::path dir = ws.runDir(card.run.id, card.run.task);
        for (const auto& r : all) {
            const std::string ckpt = configString(r.configYaml, "infer.checkpoint");
            if (!ckpt.empty() && hasPredictions(r.id) && isUnder(ckpt, dir)) {
                card.infer = r;
                break;
            }
        }
    }
    if (card.infer && !card.train) {
        const std::string ckpt = configString(card.infer->configYaml, "infer.checkpoint");
        for (const auto& r : all)
            if (!ckpt.empty() && r.id != card.infer->id && isUnder(ckpt, ws.runDir(r.id, r.task))) {
                card.train = r;
                break;
            }
    }
}

void findModelFiles(const runs::RunStore& store, ModelCard& card) {
    std::optional<std::string> ckpt;
    if (card.train) ckpt = lastArtifact(store, card.train->id, "best_checkpoint");
    if (!ckpt && card.infer) {
        const std::string c = configString(card.infer->configYaml, "infer.checkpoint");
        if (!c.empty()) ckpt = c;
    }
    if (!ckpt && card.train) ckpt = lastArtifact(store, card.train->id, "checkpoint");
    if (ckpt) {
        card.checkpoint = *ckpt;
        card.checkpointSha256 = shaOrNote(card.checkpoint);
    }
    if (card.train)
        if (auto ts = lastArtifact(store, card.train->id, "torchscript")) {
            card.torchscript = *ts;
            card.torchscriptSha256 = shaOrNote(card.torchscript);
        }
}

// Truths by id: from a manifest (its label columns) or a labels table.
struct Truths {
    std::unordered_map<std::string, std::size_t> row;
    std::vector<std::vector<double>> value;  ///< [label][row]
    std::vector<std::string> split;          ///< per row ("" for a labels table)
};

Truths truthsOfManifest(const data::Manifest& m, const std::vector<std::string>& names) {
    Truths t;
    t.value.assign(names.size(), std::vector<double>(m.rows.size(), 0.0));
    for (std::size_t l = 0; l < names.size(); ++l)
        if (m.labelIndex(names[l]) < 0)
            throw CardError(m.file.string() + ": label \"" + names[l] + "\" of the run is not in the manifest");
    for (std::size_t i = 0; i < m.rows.size(); ++i) {
        t.row.emplace(m.rows[i].id, i);
        t.split.push_back(m.rows[i].split);
        for (const auto& label : m.rows[i].labels)
            for (std::size_t l = 0; l < names.size(); ++l)
                if (names[l] == label) t.value[l][i] = 1.0;
    }
    return t;
}

Truths truthsOfTable(const fs::path& file, const std::string& idColumn, const std::vector<std::string>& names) {
    data::CsvReadOptions o;
    o.idColumn = idColumn;
    const auto table = data::readNumericCsv(file, o);
    Truths t;
    for (const auto& name : names) {
        const int c = table.columnIndex(name);
        if (c < 0) throw CardError(file.string() + ": no column \"" + name + "\" (a label of the run)");
        t.value.push_back(table.values[std::size_t(c)]);
    }
    for (std::size_t i = 0; i < table.ids.size(); ++i) t.row.emplace(table.ids[i], i);
    t.split.assign(table.ids.size(), "");
    return t;
}

Truths loadTruths(const runs::Workspace& ws, const std::string& yaml, const ModelCardOptions& o, ModelCard& card,
                  std::vector<std::string>& names) {
    if (!o.labels.empty()) {
        card.labelsFile = o.labels;
        card.labelsSha256 = util::sha256File(o.labels);
        if (names.empty()) throw CardError(o.labels.string() + ": the run's config names no labels");
        return truthsOfTable(o.labels, "", names);
    }
    fs::path manifest = o.manifest;
    if (manifest.empty() && !configString(yaml, "data.manifest").empty())
        manifest = inWorkspace(ws, configString(yaml, "data.manifest"));
    if (manifest.empty() && !configString(yaml, "data.nih_dir").empty())
        manifest = ws.root / "manifests" / "nih" / "all.csv";
    if (!manifest.empty()) {
        const data::Manifest m = data::readManifest(manifest);
        if (names.empty()) names = m.labelNames;
        card.manifestFile = manifest;
        card.manifestSha256 = util::sha256File(manifest);
        card.splits = data::splitReport(m);
        card.balance = data::labelBalance(m);
        return truthsOfManifest(m, names);
    }
    const std::string table = configString(yaml, "data.labels_csv");
    if (table.empty())
        throw CardError("run " + std::to_string(card.run.id) +
                        ": its config has no data.manifest, data.nih_dir or data.labels_csv; give the truths "
                        "with --manifest or --labels");
    card.labelsFile = inWorkspace(ws, table);
    card.labelsSha256 = util::sha256File(card.labelsFile);
    return truthsOfTable(card.labelsFile, configString(yaml, "data.id_column"), names);
}

std::string predictionColumn(const data::NumericTable& preds, const std::string& label) {
    for (const auto& c : {label, label + ".prob_full", label + ".prob", label + ".probability"})
        if (preds.columnIndex(c) >= 0) return c;
    throw CardError(preds.path.string() + ": no predictions column for label \"" + label + "\" (looked for \"" + label +
                    "\" and \"" + label + ".prob_full\")");
}

void loadThresholds(const runs::RunStore& store, ModelCard& card, const std::vector<std::string>& names) {
    card.thresholds.assign(names.size(), 0.5);
    card.thresholdSource = "0.5 for every label (the run recorded no thresholds)";
    if (!card.train) return;
    const auto file = lastArtifact(store, card.train->id, "thresholds");
    if (!file) return;
    std::ifstream in(*file);
    if (!in) throw CardError(*file + ": cannot read the run's thresholds");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        throw CardError(*file + ": not JSON: " + e.what());
    }
    for (std::size_t l = 0; l < names.size(); ++l) {
        const auto& t = j["thresholds"];
        if (!t.is_object() || !t.contains(names[l]) || !t[names[l]].is_number())
            throw CardError(*file + ": thresholds." + names[l] + ": missing or not a number");
        card.thresholds[l] = t[names[l]].get<double>();
    }
    card.thresholdSource = fs::path(*file).filename().string() + " of run " + std::to_string(card.train->id);
    if (j.contains("metric") && j["metric"].is_string())
        card.thresholdSource += " (chosen by " + j["metric"].get<std::string>();
    if (j.contains("epoch") && j["epoch"].is_number())
        card.thresholdSource += ", epoch " + std::to_string(j["epoch"].get<long long>()) + ")";
    else if (j.contains("metric")) card.thresholdSource += ")";
}

// Joins predictions with truths (prediction rows in file order); returns each row's split.
std::vector<std::string> join(const data::NumericTable& preds, const Truths& truths, ModelCard& card,
                              ModelCardData& data) {
    const std::size_t labels = data.names.size();
    data.truth.assign(labels, {});
    data.score.assign(labels, {});
    std::vector<int> column;
    for (const auto& c : card.predictionColumns) column.push_back(preds.columnIndex(c));
    std::vector<std::string> splits;
    std::vector<char> seen(truths.split.size(), 0);
    for (std::size_t i = 0; i < preds.ids.size(); ++i) {
        const auto it = truths.row.find(preds.ids[i]);
        if (it == truths.row.end()) {
            ++card.onlyInPredictions;
            continue;
        }
        seen[it->second] = 1;
        splits.push_back(truths.split[it->second]);
        for (std::size_t l = 0; l < labels; ++l) {
            data.truth[l].push_back(truths.value[l][it->second]);
            data.score[l].push_back(preds.values[std::size_t(column[l])][i]);
        }
    }
    for (char s : seen) card.onlyInTruth += s ? 0 : 1;
    if (splits.empty())
        throw CardError(preds.path.string() + ": no id in common with the truths (" +
                        (card.manifestFile.empty() ? card.labelsFile : card.manifestFile).string() + ")");
    std::map<std::string, std::size_t> counts;
    for (const auto& s : splits) ++counts[s];
    for (const auto& [s, n] : counts)
        card.evaluatedSplits.push_back((s.empty() ? "(no split)" : s) + ": " + std::to_string(n));
    return splits;
}

void pool(const ModelCardData& data, const std::vector<char>& use, std::vector<double>& truth,
          std::vector<double>& score) {
    for (std::size_t l = 0; l < data.truth.size(); ++l)
        for (std::size_t i = 0; i < use.size(); ++i)
            if (use[i] && !std::isnan(data.truth[l][i]) && !std::isnan(data.score[l][i])) {
                truth.push_back(data.truth[l][i]);
                score.push_back(data.score[l][i]);
            }
}

// One temperature for all labels: fitted on the validation rows when the predictions hold
// validation and other rows, reported on the others; else fitted and reported on all rows.
void calibrate(ModelCard& card, ModelCardData& data, const std::vector<std::string>& splits) {
    std::vector<char> fit(splits.size()), eval(splits.size());
    std::size_t val = 0;
    for (const auto& s : splits) val += s == "val";
    const bool split = val > 0 && val < splits.size();
    for (std::size_t i = 0; i < splits.size(); ++i) {
        fit[i] = !split || splits[i] == "val";
        eval[i] = !split || splits[i] != "val";
    }
    card.temperatureRows = split ? "fitted on the " + std::to_string(val) + " validation rows, reported on the other " +
                                       std::to_string(splits.size() - val) + " rows"
                                 : "fitted and reported on the same " + std::to_string(splits.size()) +
                                       " rows (no separate validation rows: the \"after\" figures are optimistic)";
    pool(data, fit, data.fitTruth, data.fitScore);
    pool(data, eval, data.evalTruth, data.evalScore);
    card.temperature = metrics::fitTemperature(data.fitTruth, data.fitScore);
    const auto after = metrics::applyTemperature(data.evalScore, card.temperature.temperature);
    card.eceBefore = metrics::expectedCalibrationError(data.evalTruth, data.evalScore).valueOr(NAN);
    card.eceAfter = metrics::expectedCalibrationError(data.evalTruth, after).valueOr(NAN);
    card.brierBefore = metrics::brierScore(data.evalTruth, data.evalScore).valueOr(NAN);
    card.brierAfter = metrics::brierScore(data.evalTruth, after).valueOr(NAN);
    for (std::size_t l = 0; l < data.names.size(); ++l) {
        std::vector<double> t, s;
        for (std::size_t i = 0; i < eval.size(); ++i)
            if (eval[i] && !std::isnan(data.truth[l][i]) && !std::isnan(data.score[l][i])) {
                t.push_back(data.truth[l][i]);
                s.push_back(data.score[l][i]);
            }
        const auto scaled = metrics::applyTemperature(s, card.temperature.temperature);
        card.labelEceBefore.push_back(metrics::expectedCalibrationError(t, s).valueOr(NAN));
        card.labelEceAfter.push_back(metrics::expectedCalibrationError(t, scaled).valueOr(NAN));
    }
}

}  // namespace

ModelCard buildModelCard(const runs::RunStore& store, const runs::Workspace& workspace, std::int64_t id,
                         const ModelCardOptions& options) {
    ModelCard card;
    const auto run = store.run(id);
    if (!run) throw CardError("run " + std::to_string(id) + ": no such run in " + store.file().string());
    card.run = *run;
    findRuns(store, workspace, card);
    findModelFiles(store, card);
    const runs::RunRecord& configRun = card.train ? *card.train : card.run;
    card.seed = configString(configRun.configYaml, "seed");
    if (card.train) card.trainingMetrics = store.metricSummaries(card.train->id);

    ModelCardData data;
    data.names = configList(configRun.configYaml, "labels");
    const std::string dataYaml = card.infer ? card.infer->configYaml : configRun.configYaml;
    const Truths truths = loadTruths(workspace, dataYaml, options, card, data.names);

    if (!options.predictions.empty()) card.predictionsFile = options.predictions;
    else if (card.infer) card.predictionsFile = *lastArtifact(store, card.infer->id, "predictions");
    else
        throw CardError("run " + std::to_string(id) +
                        ": no predictions to evaluate (neither the run nor an inference run of its checkpoints "
                        "recorded a predictions artifact); run `lumen-cli infer` or give --preds");
    const auto preds = data::readNumericCsv(card.predictionsFile);
    card.predictionsSha256 = util::sha256File(card.predictionsFile);
    for (const auto& name : data.names) card.predictionColumns.push_back(predictionColumn(preds, name));
    const auto splits = join(preds, truths, card, data);

    loadThresholds(store, card, data.names);
    card.metrics = metrics::evaluateMultiLabel(data.truth, data.score, data.names, card.thresholds);
    if (options.bootstrapResamples > 0) {
        metrics::BootstrapOptions b;
        b.resamples = options.bootstrapResamples;
        b.seed = options.seed;
        card.intervals = metrics::bootstrapMultiLabel(data.truth, data.score, data.names, card.thresholds, {}, b);
    }
    calibrate(card, data, splits);
    card.document = detail::modelCardDocument(card, data, options);
    return card;
}

}  // namespace lumen::report
