#pragma once
// Binary and multi-label classification metrics, defined as scikit-learn defines them
// (docs/metrics.md): AUROC by the trapezoid over distinct thresholds (ties handled as in
// roc_auc_score), average precision as the step-wise sum of average_precision_score, and
// decisions `p >= threshold` at a threshold. Inputs: truths 0/1 and scores as spans of equal
// length; a truth other than 0/1 or a NaN throws std::invalid_argument naming the row.

#include "metrics/metric_value.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace lumen::metrics {

/// roc_curve(drop_intermediate=False): one point per distinct score, thresholds descending,
/// led by the point (0, 0) at threshold +inf. A rate whose class is absent is NaN, as in sklearn.
struct RocCurve {
    std::vector<double> fpr, tpr, thresholds;
};

/// precision_recall_curve: thresholds ascending, then the closing point (recall 0, precision 1)
/// that has no threshold (so precision and recall are one longer than thresholds).
struct PrCurve {
    std::vector<double> precision, recall, thresholds;
};

struct ConfusionCounts {
    std::int64_t tp = 0, fp = 0, tn = 0, fn = 0;
    std::int64_t total() const { return tp + fp + tn + fn; }
};

/// Decisions `score >= threshold`. precision = PPV, recall = sensitivity.
struct ThresholdMetrics {
    double threshold = 0.5;
    ConfusionCounts counts;
    MetricValue precision, recall, specificity, npv, f1, positiveRate;
};

RocCurve rocCurve(std::span<const double> truth, std::span<const double> score);
PrCurve precisionRecallCurve(std::span<const double> truth, std::span<const double> score);
MetricValue auroc(std::span<const double> truth, std::span<const double> score);
MetricValue averagePrecision(std::span<const double> truth, std::span<const double> score);
ThresholdMetrics metricsAtThreshold(std::span<const double> truth, std::span<const double> score, double threshold);

/// The distinct score that maximises F1 as a threshold (ties: the highest such threshold).
MetricValue bestThresholdF1(std::span<const double> truth, std::span<const double> score);
/// The distinct score that maximises Youden's J = sensitivity + specificity − 1 (ties: the
/// highest such threshold).
MetricValue bestThresholdYouden(std::span<const double> truth, std::span<const double> score);
/// The distinct score that maximises the geometric mean sqrt(sensitivity · specificity)
/// (ties: the highest such threshold).
MetricValue bestThresholdGMean(std::span<const double> truth, std::span<const double> score);

/// Picks a threshold from (truth, score) pairs, e.g. bestThresholdF1.
using ThresholdChooser = std::function<MetricValue(std::span<const double> truth, std::span<const double> score)>;

/// Cross-fitted decisions, so that no row is decided by a threshold chosen on its own truth:
/// for each fold f, `choose` picks a threshold on the rows of every other fold (rows with a
/// missing truth or score left out), and the rows of fold f get `score >= threshold` as 1 or 0.
/// Where `choose` is undefined (e.g. no positives outside the fold) the threshold is
/// `fallback`. Rows with a missing score get NaN. `fold` holds one fold number per row.
std::vector<double> crossFittedDecisions(std::span<const double> truth, std::span<const double> score,
                                         std::span<const int> fold, const ThresholdChooser& choose,
                                         double fallback = 0.5);

struct EvaluationOptions {
    int calibrationBins = 15;
};

/// Everything reported for one label. `n` rows were used; `dropped` rows had a missing truth
/// or score and were left out for this label only.
struct LabelReport {
    std::string name;
    std::size_t n = 0, dropped = 0, positives = 0;
    MetricValue auroc, averagePrecision, brier, ece, bestThresholdF1, bestThresholdYouden;
    ThresholdMetrics atThreshold;
};

struct MultiLabelReport {
    std::vector<LabelReport> labels;
    std::size_t n = 0;                          ///< rows (before per-label drops)
    MetricValue macroAuroc;                     ///< mean over labels where AUROC is defined
    MetricValue microAuroc;                     ///< AUROC of all (truth, score) pairs pooled
    MetricValue macroF1, macroBrier, macroEce;  ///< means over labels where defined
    MetricValue pooledEce;                      ///< ECE of all pairs pooled
    MetricValue hammingLoss, hammingAccuracy;   ///< wrong / right fraction of all label decisions
};

/// `truth[label][row]` and `score[label][row]` (NaN = missing, dropped per label);
/// `thresholds` holds one value per label or a single value for all.
MultiLabelReport evaluateMultiLabel(const std::vector<std::vector<double>>& truth,
                                    const std::vector<std::vector<double>>& score,
                                    const std::vector<std::string>& names, const std::vector<double>& thresholds,
                                    const EvaluationOptions& options = {});

/// The (truth, score) pairs of one label without rows where either is NaN.
struct CleanPairs {
    std::vector<double> truth, score;
    std::size_t dropped = 0;
};
CleanPairs dropMissing(std::span<const double> truth, std::span<const double> score);

}  // namespace lumen::metrics
