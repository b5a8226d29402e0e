#include "metrics/classification.h"

#include "metrics/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace lumen::metrics {
namespace {

constexpr const char* kNoPositives = "undefined: label has no positive samples";
constexpr const char* kNoNegatives = "undefined: label has no negative samples";
constexpr const char* kNoSamples = "undefined: no samples";

void checkInputs(std::span<const double> truth, std::span<const double> score) {
    if (truth.size() != score.size())
        throw std::invalid_argument("truths and scores differ in length (" + std::to_string(truth.size()) + " vs " +
                                    std::to_string(score.size()) + ")");
    for (std::size_t i = 0; i < truth.size(); ++i) {
        if (truth[i] != 0.0 && truth[i] != 1.0)
            throw std::invalid_argument("row " + std::to_string(i) + ": truth " + std::to_string(truth[i]) +
                                        " is not 0 or 1");
        if (std::isnan(score[i])) throw std::invalid_argument("row " + std::to_string(i) + ": score is NaN");
    }
}

// The cumulative counts at each distinct score, scores descending: predicting `score >= t`
// for t = thresholds[i] gives tps[i] true and fps[i] false positives (sklearn's
// _binary_clf_curve).
struct ClfCurve {
    std::vector<double> thresholds;
    std::vector<double> tps, fps;
    double positives = 0, negatives = 0;
};

ClfCurve clfCurve(std::span<const double> truth, std::span<const double> score) {
    checkInputs(truth, score);
    std::vector<std::pair<double, bool>> pairs(truth.size());
    for (std::size_t i = 0; i < truth.size(); ++i) pairs[i] = {score[i], truth[i] == 1.0};
    std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    ClfCurve c;
    double tp = 0, fp = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        (pairs[i].second ? tp : fp) += 1;
        if (i + 1 == pairs.size() || pairs[i + 1].first != pairs[i].first) {
            c.thresholds.push_back(pairs[i].first);
            c.tps.push_back(tp);
            c.fps.push_back(fp);
        }
    }
    c.positives = tp;
    c.negatives = fp;
    return c;
}

MetricValue ratio(double num, double den, const char* reason) {
    return den > 0 ? MetricValue::of(num / den) : MetricValue::missing(reason);
}

MetricValue meanDefined(const std::vector<MetricValue>& values, const char* what) {
    double sum = 0;
    std::size_t k = 0;
    for (const auto& v : values)
        if (v.has()) sum += *v.value, ++k;
    if (k == 0) return MetricValue::missing(std::string("undefined: no label has a defined ") + what);
    return MetricValue::of(sum / double(k));
}

MetricValue aurocOf(const ClfCurve& c) {
    if (c.thresholds.empty()) return MetricValue::missing(kNoSamples);
    if (c.positives == 0) return MetricValue::missing(kNoPositives);
    if (c.negatives == 0) return MetricValue::missing(kNoNegatives);
    // Trapezoid in counts, divided once: ties form one diagonal segment, as in sklearn.
    double area = 0, prevTp = 0, prevFp = 0;
    for (std::size_t i = 0; i < c.tps.size(); ++i) {
        area += (c.fps[i] - prevFp) * (c.tps[i] + prevTp);
        prevTp = c.tps[i];
        prevFp = c.fps[i];
    }
    return MetricValue::of(area / (2.0 * c.positives * c.negatives));
}

MetricValue averagePrecisionOf(const ClfCurve& c) {
    if (c.thresholds.empty()) return MetricValue::missing(kNoSamples);
    if (c.positives == 0) return MetricValue::missing(kNoPositives);
    double ap = 0, prevTp = 0;
    for (std::size_t i = 0; i < c.tps.size(); ++i) {
        const double precision = c.tps[i] / (c.tps[i] + c.fps[i]);
        ap += (c.tps[i] - prevTp) / c.positives * precision;
        prevTp = c.tps[i];
    }
    return MetricValue::of(ap);
}

MetricValue bestF1Of(const ClfCurve& c) {
    if (c.thresholds.empty()) return MetricValue::missing(kNoSamples);
    if (c.positives == 0) return MetricValue::missing(kNoPositives);
    double best = -1, bestT = 0;
    for (std::size_t i = 0; i < c.tps.size(); ++i) {
        const double f1 = 2 * c.tps[i] / (2 * c.tps[i] + c.fps[i] + (c.positives - c.tps[i]));
        if (f1 > best) best = f1, bestT = c.thresholds[i];
    }
    return MetricValue::of(bestT);
}

