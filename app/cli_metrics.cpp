// lumen-cli metrics: classification and calibration metrics of a predictions table against a
// labels table (definitions and JSON format: docs/metrics.md).
#include "cli_command.h"
#include "cli_progress.h"

#include "data/numeric_table.h"
#include "metrics/labelled_predictions.h"
#include "metrics/metrics_report.h"
#include "util/atomic_file.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace lumen::cli {
namespace {

// One threshold per label from a CSV: first column the label name, then a column
// "threshold" (or a single numeric column).
std::vector<double> readThresholds(const std::string& path, const std::vector<std::string>& names) {
    const data::NumericTable t = data::readNumericCsv(path);
    int column = t.columnIndex("threshold");
    if (column < 0 && t.columns.size() == 1) column = 0;
    if (column < 0)
        throw data::TableError(path + ": expected a column \"threshold\" beside the label column \"" + t.idName + "\"");
    std::vector<double> out;
    for (const auto& name : names) {
        std::size_t row = 0;
        while (row < t.ids.size() && t.ids[row] != name) ++row;
        if (row == t.ids.size()) throw data::TableError(path + ": no threshold for label \"" + name + "\"");
        const double v = t.values[std::size_t(column)][row];
        if (!std::isfinite(v)) throw data::TableError(path + ": label \"" + name + "\": threshold is missing");
        out.push_back(v);
    }
    return out;
}

std::string cell(const metrics::MetricValue& v) {
    if (!v.has()) return "     -";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%6.3f", *v.value);
    return buf;
}

std::string listSome(const std::vector<std::string>& ids) {
    std::string s;
    for (std::size_t i = 0; i < ids.size() && i < 5; ++i) s += (i ? ", " : "") + ids[i];
    if (ids.size() > 5) s += ", …";
    return s;
}

void printTable(const metrics::MultiLabelReport& r) {
    std::printf("%-24s %7s %6s %6s %6s %6s %6s %6s %6s %6s %6s\n", "label", "n", "AUROC", "AP", "sens", "spec", "PPV",
                "NPV", "F1", "Brier", "ECE");
    for (const auto& l : r.labels) {
        const auto& t = l.atThreshold;
        std::printf("%-24.24s %7zu %s %s %s %s %s %s %s %s %s\n", l.name.c_str(), l.n, cell(l.auroc).c_str(),
                    cell(l.averagePrecision).c_str(), cell(t.recall).c_str(), cell(t.specificity).c_str(),
                    cell(t.precision).c_str(), cell(t.npv).c_str(), cell(t.f1).c_str(), cell(l.brier).c_str(),
                    cell(l.ece).c_str());
    }
    std::printf("macro AUROC %s  micro AUROC %s  macro F1 %s  Hamming accuracy %s  pooled ECE %s  (n = %zu)\n",
                cell(r.macroAuroc).c_str(), cell(r.microAuroc).c_str(), cell(r.macroF1).c_str(),
                cell(r.hammingAccuracy).c_str(), cell(r.pooledEce).c_str(), r.n);
    for (const auto& l : r.labels)
        if (!l.auroc.has()) std::printf("%s: AUROC %s\n", l.name.c_str(), l.auroc.reason.c_str());
}

constexpr const char* kMetricsUsage = R"(Usage: lumen-cli metrics --labels L.csv --preds P.csv [--id COLUMN]
                         [--threshold 0.5 | --thresholds T.csv] [--bins 15]
                         [--bootstrap N] [--seed S] [--json OUT.json]

Per-label AUROC, average precision, precision/recall/specificity/NPV/F1 and positive rate at a
threshold, Brier score, ECE, best thresholds by F1 and Youden's J; macro and micro AUROC, macro
F1, Hamming loss. Definitions: docs/metrics.md.
  --labels L.csv      id column + one 0/1 column per label
  --preds P.csv       id column + one probability column per label (same names)
  --id COLUMN         the id column of both tables (default: each table's first column)
  --threshold T       decision threshold for all labels (default 0.5), p >= T is positive
  --thresholds T.csv  per-label thresholds: label name column, then a "threshold" column
  --bins N            equal-width calibration bins (default 15)
  --bootstrap N       percentile 95 % confidence intervals from N resamples of the rows
  --seed S            bootstrap seed (default 0)
  --json OUT.json     write the full report as JSON (missing values as null)
Rows are joined on the id in any order; ids in only one table are reported and left out.
A missing cell leaves that row out for that label only.
)";

}  // namespace

