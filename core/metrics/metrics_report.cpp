#include "metrics/metrics_report.h"

#include "jobs/job.h"

namespace lumen::metrics {
namespace {

nlohmann::json valueJson(const MetricValue& v) { return v.has() ? nlohmann::json(*v.value) : nlohmann::json(); }

nlohmann::json intervalJson(const ConfidenceInterval& ci) {
    if (!ci.lower || !ci.upper) return nlohmann::json();
    return nlohmann::json::array({*ci.lower, *ci.upper});
}

}  // namespace

const std::vector<std::string>& intervalKeys() {
    static const std::vector<std::string> keys = {
        "auroc", "average_precision", "precision", "recall", "specificity", "npv",
        "f1",    "positive_rate",     "brier",     "ece"};
    return keys;
}

MetricValue labelMetric(const LabelReport& r, const std::string& key) {
    const auto& t = r.atThreshold;
    if (key == "auroc") return r.auroc;
    if (key == "average_precision") return r.averagePrecision;
    if (key == "precision" || key == "ppv") return t.precision;
    if (key == "recall" || key == "sensitivity") return t.recall;
    if (key == "specificity") return t.specificity;
    if (key == "npv") return t.npv;
    if (key == "f1") return t.f1;
    if (key == "positive_rate") return t.positiveRate;
    if (key == "brier") return r.brier;
    if (key == "ece") return r.ece;
    if (key == "best_threshold_f1") return r.bestThresholdF1;
    if (key == "best_threshold_youden") return r.bestThresholdYouden;
    return MetricValue::missing("unknown metric \"" + key + "\"");
}

MultiLabelIntervals bootstrapMultiLabel(const std::vector<std::vector<double>>& truth,
                                        const std::vector<std::vector<double>>& score,
                                        const std::vector<std::string>& names, const std::vector<double>& thresholds,
                                        const EvaluationOptions& options, const BootstrapOptions& bootstrap,
                                        jobs::JobContext* job) {
    const std::size_t labels = truth.size();
    const std::size_t n = labels ? truth[0].size() : 0;
    const auto& keys = intervalKeys();
    static const std::vector<std::string> overallKeys = {"macro_auroc", "macro_f1", "micro_auroc", "hamming_loss"};
    const std::size_t count = labels * keys.size() + overallKeys.size();
    std::vector<std::vector<double>> t(labels, std::vector<double>(n)), s(labels, std::vector<double>(n));
    auto statistics = [&](std::span<const std::size_t> rows) {
        for (std::size_t l = 0; l < labels; ++l)
            for (std::size_t i = 0; i < rows.size(); ++i) {
                t[l][i] = truth[l][rows[i]];
                s[l][i] = score[l][rows[i]];
            }
        const MultiLabelReport r = evaluateMultiLabel(t, s, names, thresholds, options);
        std::vector<std::optional<double>> out;
        out.reserve(count);
        for (const auto& label : r.labels)
            for (const auto& k : keys) out.push_back(labelMetric(label, k).value);
        out.push_back(r.macroAuroc.value);
        out.push_back(r.macroF1.value);
        out.push_back(r.microAuroc.value);
        out.push_back(r.hammingLoss.value);
        return out;
    };
    const auto cis = bootstrapIntervals(n, count, statistics, bootstrap, job);
    MultiLabelIntervals result;
    result.options = bootstrap;
    result.labels.resize(labels);
    for (std::size_t l = 0; l < labels; ++l)
        for (std::size_t k = 0; k < keys.size(); ++k) result.labels[l][keys[k]] = cis[l * keys.size() + k];
    for (std::size_t k = 0; k < overallKeys.size(); ++k) result.overall[overallKeys[k]] = cis[labels * keys.size() + k];
    return result;
}

nlohmann::json toJson(const MultiLabelReport& report, const MultiLabelIntervals* intervals) {
    using nlohmann::json;
    json labels = json::object();
    for (std::size_t l = 0; l < report.labels.size(); ++l) {
        const auto& r = report.labels[l];
        const auto& t = r.atThreshold;
        json j;
        json missing = json::object();
        auto put = [&](const std::string& key, const MetricValue& v) {
            j[key] = valueJson(v);
            if (!v.has()) missing[key] = v.reason;
        };
        j["n"] = r.n;
        j["dropped"] = r.dropped;
        j["positives"] = r.positives;
        j["threshold"] = t.threshold;
        put("auroc", r.auroc);
        put("average_precision", r.averagePrecision);
        put("precision", t.precision);
        put("recall", t.recall);
        put("sensitivity", t.recall);
        put("specificity", t.specificity);
        put("ppv", t.precision);
        put("npv", t.npv);
        put("f1", t.f1);
        put("positive_rate", t.positiveRate);
        put("brier", r.brier);
        put("ece", r.ece);
        put("best_threshold_f1", r.bestThresholdF1);
        put("best_threshold_youden", r.bestThresholdYouden);
        j["tp"] = t.counts.tp;
        j["fp"] = t.counts.fp;
        j["tn"] = t.counts.tn;
        j["fn"] = t.counts.fn;
        j["missing"] = missing;
        if (intervals && l < intervals->labels.size()) {
            json ci = json::object();
            for (const auto& [key, interval] : intervals->labels[l]) ci[key] = intervalJson(interval);
            j["ci"] = ci;
        }
        labels[r.name] = j;
    }
    json out;
    out["labels"] = labels;
    out["macro"] = {{"auroc", valueJson(report.macroAuroc)},
                    {"f1", valueJson(report.macroF1)},
                    {"brier", valueJson(report.macroBrier)},
                    {"ece", valueJson(report.macroEce)}};
    out["micro_auroc"] = valueJson(report.microAuroc);
    out["pooled_ece"] = valueJson(report.pooledEce);
    out["hamming_loss"] = valueJson(report.hammingLoss);
    out["hamming_accuracy"] = valueJson(report.hammingAccuracy);
    out["n"] = report.n;
    json missing = json::object();
    auto note = [&](const char* key, const MetricValue& v) {
        if (!v.has()) missing[key] = v.reason;
    };
    note("macro.auroc", report.macroAuroc);
    note("macro.f1", report.macroF1);
    note("micro_auroc", report.microAuroc);
    note("hamming_loss", report.hammingLoss);
    out["missing"] = missing;
    if (intervals) {
        json ci = json::object();
        for (const auto& [key, interval] : intervals->overall) ci[key] = intervalJson(interval);
        out["ci"] = ci;
        out["bootstrap"] = {{"resamples", intervals->options.resamples},
                            {"seed", intervals->options.seed},
                            {"confidence", intervals->options.confidence},
                            {"method", "percentile"}};
    }
    return out;
}

}  // namespace lumen::metrics
