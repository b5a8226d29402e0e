#pragma once
// Per-column evaluation of a wide predictions table whose columns are binary scores or
// regression values, grouped into heads (the angiography model's 18 segments × 5 heads,
// docs/metrics.md "Per-column reports"): AUROC, AUPRC (average precision) and the confusion
// numbers at the g-mean-optimal threshold for a binary column; MAE, RMSE and Pearson r for a
// regression column; macro means per group; and percentile bootstrap intervals for all of them
// from the same resamples of whole rows (studies).

#include "metrics/bootstrap.h"
#include "metrics/classification.h"
#include "metrics/regression.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace lumen::metrics {

enum class ColumnKind { Binary, Regression };

struct ColumnSpec {
    std::string name;
    ColumnKind kind = ColumnKind::Binary;
    std::string group;  ///< e.g. the head, "stenosis_binary"; macro means are per group
};

struct ColumnReport {
    ColumnSpec spec;
    std::size_t n = 0, positives = 0;     ///< rows with both values; positives (binary)
    MetricValue auroc, auprc, threshold;  ///< binary; threshold = g-mean-optimal, chosen on these rows
    ThresholdMetrics atThreshold;         ///< binary, at `threshold` (fixed in the resamples)
    RegressionReport regression;          ///< regression
    /// "auroc", "auprc", "sensitivity", "specificity" (binary) or "mae", "rmse", "pearson".
    std::map<std::string, ConfidenceInterval> intervals;
};

struct GroupReport {
    std::string name;
    ColumnKind kind = ColumnKind::Binary;  ///< that of its columns
    std::size_t columns = 0;               ///< columns whose AUROC (binary) / MAE (regression) is defined
    MetricValue macroAuroc, macroAuprc;    ///< binary groups
    MetricValue mae;                       ///< regression groups: over every labelled cell pooled
    std::map<std::string, ConfidenceInterval> intervals;  ///< "macro_auroc", "macro_auprc" / "mae"
};

struct ColumnsReport {
    std::size_t rows = 0;
    std::vector<ColumnReport> columns;
    std::vector<GroupReport> groups;  ///< in order of first appearance
    BootstrapOptions bootstrap;
};

/// `truth[c][row]`, `score[c][row]` (NaN = not labelled / no prediction: that cell is left out
/// of its column only). Binary truths must be 0/1 (an error names the column and row).
/// `bootstrap.resamples` 0 computes no intervals.
ColumnsReport evaluateColumns(const std::vector<std::vector<double>>& truth,
                              const std::vector<std::vector<double>>& score, const std::vector<ColumnSpec>& columns,
                              const BootstrapOptions& bootstrap, jobs::JobContext* job = nullptr);

/// {"rows", "bootstrap": {...}, "columns": {name: {...}}, "groups": {name: {...}}}; a missing
/// value is null with its reason under "missing".
nlohmann::json toJson(const ColumnsReport& report);

}  // namespace lumen::metrics
