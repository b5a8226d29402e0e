#include "metrics/bootstrap.h"

#include "jobs/job.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lumen::metrics {
namespace {

// SplitMix64: tiny, fully specified, so resamples are identical on every platform (the
// standard library's distributions are not).
std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct SplitMix64 {
    std::uint64_t state;
    std::uint64_t next() { return mix(state += 0x9E3779B97F4A7C15ULL); }
    // Unbiased integer in [0, n) (Lemire's multiply-and-reject).
    std::uint64_t below(std::uint64_t n) {
        unsigned __int128 m = (unsigned __int128)next() * n;
        auto low = std::uint64_t(m);
        if (low < n) {
            const std::uint64_t threshold = (0 - n) % n;
            while (low < threshold) {
                m = (unsigned __int128)next() * n;
                low = std::uint64_t(m);
            }
        }
        return std::uint64_t(m >> 64);
    }
};

}  // namespace

std::vector<std::size_t> bootstrapRows(std::size_t n, std::uint64_t seed, int index) {
    // Each resample's stream starts from a hash of (seed, index): seeding with seed + index
    // would make resample b the stream of resample 0 shifted by b draws.
    SplitMix64 rng{mix(mix(seed + 0x9E3779B97F4A7C15ULL) ^ (std::uint64_t(index) * 0xD6E8FEB86659FD93ULL + 1))};
    std::vector<std::size_t> rows(n);
    for (auto& r : rows) r = std::size_t(rng.below(n));
    return rows;
}

double quantileSorted(std::span<const double> sorted, double q) {
    if (sorted.empty()) throw std::invalid_argument("quantile of no values");
    const double pos = q * double(sorted.size() - 1);
    const auto below = std::size_t(std::floor(pos));
    if (below + 1 >= sorted.size()) return sorted.back();
    const double frac = pos - double(below);
    return sorted[below] + (sorted[below + 1] - sorted[below]) * frac;
}

std::vector<ConfidenceInterval> bootstrapIntervals(std::size_t n, std::size_t count,
                                                   const BootstrapStatistics& statistics,
                                                   const BootstrapOptions& options, jobs::JobContext* job) {
    if (options.resamples < 1) throw std::invalid_argument("bootstrap needs at least one resample");
    if (!(options.confidence > 0 && options.confidence < 1))
        throw std::invalid_argument("bootstrap confidence must lie in (0, 1)");
    std::vector<ConfidenceInterval> out(count);
    if (n == 0) {
        for (auto& ci : out) ci.reason = "undefined: no samples";
        return out;
    }
    std::vector<std::vector<double>> replicates(count);
    for (int b = 0; b < options.resamples; ++b) {
        if (job) {
            job->throwIfCancelled();
            if (b % 16 == 0) job->progress(double(b) / options.resamples, "bootstrap resample " + std::to_string(b));
        }
        const auto rows = bootstrapRows(n, options.seed, b);
        const auto values = statistics(rows);
        if (values.size() != count) throw std::logic_error("bootstrap statistic returned the wrong count");
        for (std::size_t k = 0; k < count; ++k)
            if (values[k] && std::isfinite(*values[k])) replicates[k].push_back(*values[k]);
    }
    const double alpha = 1.0 - options.confidence;
    for (std::size_t k = 0; k < count; ++k) {
        auto& v = replicates[k];
        out[k].validResamples = int(v.size());
        if (v.size() * 2 < std::size_t(options.resamples)) {
            out[k].reason = "undefined: statistic defined in only " + std::to_string(v.size()) + " of " +
                            std::to_string(options.resamples) + " resamples";
            continue;
        }
        std::sort(v.begin(), v.end());
        out[k].lower = quantileSorted(v, alpha / 2);
        out[k].upper = quantileSorted(v, 1 - alpha / 2);
    }
    return out;
}

}  // namespace lumen::metrics
