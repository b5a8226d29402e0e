#include "metrics/column_report.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

namespace lumen::metrics {
namespace {

using Optional = std::optional<double>;

Optional opt(const MetricValue& v) { return v.value; }

// The statistics of one column on some rows (each row index may repeat: a resample).
struct ColumnStats {
    MetricValue auroc, auprc, sensitivity, specificity;  // binary
    RegressionReport regression;                         // regression
    std::vector<double> absErrors;                       // regression: for the pooled group MAE
};

ColumnStats columnStats(const std::vector<double>& truth, const std::vector<double>& score, ColumnKind kind,
                        std::span<const std::size_t> rows, std::optional<double> threshold) {
    std::vector<double> t, s;
    t.reserve(rows.size());
    s.reserve(rows.size());
    for (const std::size_t r : rows)
        if (!std::isnan(truth[r]) && !std::isnan(score[r])) t.push_back(truth[r]), s.push_back(score[r]);
    ColumnStats out;
    if (kind == ColumnKind::Regression) {
        out.regression = evaluateRegression(t, s);
        for (std::size_t i = 0; i < t.size(); ++i) out.absErrors.push_back(std::abs(t[i] - s[i]));
        return out;
    }
    out.auroc = auroc(t, s);
    out.auprc = averagePrecision(t, s);
    if (threshold && !t.empty()) {
        const auto at = metricsAtThreshold(t, s, *threshold);
        out.sensitivity = at.recall;
        out.specificity = at.specificity;
    }
    return out;
}

Optional meanOf(const std::vector<double>& v) {
    if (v.empty()) return std::nullopt;
    double sum = 0;
    for (const double x : v) sum += x;
    return sum / double(v.size());
}

// Group values from the columns' stats: macro AUROC / AUPRC (binary) or pooled MAE.
struct GroupStats {
    Optional macroAuroc, macroAuprc, mae;
    std::size_t defined = 0;
};

GroupStats groupStats(const std::vector<ColumnSpec>& specs, const std::vector<ColumnStats>& stats,
                      const std::string& group) {
    std::vector<double> aurocs, auprcs, errors;
    GroupStats g;
    for (std::size_t c = 0; c < specs.size(); ++c) {
        if (specs[c].group != group) continue;
        if (specs[c].kind == ColumnKind::Binary) {
            if (stats[c].auroc.has()) aurocs.push_back(*stats[c].auroc.value), ++g.defined;
            if (stats[c].auprc.has() && stats[c].auroc.has()) auprcs.push_back(*stats[c].auprc.value);
        } else {
            errors.insert(errors.end(), stats[c].absErrors.begin(), stats[c].absErrors.end());
            g.defined += stats[c].regression.mae.has();
        }
    }
    g.macroAuroc = meanOf(aurocs);
    g.macroAuprc = meanOf(auprcs);
    g.mae = meanOf(errors);
    return g;
}

std::vector<std::string> groupNames(const std::vector<ColumnSpec>& specs) {
    std::vector<std::string> names;
    for (const auto& s : specs)
        if (std::find(names.begin(), names.end(), s.group) == names.end()) names.push_back(s.group);
    return names;
}

const std::vector<std::string> kBinaryKeys = {"auroc", "auprc", "sensitivity", "specificity"};
const std::vector<std::string> kRegressionKeys = {"mae", "rmse", "pearson"};
const std::vector<std::string> kBinaryGroupKeys = {"macro_auroc", "macro_auprc"};
const std::vector<std::string> kRegressionGroupKeys = {"mae"};

bool isBinaryGroup(const std::vector<ColumnSpec>& specs, const std::string& group) {
    for (const auto& s : specs)
        if (s.group == group) return s.kind == ColumnKind::Binary;
    return true;
}

// One resample's statistics, flattened: per column its keys, then per group its keys.
std::vector<Optional> flatten(const std::vector<ColumnSpec>& specs, const std::vector<ColumnStats>& stats,
                              const std::vector<std::string>& groups) {
    std::vector<Optional> out;
    for (std::size_t c = 0; c < specs.size(); ++c) {
        const auto& s = stats[c];
        if (specs[c].kind == ColumnKind::Binary)
            out.insert(out.end(), {opt(s.auroc), opt(s.auprc), opt(s.sensitivity), opt(s.specificity)});
        else out.insert(out.end(), {opt(s.regression.mae), opt(s.regression.rmse), opt(s.regression.pearson)});
    }
    for (const auto& g : groups) {
        const auto gs = groupStats(specs, stats, g);
        if (isBinaryGroup(specs, g)) out.insert(out.end(), {gs.macroAuroc, gs.macroAuprc});
        else out.push_back(gs.mae);
    }
    return out;
}

void checkShapes(const std::vector<std::vector<double>>& truth, const std::vector<std::vector<double>>& score,
                 const std::vector<ColumnSpec>& columns) {
    if (truth.size() != columns.size() || score.size() != columns.size())
        throw std::invalid_argument("column report: truths, scores and columns differ in number");
    for (std::size_t c = 0; c < columns.size(); ++c) {
        if (truth[c].size() != truth[0].size() || score[c].size() != truth[0].size())
            throw std::invalid_argument("column report: column " + columns[c].name + " has another row count");
        if (columns[c].kind != ColumnKind::Binary) continue;
        for (std::size_t r = 0; r < truth[c].size(); ++r)
            if (!std::isnan(truth[c][r]) && truth[c][r] != 0.0 && truth[c][r] != 1.0)
                throw std::invalid_argument("column report: column " + columns[c].name + ", row " +
                                            std::to_string(r + 1) + ": a binary label must be 0 or 1, not " +
                                            std::to_string(truth[c][r]));
    }
}

}  // namespace

ColumnsReport evaluateColumns(const std::vector<std::vector<double>>& truth,
                              const std::vector<std::vector<double>>& score, const std::vector<ColumnSpec>& columns,
                              const BootstrapOptions& bootstrap, jobs::JobContext* job) {
    checkShapes(truth, score, columns);
    ColumnsReport report;
    report.bootstrap = bootstrap;
    report.rows = columns.empty() ? 0 : truth[0].size();
    std::vector<std::size_t> all(report.rows);
    for (std::size_t r = 0; r < all.size(); ++r) all[r] = r;
    std::vector<Optional> thresholds(columns.size());
    std::vector<ColumnStats> stats;
    for (std::size_t c = 0; c < columns.size(); ++c) {
        ColumnReport col;
        col.spec = columns[c];
        const auto clean = dropMissing(truth[c], score[c]);
        col.n = clean.truth.size();
        if (columns[c].kind == ColumnKind::Binary) {
            for (const double t : clean.truth) col.positives += t == 1.0;
            col.threshold = bestThresholdGMean(clean.truth, clean.score);
            thresholds[c] = col.threshold.value;
            if (col.threshold.has())
                col.atThreshold = metricsAtThreshold(clean.truth, clean.score, *col.threshold.value);
        }
        stats.push_back(columnStats(truth[c], score[c], columns[c].kind, all, thresholds[c]));
        col.auroc = stats.back().auroc;
        col.auprc = stats.back().auprc;
        col.regression = stats.back().regression;
        report.columns.push_back(std::move(col));
    }
    const auto groups = groupNames(columns);
    for (const auto& g : groups) {
        const auto gs = groupStats(columns, stats, g);
        GroupReport gr;
        gr.name = g;
        gr.kind = isBinaryGroup(columns, g) ? ColumnKind::Binary : ColumnKind::Regression;
        gr.columns = gs.defined;
        const auto value = [](Optional v, const char* why) {
            return v ? MetricValue::of(*v) : MetricValue::missing(why);
        };
        gr.macroAuroc = value(gs.macroAuroc, "undefined: no column with both classes");
        gr.macroAuprc = value(gs.macroAuprc, "undefined: no column with both classes");
        gr.mae = value(gs.mae, "undefined: no labelled cell");
        report.groups.push_back(std::move(gr));
    }
    if (bootstrap.resamples <= 0 || report.rows == 0) return report;
    const auto intervals = bootstrapIntervals(
        report.rows, flatten(columns, stats, groups).size(),
        [&](std::span<const std::size_t> rows) {
            std::vector<ColumnStats> s;
            s.reserve(columns.size());
            for (std::size_t c = 0; c < columns.size(); ++c)
                s.push_back(columnStats(truth[c], score[c], columns[c].kind, rows, thresholds[c]));
            return flatten(columns, s, groups);
        },
        bootstrap, job);
    std::size_t k = 0;
    for (auto& col : report.columns)
        for (const auto& key : col.spec.kind == ColumnKind::Binary ? kBinaryKeys : kRegressionKeys)
            col.intervals[key] = intervals[k++];
    for (auto& g : report.groups)
        for (const auto& key : g.kind == ColumnKind::Binary ? kBinaryGroupKeys : kRegressionGroupKeys)
            g.intervals[key] = intervals[k++];
    return report;
}

namespace {

void put(nlohmann::json& obj, const std::string& key, const MetricValue& v) {
    if (v.has()) {
        obj[key] = *v.value;
    } else {
        obj[key] = nullptr;
        obj["missing"][key] = v.reason;
    }
}

nlohmann::json intervalsJson(const std::map<std::string, ConfidenceInterval>& intervals) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, ci] : intervals) {
        if (ci.lower && ci.upper) out[key] = {*ci.lower, *ci.upper};
        else out[key] = nullptr;
    }
    return out;
}

}  // namespace

