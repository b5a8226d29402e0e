// The model card's document (sections, tables, plots) from its numbers (docs/cards.md).
#include "report/model_card_detail.h"

#include "metrics/classification.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>

namespace lumen::report::detail {
namespace {

namespace fs = std::filesystem;

std::string value(const metrics::MetricValue& v) { return v.has() ? formatNumber(*v.value) : "n/a"; }

std::string withInterval(const metrics::MetricValue& v, const ModelCard& card, std::size_t label,
                         const std::string& key) {
    std::string s = value(v);
    if (label < card.intervals.labels.size()) {
        const auto it = card.intervals.labels[label].find(key);
        if (it != card.intervals.labels[label].end() && it->second.lower && it->second.upper)
            s += " [" + formatNumber(*it->second.lower) + ", " + formatNumber(*it->second.upper) + "]";
    }
    return s;
}

std::string overallWithInterval(const metrics::MetricValue& v, const ModelCard& card, const std::string& key) {
    std::string s = value(v);
    const auto it = card.intervals.overall.find(key);
    if (it != card.intervals.overall.end() && it->second.lower && it->second.upper)
        s += " [" + formatNumber(*it->second.lower) + ", " + formatNumber(*it->second.upper) + "]";
    return s;
}

std::string runLabel(const std::optional<runs::RunRecord>& r) {
    return r ? "run " + std::to_string(r->id) + " (" + r->task + ", " + r->name + ", " +
                   runs::runStatusName(r->status) + ")"
             : "not found";
}

void modelSection(CardDocument& doc, const ModelCard& card) {
    auto& s = doc.add("Model");
    Table t{{"item", "value"}, {}};
    t.rows.push_back({"task", card.run.task});
    t.rows.push_back({"training run", runLabel(card.train)});
    t.rows.push_back({"inference run (evaluated predictions)", runLabel(card.infer)});
    if (card.train) {
        t.rows.push_back({"training started", utcTime(card.train->createdAtMs)});
        t.rows.push_back({"training finished", utcTime(card.train->finishedAtMs)});
        t.rows.push_back({"training outcome", card.train->outcome});
    }
    t.rows.push_back({"checkpoint", card.checkpoint.empty() ? "not recorded" : card.checkpoint.filename().string()});
    t.rows.push_back({"checkpoint SHA-256", card.checkpointSha256.empty() ? "n/a" : card.checkpointSha256});
    if (!card.torchscript.empty()) {
        t.rows.push_back({"TorchScript model", card.torchscript.filename().string()});
        t.rows.push_back({"TorchScript SHA-256", card.torchscriptSha256});
    }
    s.table(std::move(t));
}

void userSections(CardDocument& doc) {
    doc.add("Intended use")
        .placeholder(
            "Describe the intended use: the clinical question, the population and setting, the intended users, "
            "and uses that are out of scope.");
    doc.add("Limitations")
        .placeholder(
            "Describe known limitations: populations, devices and sites not represented in the data, failure "
            "modes seen in evaluation, and the conditions under which the metrics below do not apply.");
}

void dataSection(CardDocument& doc, const ModelCard& card, const ModelCardOptions& options) {
    auto& s = doc.add("Data");
    if (!card.manifestFile.empty())
        s.paragraph("Manifest `" + card.manifestFile.filename().string() + "`, SHA-256 `" + card.manifestSha256 + "`.");
    if (!card.labelsFile.empty())
        s.paragraph("Labels table `" + card.labelsFile.filename().string() + "`, SHA-256 `" + card.labelsSha256 + "`.");
    if (card.splits) {
        Table counts{{"split", "images", "patients"}, {}};
        for (const auto& sc : card.splits->splits)
            counts.rows.push_back(
                {sc.name.empty() ? "(none)" : sc.name, std::to_string(sc.images), std::to_string(sc.patients)});
        counts.rows.push_back({"all", std::to_string(card.splits->images), std::to_string(card.splits->patients)});
        s.table(std::move(counts));
        Table proof{{"splits", "patients in both", "images in both"}, {}};
        for (const auto& o : card.splits->overlaps) {
            std::string shared = std::to_string(o.patients);
            if (options.includeIds && !o.firstPatients.empty()) {
                shared += " (";
                for (std::size_t i = 0; i < o.firstPatients.size(); ++i) shared += (i ? ", " : "") + o.firstPatients[i];
                shared += ")";
            }
            proof.rows.push_back({o.a + " / " + o.b, shared, std::to_string(o.images)});
        }
        s.paragraph(std::string("**Patient-level split proof** (computed from the manifest): ") +
                    (card.splits->disjoint() ? "no patient and no image is in two splits."
                                             : "SPLITS OVERLAP: a patient or an image is in two splits."));
        if (!proof.rows.empty()) s.table(std::move(proof));
    }
    if (card.balance) {
        Table t{{"label"}, {}};
        for (const auto& sp : card.balance->splits) t.header.push_back((sp.empty() ? "(none)" : sp) + " positives");
        for (std::size_t l = 0; l < card.balance->labels.size(); ++l) {
            std::vector<std::string> row{card.balance->labels[l]};
            for (std::size_t sp = 0; sp < card.balance->splits.size(); ++sp)
                row.push_back(std::to_string(card.balance->positives[sp][l]) + " / " +
                              std::to_string(card.balance->images[sp]));
            t.rows.push_back(std::move(row));
        }
        s.paragraph("Label balance (positives / images per split):");
        s.table(std::move(t));
    }
}

void configSection(CardDocument& doc, const ModelCard& card) {
    auto& s = doc.add("Training configuration");
    const runs::RunRecord& r = card.train ? *card.train : card.run;
    s.paragraph("Config hash (SHA-256 of the canonical effective config): `" + r.configHash +
                "`. Seed: " + (card.seed.empty() ? "not set" : card.seed) + ".");
    s.code(r.configYaml);
}

std::vector<std::string> metricHeader() {
    return {"label",       "n",           "positives", "AUROC [95% CI]", "AP [95% CI]",
            "sensitivity", "specificity", "F1",        "Brier",          "ECE"};
}

void metricsSection(CardDocument& doc, const ModelCard& card, const ModelCardData& data) {
    auto& s = doc.add("Metrics");
    std::string splits;
    for (const auto& e : card.evaluatedSplits) splits += (splits.empty() ? "" : ", ") + e;
    s.paragraph("Predictions `" + card.predictionsFile.filename().string() + "` (SHA-256 `" + card.predictionsSha256 +
                "`) joined with the truths on the id: " + std::to_string(card.metrics.n) + " rows (" + splits + "); " +
                std::to_string(card.onlyInPredictions) +
                " predicted ids without a truth. Intervals: percentile bootstrap, " +
                std::to_string(card.intervals.options.resamples) + " resamples of the rows, seed " +
                std::to_string(card.intervals.options.seed) + ". Decisions `p >= threshold` at the thresholds below.");
    Table t{metricHeader(), {}};
    for (std::size_t l = 0; l < card.metrics.labels.size(); ++l) {
        const auto& r = card.metrics.labels[l];
        t.rows.push_back({r.name, std::to_string(r.n), std::to_string(r.positives),
                          withInterval(r.auroc, card, l, "auroc"),
                          withInterval(r.averagePrecision, card, l, "average_precision"),
                          withInterval(r.atThreshold.recall, card, l, "recall"),
                          withInterval(r.atThreshold.specificity, card, l, "specificity"),
                          withInterval(r.atThreshold.f1, card, l, "f1"), value(r.brier), value(r.ece)});
    }
    s.table(std::move(t));
    s.bullets({"macro AUROC: " + overallWithInterval(card.metrics.macroAuroc, card, "macro_auroc"),
               "micro AUROC: " + overallWithInterval(card.metrics.microAuroc, card, "micro_auroc"),
               "macro F1: " + overallWithInterval(card.metrics.macroF1, card, "macro_f1"),
               "Hamming loss: " + overallWithInterval(card.metrics.hammingLoss, card, "hamming_loss")});
    Plot roc{Plot::Kind::Line, "ROC curves", "false positive rate", "true positive rate", {}, true, true};
    for (std::size_t l = 0; l < data.names.size() && l < 15; ++l) {
        const auto pairs = metrics::dropMissing(data.truth[l], data.score[l]);
        if (!card.metrics.labels[l].auroc.has()) continue;
        const auto c = metrics::rocCurve(pairs.truth, pairs.score);
        roc.series.push_back({data.names[l], c.fpr, c.tpr});
    }
    if (!roc.series.empty()) s.plot(std::move(roc));
}

Plot reliabilityPlot(const std::vector<double>& truth, const std::vector<double>& before,
                     const std::vector<double>& after) {
    Plot p{Plot::Kind::Line,
           "Reliability diagram (all labels pooled)",
           "mean predicted probability",
           "observed frequency",
           {},
           true,
           true};
    for (const auto& [name, probs] : {std::pair{"before", &before}, std::pair{"after temperature scaling", &after}}) {
        Plot::Series series{name, {}, {}};
        for (const auto& bin : metrics::reliabilityDiagram(truth, *probs)) {
            series.x.push_back(bin.meanProbability);
            series.y.push_back(bin.observedFrequency);
        }
        p.series.push_back(std::move(series));
    }
    return p;
}

void calibrationSection(CardDocument& doc, const ModelCard& card, const ModelCardData& data) {
    auto& s = doc.add("Calibration");
    s.paragraph("Temperature scaling: one temperature T for all labels, p' = sigmoid(logit(p) / T), " +
                card.temperatureRows + ".");
    s.table({{"", "before", "after"},
             {{"temperature", "1", formatNumber(card.temperature.temperature)},
              {"NLL (fit rows)", formatNumber(card.temperature.nllBefore), formatNumber(card.temperature.nllAfter)},
              {"ECE, 15 bins (pooled)", formatNumber(card.eceBefore), formatNumber(card.eceAfter)},
              {"Brier (pooled)", formatNumber(card.brierBefore), formatNumber(card.brierAfter)}}});
    if (card.temperature.atBound) s.paragraph("The fitted temperature lies on the search bound [0.05, 20].");
    Table t{{"label", "ECE before", "ECE after"}, {}};
    for (std::size_t l = 0; l < data.names.size(); ++l)
        t.rows.push_back({data.names[l], formatNumber(card.labelEceBefore[l]), formatNumber(card.labelEceAfter[l])});
    s.table(std::move(t));
    const auto after = metrics::applyTemperature(data.evalScore, card.temperature.temperature);
    if (!data.evalTruth.empty()) s.plot(reliabilityPlot(data.evalTruth, data.evalScore, after));
}

void thresholdSection(CardDocument& doc, const ModelCard& card) {
    auto& s = doc.add("Thresholds");
    s.paragraph("Decision thresholds: " + card.thresholdSource +
                ". For reference, the thresholds that maximise F1 and Youden's J on the evaluated rows (in-sample).");
    Table t{{"label", "threshold", "best F1 threshold", "best Youden threshold"}, {}};
    for (std::size_t l = 0; l < card.metrics.labels.size(); ++l) {
        const auto& r = card.metrics.labels[l];
        t.rows.push_back(
            {r.name, formatNumber(card.thresholds[l]), value(r.bestThresholdF1), value(r.bestThresholdYouden)});
    }
    s.table(std::move(t));
}

void trainingMetricsSection(CardDocument& doc, const ModelCard& card) {
    if (card.trainingMetrics.empty()) return;
    auto& s = doc.add("Training metrics (run store)");
    Table t{{"metric", "points", "last", "min", "max"}, {}};
    for (const auto& m : card.trainingMetrics) {
        if (m.key.rfind("grad_norm.", 0) == 0) continue;  // one per module: many rows, little to read
        t.rows.push_back(
            {m.key, std::to_string(m.count), formatNumber(m.last), formatNumber(m.min), formatNumber(m.max)});
    }
    s.table(std::move(t));
}

void environmentSections(CardDocument& doc, const ModelCard& card) {
    const runs::RunRecord& r = card.train ? *card.train : card.run;
    const auto env = flattenEnvironment(r.environmentJson);
    auto& e = doc.add("Environment");
    Table t{{"key", "value"}, {}};
    for (const auto& [k, v] : env) t.rows.push_back({k, v});
    if (t.rows.empty()) e.paragraph("The run recorded no environment.");
    else e.table(std::move(t));
    auto find = [&](const std::string& key) {
        for (const auto& [k, v] : env)
            if (k == key) return v;
        return std::string("not recorded");
    };
    auto& rr = doc.add("Reproducibility record");
    rr.table({{"item", "value"},
              {{"run", std::to_string(r.id) + " (" + r.task + ")"},
               {"config hash", r.configHash},
               {"seed", card.seed.empty() ? "not set" : card.seed},
               {"Lumen version", find("lumen.version")},
               {"build type", find("lumen.build_type")},
               {"git commit", find("git.commit")},
               {"compiler", find("compiler")},
               {"LibTorch", find("libraries.libtorch")},
               {"checkpoint SHA-256", card.checkpointSha256.empty() ? "n/a" : card.checkpointSha256},
               {"predictions SHA-256", card.predictionsSha256},
               {"data SHA-256", card.manifestFile.empty() ? card.labelsSha256 : card.manifestSha256}}});
    rr.paragraph(
        "To reproduce: `lumen-cli train --config config.yaml` with the configuration above (its hash must "
        "equal the config hash) in the environment above; `lumen-cli audit` compares the new predictions "
        "with these.");
}

}  // namespace

std::string utcTime(std::int64_t ms) {
    if (ms <= 0) return "";
    const std::time_t t = std::time_t(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

std::vector<std::pair<std::string, std::string>> flattenEnvironment(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception&) {
        if (!text.empty()) out.push_back({"environment", text});
        return out;
    }
    std::function<void(const std::string&, const nlohmann::json&)> walk = [&](const std::string& key,
                                                                              const nlohmann::json& v) {
        if (v.is_object()) {
            for (const auto& [k, child] : v.items()) walk(key.empty() ? k : key + "." + k, child);
        } else if (v.is_null()) {
            return;
        } else {
            out.push_back({key, v.is_string() ? v.get<std::string>() : v.dump()});
        }
    };
    walk("", j);
    return out;
}

CardDocument modelCardDocument(const ModelCard& card, const ModelCardData& data, const ModelCardOptions& options) {
    CardDocument doc;
    doc.title = "Model card: " + card.run.task + ", run " + std::to_string(card.run.id);
    doc.subtitle =
        "Generated by Lumen from the workspace run store. Numbers are computed by Lumen's metrics "
        "engine from the run's files; sections marked " +
        std::string(kPlaceholderMarker) + " are for the model's authors to write.";
    modelSection(doc, card);
    userSections(doc);
    dataSection(doc, card, options);
    configSection(doc, card);
    metricsSection(doc, card, data);
    calibrationSection(doc, card, data);
    thresholdSection(doc, card);
    trainingMetricsSection(doc, card);
    environmentSections(doc, card);
    return doc;
}

}  // namespace lumen::report::detail
