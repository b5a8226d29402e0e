#pragma once
// Bootstrap percentile confidence intervals for any statistic of a sample (docs/metrics.md).
// Resamples draw n row indices with replacement from a seeded generator, so the same seed
// gives the same intervals on every platform.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::metrics {

struct BootstrapOptions {
    int resamples = 1000;
    std::uint64_t seed = 0;
    double confidence = 0.95;
};

struct ConfidenceInterval {
    std::optional<double> lower, upper;
    int validResamples = 0;  ///< resamples where the statistic was defined
    std::string reason;      ///< why the interval is missing
};

/// Statistics of one resample (given as row indices into the original sample); an entry is
/// nullopt where a statistic is undefined for that resample.
using BootstrapStatistics = std::function<std::vector<std::optional<double>>(std::span<const std::size_t> rows)>;

/// Percentile intervals for `count` statistics sharing the same resamples. An interval is
/// missing when fewer than half the resamples define its statistic. `job` (may be null) gets
/// progress and is polled for cancellation.
std::vector<ConfidenceInterval> bootstrapIntervals(std::size_t n, std::size_t count,
                                                   const BootstrapStatistics& statistics,
                                                   const BootstrapOptions& options = {},
                                                   jobs::JobContext* job = nullptr);

/// Linear-interpolated quantile of sorted values (numpy's default), q in [0, 1].
double quantileSorted(std::span<const double> sorted, double q);

/// The n row indices of resample `index` (exposed so tests can reproduce a resample).
std::vector<std::size_t> bootstrapRows(std::size_t n, std::uint64_t seed, int index);

}  // namespace lumen::metrics
