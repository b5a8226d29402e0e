#pragma once
// A metric that may be undefined (AUROC of a label without positives, PPV with no positive
// predictions): the value, or the reason it is missing. Never a made-up number.

#include <optional>
#include <string>

namespace lumen::metrics {

struct MetricValue {
    std::optional<double> value;
    std::string reason;  ///< why `value` is missing; empty when it is present

    static MetricValue of(double v) { return {v, {}}; }
    static MetricValue missing(std::string why) { return {std::nullopt, std::move(why)}; }
    bool has() const { return value.has_value(); }
    double valueOr(double fallback) const { return value.value_or(fallback); }
};

}  // namespace lumen::metrics
