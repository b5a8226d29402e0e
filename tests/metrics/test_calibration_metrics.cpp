// Qt Test suite for core/metrics/calibration and bootstrap: ECE and reliability bins against a
// numpy transcription of the definition, Brier against scikit-learn, temperature scaling against
// scipy's minimize_scalar, percentile intervals against numpy's percentile.
#include "metrics/bootstrap.h"
#include "metrics/calibration.h"
#include "metrics/metrics_report.h"

#include "python_reference.h"
#include "test_support.h"

#include <cmath>
#include <random>

using namespace lumen::metrics;
using lumen::testing::runPythonReference;
using nlohmann::json;

namespace {

// Overconfident probabilities: true logit scaled by `sharpen`.
void overconfident(std::size_t n, double sharpen, std::uint64_t seed, std::vector<double>& y, std::vector<double>& p) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> z(0, 1.5);
    std::uniform_real_distribution<double> u(0, 1);
    y.resize(n);
    p.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double logit = z(rng);
        y[i] = u(rng) < 1 / (1 + std::exp(-logit)) ? 1 : 0;
        p[i] = 1 / (1 + std::exp(-sharpen * logit));
    }
}

}  // namespace

class TestCalibrationMetrics : public QObject {
    Q_OBJECT
private slots:
    void eceHandComputed() {
        // bins = 2: {0.1, 0.2} with y {1, 0}: |0.5 - 0.15| * 2/4; {0.9, 0.95} with y {1, 0}: |0.5 - 0.925| * 2/4.
        const std::vector<double> y = {1, 0, 1, 0}, p = {0.1, 0.2, 0.9, 0.95};
        QVERIFY(std::abs(*expectedCalibrationError(y, p, 2).value - (0.35 * 0.5 + 0.425 * 0.5)) < 1e-15);
        // p = 1 falls in the last bin, p = 0.5 opens the second.
        const auto bins = reliabilityDiagram(std::vector<double>{1, 0, 1}, std::vector<double>{1.0, 0.0, 0.5}, 2);
        QCOMPARE(bins.size(), std::size_t(2));
        QCOMPARE(bins[1].count, std::size_t(2));
        QCOMPARE(bins[1].meanProbability, 0.75);
        QCOMPARE(bins[0].lower, 0.0);
        QCOMPARE(bins[1].upper, 1.0);
        QVERIFY(!expectedCalibrationError(std::vector<double>{}, std::vector<double>{}).has());
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, brierScore(std::vector<double>{1}, std::vector<double>{1.2}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 expectedCalibrationError(std::vector<double>{1}, std::vector<double>{0.2}, 0));
    }

    void eceBrierAndDiagramMatchReference_data() {
        QTest::addColumn<int>("bins");
        QTest::addColumn<int>("decimals");
        QTest::newRow("15 bins") << 15 << -1;
        QTest::newRow("10 bins, values on bin edges") << 10 << 1;
        QTest::newRow("1 bin") << 1 << -1;
    }
    void eceBrierAndDiagramMatchReference() {
        QFETCH(int, bins);
        QFETCH(int, decimals);
        const auto d = lumen::testing::syntheticLabels(1, 700, 5, decimals);
        const auto& y = d.truth[0];
        const auto& p = d.score[0];
        json ref;
        try {
            ref = runPythonReference(R"(
from sklearn.metrics import brier_score_loss
y = np.array(inp['y']); p = np.array(inp['p']); bins = inp['bins']
b = np.minimum(np.floor(p * bins).astype(int), bins - 1)
ece = 0.0; diagram = []
for k in range(bins):
    m = b == k
    if m.sum() == 0: continue
    ece += m.sum() / len(p) * abs(y[m].mean() - p[m].mean())
    diagram.append([int(m.sum()), p[m].mean(), y[m].mean()])
result['ece'] = ece; result['diagram'] = diagram; result['brier'] = brier_score_loss(y, p)
)",
                                     {{"y", y}, {"p", p}, {"bins", bins}});
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        QVERIFY(std::abs(*expectedCalibrationError(y, p, bins).value - ref["ece"].get<double>()) < 1e-12);
        QVERIFY(std::abs(*brierScore(y, p).value - ref["brier"].get<double>()) < 1e-12);
        const auto diagram = reliabilityDiagram(y, p, bins);
        QCOMPARE(diagram.size(), ref["diagram"].size());
        for (std::size_t i = 0; i < diagram.size(); ++i) {
            QCOMPARE(diagram[i].count, ref["diagram"][i][0].get<std::size_t>());
            QVERIFY(std::abs(diagram[i].meanProbability - ref["diagram"][i][1].get<double>()) < 1e-12);
            QVERIFY(std::abs(diagram[i].observedFrequency - ref["diagram"][i][2].get<double>()) < 1e-12);
        }
    }

