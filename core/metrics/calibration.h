#pragma once
// Calibration of probabilities: expected calibration error with equal-width bins, the
// reliability diagram, the Brier score and temperature scaling (docs/metrics.md).

#include "metrics/metric_value.h"

#include <cstddef>
#include <span>
#include <vector>

namespace lumen::metrics {

/// One non-empty bin of the reliability diagram.
struct ReliabilityBin {
    double lower = 0, upper = 0;  ///< bin edges
    std::size_t count = 0;
    double meanProbability = 0;    ///< mean predicted probability in the bin
    double observedFrequency = 0;  ///< fraction of positives in the bin
};

/// Bin of p: min(floor(p * bins), bins - 1). Probabilities outside [0, 1] throw.
std::vector<ReliabilityBin> reliabilityDiagram(std::span<const double> truth, std::span<const double> probability,
                                               int bins = 15);
/// ECE = sum over bins |B|/N * |mean(y in B) - mean(p in B)|; missing for no samples.
MetricValue expectedCalibrationError(std::span<const double> truth, std::span<const double> probability, int bins = 15);
/// Mean squared difference between probability and truth (brier_score_loss).
MetricValue brierScore(std::span<const double> truth, std::span<const double> probability);
/// Mean binary cross-entropy, probabilities clipped to [1e-12, 1 - 1e-12].
double negativeLogLikelihood(std::span<const double> truth, std::span<const double> probability);

struct TemperatureFit {
    double temperature = 1.0;
    double nllBefore = 0, nllAfter = 0;
    bool atBound = false;  ///< the optimum lies on the search bound [0.05, 20]
};

/// Fits one temperature T on validation pairs by minimising the NLL of sigmoid(logit(p) / T).
TemperatureFit fitTemperature(std::span<const double> truth, std::span<const double> probability);
/// sigmoid(logit(p) / T), with p clipped as in negativeLogLikelihood.
std::vector<double> applyTemperature(std::span<const double> probability, double temperature);

}  // namespace lumen::metrics
