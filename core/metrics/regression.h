#pragma once
// Regression metrics (angiography stenosis %, docs/metrics.md): MAE, RMSE and Pearson's r over
// the pairs where both values are numbers. Undefined values say why (no pairs, one pair, a
// constant series), never a made-up number.

#include "metrics/metric_value.h"

#include <cstddef>
#include <span>

namespace lumen::metrics {

struct RegressionReport {
    std::size_t n = 0;        ///< pairs used (NaN in either dropped)
    std::size_t dropped = 0;  ///< pairs with a NaN
    MetricValue mae, rmse, pearson;
};

/// sklearn's mean_absolute_error / sqrt(mean_squared_error) and scipy's pearsonr on the
/// non-NaN pairs, in double.
RegressionReport evaluateRegression(std::span<const double> truth, std::span<const double> prediction);

}  // namespace lumen::metrics