nlohmann::json toJson(const ColumnsReport& report) {
    nlohmann::json j;
    j["rows"] = report.rows;
    j["bootstrap"] = {{"resamples", report.bootstrap.resamples},
                      {"seed", report.bootstrap.seed},
                      {"confidence", report.bootstrap.confidence}};
    j["threshold_rule"] = "g-mean: the score maximising sqrt(sensitivity x specificity), chosen on these rows";
    nlohmann::json cols = nlohmann::json::object();
    for (const auto& c : report.columns) {
        nlohmann::json o;
        o["n"] = c.n;
        if (c.spec.kind == ColumnKind::Binary) {
            o["kind"] = "binary";
            o["positives"] = c.positives;
            put(o, "auroc", c.auroc);
            put(o, "auprc", c.auprc);
            put(o, "threshold", c.threshold);
            if (c.threshold.has()) {
                const auto& t = c.atThreshold;
                o["tp"] = t.counts.tp, o["fp"] = t.counts.fp, o["tn"] = t.counts.tn, o["fn"] = t.counts.fn;
                put(o, "sensitivity", t.recall);
                put(o, "specificity", t.specificity);
                put(o, "ppv", t.precision);
                put(o, "npv", t.npv);
                put(o, "f1", t.f1);
            }
        } else {
            o["kind"] = "regression";
            put(o, "mae", c.regression.mae);
            put(o, "rmse", c.regression.rmse);
            put(o, "pearson", c.regression.pearson);
        }
        if (!c.intervals.empty()) o["ci"] = intervalsJson(c.intervals);
        cols[c.spec.name] = std::move(o);
    }
    j["columns"] = std::move(cols);
    nlohmann::json groups = nlohmann::json::object();
    for (const auto& g : report.groups) {
        nlohmann::json o;
        o["columns"] = g.columns;
        if (g.kind == ColumnKind::Regression) {
            put(o, "mae", g.mae);
        } else {
            put(o, "macro_auroc", g.macroAuroc);
            put(o, "macro_auprc", g.macroAuprc);
        }
        if (!g.intervals.empty()) o["ci"] = intervalsJson(g.intervals);
        groups[g.name] = std::move(o);
    }
    j["groups"] = std::move(groups);
    return j;
}

}  // namespace lumen::metrics