    void temperatureMatchesScipy_data() {
        QTest::addColumn<double>("sharpen");
        QTest::newRow("overconfident x3") << 3.0;
        QTest::newRow("underconfident x0.5") << 0.5;
        QTest::newRow("calibrated") << 1.0;
    }
    void temperatureMatchesScipy() {
        QFETCH(double, sharpen);
        std::vector<double> y, p;
        overconfident(3000, sharpen, 9, y, p);
        const TemperatureFit fit = fitTemperature(y, p);
        json ref;
        try {
            ref = runPythonReference(R"(
from scipy.optimize import minimize_scalar
y = np.array(inp['y']); p = np.clip(np.array(inp['p']), 1e-12, 1 - 1e-12)
z = np.log(p) - np.log1p(-p)
def nll(s):
    a = z / np.exp(s)
    return np.mean(np.logaddexp(0, a) - y * a)
r = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20)), method='bounded', options={'xatol': 1e-12})
result['t'] = float(np.exp(r.x)); result['nll_after'] = float(r.fun)
result['nll_before'] = float(np.mean(-(y * np.log(p) + (1 - y) * np.log1p(-p))))
)",
                                     {{"y", y}, {"p", p}});
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        const double t = ref["t"].get<double>();
        QVERIFY2(std::abs(fit.temperature - t) < 1e-6 * t,
                 qPrintable(QString("T %1 vs scipy %2").arg(fit.temperature, 0, 'g', 12).arg(t, 0, 'g', 12)));
        QVERIFY(std::abs(fit.nllAfter - ref["nll_after"].get<double>()) < 1e-10);
        QVERIFY(std::abs(fit.nllBefore - ref["nll_before"].get<double>()) < 1e-12);
        QVERIFY(fit.nllAfter <= fit.nllBefore + 1e-15);
        QVERIFY(!fit.atBound);
        if (sharpen == 3.0) {
            QVERIFY(fit.temperature > 2.5 && fit.temperature < 3.5);
            const auto scaled = applyTemperature(p, fit.temperature);
            QVERIFY(*expectedCalibrationError(y, scaled).value < *expectedCalibrationError(y, p).value);
            QVERIFY(std::abs(negativeLogLikelihood(y, scaled) - fit.nllAfter) < 1e-9);
        }
    }

    void temperatureStopsAtTheBound() {
        // Perfectly separated: the NLL keeps falling as T -> 0.
        const TemperatureFit fit =
            fitTemperature(std::vector<double>{0, 0, 1, 1}, std::vector<double>{0.2, 0.3, 0.7, 0.9});
        QVERIFY(fit.atBound);
        QCOMPARE(fit.temperature, 0.05);
        const auto same = applyTemperature(std::vector<double>{0.2, 0.7}, 1.0);
        QVERIFY(std::abs(same[0] - 0.2) < 1e-15 && std::abs(same[1] - 0.7) < 1e-15);
    }

    void bootstrapRowsAreSeededAndUniform() {
        const auto a = bootstrapRows(1000, 42, 3), b = bootstrapRows(1000, 42, 3), c = bootstrapRows(1000, 42, 4),
                   d = bootstrapRows(1000, 43, 3);
        QCOMPARE(a, b);
        QVERIFY(a != c && a != d);
        std::vector<int> hits(1000, 0);
        for (int r = 0; r < 200; ++r)
            for (auto i : bootstrapRows(1000, 1, r)) {
                QVERIFY(i < 1000);
                ++hits[i];
            }
        // Each index is drawn ~200 times; a biased generator would leave far outliers.
        QVERIFY(*std::min_element(hits.begin(), hits.end()) > 120);
        QVERIFY(*std::max_element(hits.begin(), hits.end()) < 290);
    }

    void percentileIntervalMatchesNumpy() {
        std::mt19937_64 rng(3);
        std::normal_distribution<double> g(10, 2);
        std::vector<double> x(300);
        for (auto& v : x) v = g(rng);
        BootstrapOptions options;
        options.resamples = 500;
        options.seed = 17;
        options.confidence = 0.9;
        auto mean = [&](std::span<const std::size_t> rows) {
            double s = 0;
            for (auto r : rows) s += x[r];
            return std::vector<std::optional<double>>{s / double(rows.size())};
        };
        const auto ci = bootstrapIntervals(x.size(), 1, mean, options);
        std::vector<std::vector<std::size_t>> resamples;
        for (int b = 0; b < options.resamples; ++b) resamples.push_back(bootstrapRows(x.size(), options.seed, b));
        json ref;
        try {
            ref = runPythonReference(
                R"(
x = np.array(inp['x']); R = np.array(inp['rows'])
means = x[R].mean(axis=1)
result['lo'] = np.percentile(means, 5); result['hi'] = np.percentile(means, 95)
q = np.array(inp['q']); result['quantiles'] = [np.percentile(q, k) for k in (0, 2.5, 50, 97.5, 100)]
)",
                {{"x", x}, {"rows", resamples}, {"q", std::vector<double>(x.begin(), x.begin() + 37)}});
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        QCOMPARE(ci[0].validResamples, 500);
        QVERIFY(std::abs(*ci[0].lower - ref["lo"].get<double>()) < 1e-9);
        QVERIFY(std::abs(*ci[0].upper - ref["hi"].get<double>()) < 1e-9);
        QVERIFY(*ci[0].lower < 10 && *ci[0].upper > 10);
        std::vector<double> q(x.begin(), x.begin() + 37);
        std::sort(q.begin(), q.end());
        const double levels[] = {0, 0.025, 0.5, 0.975, 1};
        for (int k = 0; k < 5; ++k)
            QVERIFY(std::abs(quantileSorted(q, levels[k]) - ref["quantiles"][k].get<double>()) < 1e-12);
    }

    void bootstrapOfReportCoversEstimatesAndNamesGaps() {
        auto d = lumen::testing::syntheticLabels(3, 300, 8);
        std::fill(d.truth[2].begin(), d.truth[2].end(), 0.0);
        const std::vector<std::string> names = {"A", "B", "C"};
        const auto report = evaluateMultiLabel(d.truth, d.score, names, {0.5});
        BootstrapOptions options;
        options.resamples = 200;
        const auto ci = bootstrapMultiLabel(d.truth, d.score, names, {0.5}, {}, options);
        for (std::size_t l = 0; l < 2; ++l) {
            const auto& a = ci.labels[l].at("auroc");
            QVERIFY(a.lower && a.upper);
            QVERIFY(*a.lower <= *report.labels[l].auroc.value && *report.labels[l].auroc.value <= *a.upper);
            QVERIFY(*a.upper - *a.lower > 0.005);
        }
        QVERIFY(!ci.labels[2].at("auroc").lower);
        QVERIFY(ci.labels[2].at("auroc").reason.find("0 of 200") != std::string::npos);
        QVERIFY(ci.labels[2].at("specificity").lower.has_value());
        const json j = toJson(report, &ci);
        QVERIFY(j["labels"]["C"]["ci"]["auroc"].is_null());
        QCOMPARE(j["labels"]["A"]["ci"]["auroc"][0].get<double>(), *ci.labels[0].at("auroc").lower);
        QCOMPARE(j["bootstrap"]["resamples"].get<int>(), 200);
        // Same seed, same intervals.
        const auto again = bootstrapMultiLabel(d.truth, d.score, names, {0.5}, {}, options);
        QCOMPARE(*again.labels[1].at("f1").upper, *ci.labels[1].at("f1").upper);
    }
};

QTEST_GUILESS_MAIN(TestCalibrationMetrics)
#include "test_calibration_metrics.moc"