// The threshold (distinct score, descending) maximising `objective(tpr, fpr)`; ties: the highest.
template <class Objective>
MetricValue bestRocThreshold(const ClfCurve& c, Objective objective) {
    if (c.thresholds.empty()) return MetricValue::missing(kNoSamples);
    if (c.positives == 0) return MetricValue::missing(kNoPositives);
    if (c.negatives == 0) return MetricValue::missing(kNoNegatives);
    double best = -INFINITY, bestT = 0;
    for (std::size_t i = 0; i < c.tps.size(); ++i) {
        const double v = objective(c.tps[i] / c.positives, c.fps[i] / c.negatives);
        if (v > best) best = v, bestT = c.thresholds[i];
    }
    return MetricValue::of(bestT);
}

MetricValue bestYoudenOf(const ClfCurve& c) {
    return bestRocThreshold(c, [](double tpr, double fpr) { return tpr - fpr; });
}

MetricValue bestGMeanOf(const ClfCurve& c) {
    return bestRocThreshold(c, [](double tpr, double fpr) { return std::sqrt(tpr * (1.0 - fpr)); });
}

}  // namespace

RocCurve rocCurve(std::span<const double> truth, std::span<const double> score) {
    const ClfCurve c = clfCurve(truth, score);
    RocCurve r;
    r.fpr.push_back(c.negatives > 0 ? 0.0 : std::nan(""));
    r.tpr.push_back(c.positives > 0 ? 0.0 : std::nan(""));
    r.thresholds.push_back(std::numeric_limits<double>::infinity());
    for (std::size_t i = 0; i < c.tps.size(); ++i) {
        // A class that is absent gives a rate of NaN, as sklearn does (with a warning).
        r.fpr.push_back(c.negatives > 0 ? c.fps[i] / c.negatives : std::nan(""));
        r.tpr.push_back(c.positives > 0 ? c.tps[i] / c.positives : std::nan(""));
        r.thresholds.push_back(c.thresholds[i]);
    }
    return r;
}

PrCurve precisionRecallCurve(std::span<const double> truth, std::span<const double> score) {
    const ClfCurve c = clfCurve(truth, score);
    PrCurve r;
    for (std::size_t k = c.tps.size(); k-- > 0;) {
        const double predicted = c.tps[k] + c.fps[k];
        r.precision.push_back(predicted > 0 ? c.tps[k] / predicted : 0.0);
        r.recall.push_back(c.positives > 0 ? c.tps[k] / c.positives : 1.0);
        r.thresholds.push_back(c.thresholds[k]);
    }
    r.precision.push_back(1.0);
    r.recall.push_back(0.0);
    return r;
}

MetricValue auroc(std::span<const double> truth, std::span<const double> score) {
    return aurocOf(clfCurve(truth, score));
}

MetricValue averagePrecision(std::span<const double> truth, std::span<const double> score) {
    return averagePrecisionOf(clfCurve(truth, score));
}

MetricValue bestThresholdF1(std::span<const double> truth, std::span<const double> score) {
    return bestF1Of(clfCurve(truth, score));
}

MetricValue bestThresholdYouden(std::span<const double> truth, std::span<const double> score) {
    return bestYoudenOf(clfCurve(truth, score));
}

MetricValue bestThresholdGMean(std::span<const double> truth, std::span<const double> score) {
    return bestGMeanOf(clfCurve(truth, score));
}

std::vector<double> crossFittedDecisions(std::span<const double> truth, std::span<const double> score,
                                         std::span<const int> fold, const ThresholdChooser& choose, double fallback) {
    if (truth.size() != score.size() || fold.size() != score.size())
        throw std::invalid_argument("truths, scores and folds differ in length");
    std::vector<int> folds(fold.begin(), fold.end());
    std::sort(folds.begin(), folds.end());
    folds.erase(std::unique(folds.begin(), folds.end()), folds.end());
    std::vector<double> out(score.size(), std::nan(""));
    for (const int f : folds) {
        std::vector<double> t, s;
        for (std::size_t i = 0; i < score.size(); ++i)
            if (fold[i] != f && !std::isnan(truth[i]) && !std::isnan(score[i])) {
                t.push_back(truth[i]);
                s.push_back(score[i]);
            }
        const MetricValue chosen = t.empty() ? MetricValue{} : choose(t, s);
        const double threshold = chosen.has() ? *chosen.value : fallback;
        for (std::size_t i = 0; i < score.size(); ++i)
            if (fold[i] == f && !std::isnan(score[i])) out[i] = score[i] >= threshold ? 1.0 : 0.0;
    }
    return out;
}

