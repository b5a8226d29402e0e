#pragma once
// The learning-rate schedule of the Trainer: linear warm-up, then a cosine decay, evaluated
// for every optimizer step. Torch-free so tests and the GUI can draw it.

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace lumen::train {

/// Learning rate for optimizer step `step` (0-based) of `totalSteps`: during the first
/// `warmupSteps` steps lr * (step + 1) / warmupSteps; then
/// lr * (minRatio + (1 - minRatio) * 0.5 * (1 + cos(pi * t))) with
/// t = (step - warmupSteps) / max(1, totalSteps - warmupSteps).
inline double cosineWarmupLr(double lr, std::int64_t step, std::int64_t totalSteps, std::int64_t warmupSteps,
                             double minRatio = 0.0) {
    if (warmupSteps > 0 && step < warmupSteps)
        return lr * static_cast<double>(step + 1) / static_cast<double>(warmupSteps);
    const double span = static_cast<double>(std::max<std::int64_t>(1, totalSteps - warmupSteps));
    const double t = std::clamp(static_cast<double>(step - warmupSteps) / span, 0.0, 1.0);
    const double pi = 3.14159265358979323846;
    return lr * (minRatio + (1.0 - minRatio) * 0.5 * (1.0 + std::cos(pi * t)));
}

}  // namespace lumen::train
