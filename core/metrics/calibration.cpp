#include "metrics/calibration.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lumen::metrics {
namespace {

constexpr double kClip = 1e-12;
// Temperature search range: beyond it a model is not "miscalibrated", it is broken.
constexpr double kMinTemperature = 0.05, kMaxTemperature = 20.0;

void checkProbabilities(std::span<const double> truth, std::span<const double> probability) {
    if (truth.size() != probability.size()) throw std::invalid_argument("truths and probabilities differ in length");
    for (std::size_t i = 0; i < truth.size(); ++i) {
        if (truth[i] != 0.0 && truth[i] != 1.0)
            throw std::invalid_argument("row " + std::to_string(i) + ": truth " + std::to_string(truth[i]) +
                                        " is not 0 or 1");
        if (!(probability[i] >= 0.0 && probability[i] <= 1.0))
            throw std::invalid_argument("row " + std::to_string(i) + ": probability " + std::to_string(probability[i]) +
                                        " is outside [0, 1]");
    }
}

void checkBins(int bins) {
    if (bins < 1) throw std::invalid_argument("calibration bins must be at least 1, got " + std::to_string(bins));
}

double logit(double p) {
    p = std::clamp(p, kClip, 1.0 - kClip);
    return std::log(p) - std::log1p(-p);
}

// log(1 + exp(x)) without overflow.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
    const double e = std::exp(x);
    return e / (1.0 + e);
}

}  // namespace

std::vector<ReliabilityBin> reliabilityDiagram(std::span<const double> truth, std::span<const double> probability,
                                               int bins) {
    checkBins(bins);
    checkProbabilities(truth, probability);
    std::vector<double> sumP(std::size_t(bins), 0.0), sumY(std::size_t(bins), 0.0);
    std::vector<std::size_t> count(std::size_t(bins), 0);
    for (std::size_t i = 0; i < truth.size(); ++i) {
        const auto b = std::size_t(std::min(int(std::floor(probability[i] * bins)), bins - 1));
        sumP[b] += probability[i];
        sumY[b] += truth[i];
        ++count[b];
    }
    std::vector<ReliabilityBin> out;
    for (std::size_t b = 0; b < std::size_t(bins); ++b) {
        if (count[b] == 0) continue;
        ReliabilityBin r;
        r.lower = double(b) / bins;
        r.upper = double(b + 1) / bins;
        r.count = count[b];
        r.meanProbability = sumP[b] / double(count[b]);
        r.observedFrequency = sumY[b] / double(count[b]);
        out.push_back(r);
    }
    return out;
}

MetricValue expectedCalibrationError(std::span<const double> truth, std::span<const double> probability, int bins) {
    const auto diagram = reliabilityDiagram(truth, probability, bins);
    if (truth.empty()) return MetricValue::missing("undefined: no samples");
    double ece = 0;
    for (const auto& b : diagram)
        ece += double(b.count) / double(truth.size()) * std::abs(b.observedFrequency - b.meanProbability);
    return MetricValue::of(ece);
}

MetricValue brierScore(std::span<const double> truth, std::span<const double> probability) {
    checkProbabilities(truth, probability);
    if (truth.empty()) return MetricValue::missing("undefined: no samples");
    double sum = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) sum += (probability[i] - truth[i]) * (probability[i] - truth[i]);
    return MetricValue::of(sum / double(truth.size()));
}

double negativeLogLikelihood(std::span<const double> truth, std::span<const double> probability) {
    checkProbabilities(truth, probability);
    if (truth.empty()) return 0.0;
    double sum = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) {
        const double p = std::clamp(probability[i], kClip, 1.0 - kClip);
        sum -= truth[i] == 1.0 ? std::log(p) : std::log1p(-p);
    }
    return sum / double(truth.size());
}

TemperatureFit fitTemperature(std::span<const double> truth, std::span<const double> probability) {
    checkProbabilities(truth, probability);
    if (truth.empty()) throw std::invalid_argument("temperature scaling needs at least one sample");
    std::vector<double> z(truth.size());
    for (std::size_t i = 0; i < z.size(); ++i) z[i] = logit(probability[i]);
    // With a = 1/T the NLL, sum softplus(a z) - y a z, is convex in a: Newton on its
    // derivative, kept inside a shrinking bracket [lo, hi] (bisection when Newton leaves it).
    auto derivatives = [&](double a, double& g, double& h) {
        g = 0;
        h = 0;
        for (std::size_t i = 0; i < z.size(); ++i) {
            const double s = sigmoid(a * z[i]);
            g += (s - truth[i]) * z[i];
            h += s * (1 - s) * z[i] * z[i];
        }
    };
    double lo = 1.0 / kMaxTemperature, hi = 1.0 / kMinTemperature;
    double g = 0, h = 0;
    TemperatureFit fit;
    double a = 1.0;
    derivatives(lo, g, h);
    if (g >= 0) {
        a = lo;
        fit.atBound = true;
    } else {
        derivatives(hi, g, h);
        if (g <= 0) {
            a = hi;
            fit.atBound = true;
        } else {
            for (int iter = 0; iter < 200; ++iter) {
                derivatives(a, g, h);
                if (g == 0) break;
                (g > 0 ? hi : lo) = a;
                double next = h > 0 ? a - g / h : 0.5 * (lo + hi);
                if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
                if (std::abs(next - a) <= 1e-14 * std::max(1.0, std::abs(a)) || hi - lo <= 1e-15) {
                    a = next;
                    break;
                }
                a = next;
            }
        }
    }
    fit.temperature = 1.0 / a;
    fit.nllBefore = negativeLogLikelihood(truth, probability);
    double after = 0;
    for (std::size_t i = 0; i < z.size(); ++i) after += softplus(a * z[i]) - truth[i] * a * z[i];
    fit.nllAfter = after / double(z.size());
    return fit;
}

std::vector<double> applyTemperature(std::span<const double> probability, double temperature) {
    if (!(temperature > 0)) throw std::invalid_argument("temperature must be positive");
    std::vector<double> out(probability.size());
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = std::isnan(probability[i]) ? probability[i] : sigmoid(logit(probability[i]) / temperature);
    return out;
}

}  // namespace lumen::metrics