ThresholdMetrics metricsAtThreshold(std::span<const double> truth, std::span<const double> score, double threshold) {
    checkInputs(truth, score);
    ThresholdMetrics m;
    m.threshold = threshold;
    auto& c = m.counts;
    for (std::size_t i = 0; i < truth.size(); ++i) {
        const bool predicted = score[i] >= threshold;
        if (truth[i] == 1.0) (predicted ? c.tp : c.fn) += 1;
        else (predicted ? c.fp : c.tn) += 1;
    }
    const double tp = double(c.tp), fp = double(c.fp), tn = double(c.tn), fn = double(c.fn);
    m.precision = ratio(tp, tp + fp, "undefined: no positive predictions at this threshold");
    m.recall = ratio(tp, tp + fn, kNoPositives);
    m.specificity = ratio(tn, tn + fp, kNoNegatives);
    m.npv = ratio(tn, tn + fn, "undefined: no negative predictions at this threshold");
    m.f1 = ratio(2 * tp, 2 * tp + fp + fn, "undefined: no positive samples and no positive predictions");
    m.positiveRate = ratio(tp + fp, double(c.total()), kNoSamples);
    return m;
}

CleanPairs dropMissing(std::span<const double> truth, std::span<const double> score) {
    if (truth.size() != score.size()) throw std::invalid_argument("truths and scores differ in length");
    CleanPairs out;
    out.truth.reserve(truth.size());
    out.score.reserve(score.size());
    for (std::size_t i = 0; i < truth.size(); ++i) {
        if (std::isnan(truth[i]) || std::isnan(score[i])) {
            ++out.dropped;
            continue;
        }
        out.truth.push_back(truth[i]);
        out.score.push_back(score[i]);
    }
    return out;
}

MultiLabelReport evaluateMultiLabel(const std::vector<std::vector<double>>& truth,
                                    const std::vector<std::vector<double>>& score,
                                    const std::vector<std::string>& names, const std::vector<double>& thresholds,
                                    const EvaluationOptions& options) {
    const std::size_t labels = truth.size();
    if (score.size() != labels || names.size() != labels)
        throw std::invalid_argument("truth, score and name lists differ in label count");
    if (thresholds.size() != labels && thresholds.size() != 1)
        throw std::invalid_argument("expected one threshold per label or a single threshold");
    MultiLabelReport report;
    report.n = labels ? truth[0].size() : 0;
    std::vector<double> allTruth, allScore;
    double wrong = 0, decisions = 0;
    std::vector<MetricValue> aurocs, f1s, briers, eces;
    for (std::size_t l = 0; l < labels; ++l) {
        if (truth[l].size() != report.n || score[l].size() != report.n)
            throw std::invalid_argument("label \"" + names[l] + "\": expected " + std::to_string(report.n) + " rows");
        CleanPairs pairs = dropMissing(truth[l], score[l]);
        LabelReport r;
        r.name = names[l];
        r.n = pairs.truth.size();
        r.dropped = pairs.dropped;
        const double threshold = thresholds.size() == 1 ? thresholds[0] : thresholds[l];
        try {
            const ClfCurve c = clfCurve(pairs.truth, pairs.score);
            r.positives = std::size_t(c.positives);
            r.auroc = aurocOf(c);
            r.averagePrecision = averagePrecisionOf(c);
            r.bestThresholdF1 = bestF1Of(c);
            r.bestThresholdYouden = bestYoudenOf(c);
            r.atThreshold = metricsAtThreshold(pairs.truth, pairs.score, threshold);
            r.brier = brierScore(pairs.truth, pairs.score);
            r.ece = expectedCalibrationError(pairs.truth, pairs.score, options.calibrationBins);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("label \"" + names[l] + "\": " + e.what());
        }
        const auto& k = r.atThreshold.counts;
        wrong += double(k.fp + k.fn);
        decisions += double(k.total());
        aurocs.push_back(r.auroc);
        f1s.push_back(r.atThreshold.f1);
        briers.push_back(r.brier);
        eces.push_back(r.ece);
        allTruth.insert(allTruth.end(), pairs.truth.begin(), pairs.truth.end());
        allScore.insert(allScore.end(), pairs.score.begin(), pairs.score.end());
        report.labels.push_back(std::move(r));
    }
    report.macroAuroc = meanDefined(aurocs, "AUROC");
    report.macroF1 = meanDefined(f1s, "F1");
    report.macroBrier = meanDefined(briers, "Brier score");
    report.macroEce = meanDefined(eces, "ECE");
    report.microAuroc = auroc(allTruth, allScore);
    report.pooledEce = expectedCalibrationError(allTruth, allScore, options.calibrationBins);
    report.hammingLoss = ratio(wrong, decisions, kNoSamples);
    report.hammingAccuracy =
        report.hammingLoss.has() ? MetricValue::of(1.0 - *report.hammingLoss.value) : report.hammingLoss;
    return report;
}

}  // namespace lumen::metrics