Command metricsCommand() {
    Command c;
    c.name = "metrics";
    c.summary = "metrics --labels L.csv --preds P.csv: AUROC, F1, calibration per label";
    c.usage = kMetricsUsage;
    c.valueOptions = {"labels", "preds", "id", "threshold", "thresholds", "bins", "bootstrap", "seed", "json"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() != 1) throw UsageError("metrics takes no positional arguments");
        const auto labelsPath = args.value("labels");
        const auto predsPath = args.value("preds");
        if (!labelsPath || !predsPath) throw UsageError("metrics needs --labels L.csv and --preds P.csv");
        if (args.has("threshold") && args.has("thresholds"))
            throw UsageError("give either --threshold or --thresholds, not both");
        if (auto jsonPath = args.value("json"))
            for (const char* input : {"labels", "preds", "thresholds"})
                if (auto in = args.value(input); in && util::samePath(*jsonPath, *in)) {
                    std::cerr << "lumen-cli: error: --json " << *jsonPath << " is the --" << input << " input " << *in
                              << "; refusing to overwrite an input\n";
                    return kError;
                }
        const double threshold = args.number("threshold").value_or(0.5);
        metrics::EvaluationOptions options;
        if (auto bins = args.integer("bins")) {
            if (*bins < 1 || *bins > 100000)
                throw UsageError("--bins: expected 1 to 100000, got " + std::to_string(*bins));
            options.calibrationBins = int(*bins);
        }
        const auto resamples = args.integer("bootstrap");
        if (resamples && (*resamples < 1 || *resamples > 1000000))
            throw UsageError("--bootstrap: expected 1 to 1000000 resamples");
        metrics::BootstrapOptions bootstrap;
        if (resamples) bootstrap.resamples = int(*resamples);
        if (auto seed = args.integer("seed")) bootstrap.seed = std::uint64_t(*seed);

        metrics::MultiLabelReport report;
        metrics::MultiLabelIntervals intervals;
        metrics::LabelledPredictions data;
        const auto info = runWithProgress("metrics", "metrics", [&](jobs::JobContext& job) {
            data = metrics::loadLabelledPredictions(*labelsPath, *predsPath, args.value("id").value_or(""), &job);
            if (!data.onlyInLabels.empty())
                job.warning(std::to_string(data.onlyInLabels.size()) + " id(s) only in " + *labelsPath + ": " +
                            listSome(data.onlyInLabels));
            if (!data.onlyInPredictions.empty())
                job.warning(std::to_string(data.onlyInPredictions.size()) + " id(s) only in " + *predsPath + ": " +
                            listSome(data.onlyInPredictions));
            if (!data.ignoredColumns.empty()) job.info("columns left out: " + listSome(data.ignoredColumns));
            const std::vector<double> thresholds = args.has("thresholds")
                                                       ? readThresholds(*args.value("thresholds"), data.names)
                                                       : std::vector<double>{threshold};
            job.progress(0.5, "evaluating");
            report = metrics::evaluateMultiLabel(data.truth, data.score, data.names, thresholds, options);
            if (resamples)
                intervals = metrics::bootstrapMultiLabel(data.truth, data.score, data.names, thresholds, options,
                                                         bootstrap, &job);
            return std::string("ok");
        });
        if (info.state != jobs::JobState::Finished) {
            std::cerr << "lumen-cli: metrics " << jobs::jobStateName(info.state) << ": " << info.outcome << "\n";
            return kError;
        }
        for (const auto& l : report.labels)
            if (l.dropped)
                std::cerr << "lumen-cli: note: " << l.name << ": " << l.dropped
                          << " row(s) with a missing value left out\n";
        printTable(report);
        if (auto jsonPath = args.value("json")) {
            nlohmann::json j = metrics::toJson(report, resamples ? &intervals : nullptr);
            j["labels_file"] = *labelsPath;
            j["predictions_file"] = *predsPath;
            j["bins"] = options.calibrationBins;
            j["ids_only_in_labels"] = data.onlyInLabels.size();
            j["ids_only_in_predictions"] = data.onlyInPredictions.size();
            try {
                util::writeFileAtomically(*jsonPath, j.dump(2) + "\n");
            } catch (const std::exception& e) {
                std::cerr << "lumen-cli: error: " << e.what() << "\n";
                return kError;
            }
        }
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
