#pragma once
// A multi-label report with optional bootstrap intervals, and its JSON form (the format of
// `lumen-cli metrics --json`, docs/metrics.md). Shared by the CLI and the Metrics panel.

#include "metrics/bootstrap.h"
#include "metrics/classification.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace lumen::metrics {

/// Interval per metric key: per label "auroc", "average_precision", "precision", "recall",
/// "specificity", "npv", "f1", "positive_rate", "brier", "ece"; overall "macro_auroc",
/// "macro_f1", "micro_auroc", "hamming_loss".
struct MultiLabelIntervals {
    std::vector<std::map<std::string, ConfidenceInterval>> labels;
    std::map<std::string, ConfidenceInterval> overall;
    BootstrapOptions options;
};

/// The value of a per-label metric by its JSON key (missing for an unknown key).
MetricValue labelMetric(const LabelReport& label, const std::string& key);
/// The per-label keys that get intervals, in report order.
const std::vector<std::string>& intervalKeys();

/// Resamples whole rows (all labels together) and re-evaluates each resample.
MultiLabelIntervals bootstrapMultiLabel(const std::vector<std::vector<double>>& truth,
                                        const std::vector<std::vector<double>>& score,
                                        const std::vector<std::string>& names, const std::vector<double>& thresholds,
                                        const EvaluationOptions& options, const BootstrapOptions& bootstrap,
                                        jobs::JobContext* job = nullptr);

/// Missing values are null; their reasons go to a "missing" object beside them.
nlohmann::json toJson(const MultiLabelReport& report, const MultiLabelIntervals* intervals = nullptr);

}  // namespace lumen::metrics
