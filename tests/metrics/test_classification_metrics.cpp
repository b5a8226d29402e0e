// Qt Test suite for core/metrics/classification: every number against scikit-learn, run in
// the same test on the same data (random, ties, one class only, constant predictions).
#include "metrics/classification.h"
#include "metrics/metrics_report.h"

#include "python_reference.h"
#include "test_support.h"

#include <cmath>
#include <limits>

using namespace lumen::metrics;
using lumen::testing::runPythonReference;
using nlohmann::json;

namespace {

constexpr double kTol = 1e-9;

const char* kBinaryScript = R"(
from sklearn import metrics as M
y = np.array(inp['y'], dtype=int); p = np.array(inp['p'], dtype=float); t = inp['t']
pos = int(y.sum()); neg = len(y) - pos
result['auroc'] = M.roc_auc_score(y, p) if pos and neg else None
result['ap'] = M.average_precision_score(y, p) if pos else None
import warnings
warnings.simplefilter('ignore')
fpr, tpr, th = M.roc_curve(y, p, drop_intermediate=False)
result['fpr'] = fpr; result['tpr'] = tpr; result['roc_thresholds'] = th[1:]
pr, rc, pth = M.precision_recall_curve(y, p)
result['pr_precision'] = pr; result['pr_recall'] = rc; result['pr_thresholds'] = pth
d = (p >= t).astype(int)
tn, fp, fn, tp = M.confusion_matrix(y, d, labels=[0, 1]).ravel()
result['counts'] = [tp, fp, tn, fn]
result['precision'] = M.precision_score(y, d) if tp + fp else None
result['recall'] = M.recall_score(y, d) if pos else None
result['specificity'] = M.recall_score(y, d, pos_label=0) if neg else None
result['npv'] = M.precision_score(y, d, pos_label=0) if tn + fn else None
result['f1'] = M.f1_score(y, d) if 2 * tp + fp + fn else None
result['positive_rate'] = float(d.mean())
result['brier'] = M.brier_score_loss(y, p)
if pos and neg:
    j = tpr - fpr
    k = int(np.argmax(j[1:])) + 1
    result['youden_threshold'] = th[k]; result['youden_j'] = j[k]
    g = np.sqrt(tpr * (1 - fpr))
    k = int(np.argmax(g[1:])) + 1
    result['gmean_threshold'] = th[k]; result['gmean'] = g[k]
if pos:
    cands = np.unique(p)[::-1]
    f1s = np.array([M.f1_score(y, (p >= c).astype(int)) for c in cands])
    result['best_f1'] = f1s.max()
    order = np.sort(f1s)[::-1]
    result['best_f1_unique'] = bool(len(order) == 1 or order[0] - order[1] > 1e-12)
    result['best_f1_threshold'] = cands[int(np.argmax(f1s))]
)";

void compareOptional(const MetricValue& v, const json& ref, const char* what, double tol = kTol) {
    if (ref.is_null()) {
        QVERIFY2(!v.has(), (std::string(what) + " should be missing, got " + std::to_string(v.valueOr(0))).c_str());
        QVERIFY2(v.reason.rfind("undefined", 0) == 0, (std::string(what) + ": reason \"" + v.reason + "\"").c_str());
        return;
    }
    QVERIFY2(v.has(), (std::string(what) + " missing: " + v.reason).c_str());
    const double expected = ref.get<double>();
    QVERIFY2(std::abs(*v.value - expected) <= tol,
             (std::string(what) + ": " + std::to_string(*v.value) + " vs sklearn " + std::to_string(expected)).c_str());
}

void compareVector(const std::vector<double>& v, const json& ref, const char* what) {
    QVERIFY2(v.size() == ref.size(),
             (std::string(what) + ": " + std::to_string(v.size()) + " points vs sklearn " + std::to_string(ref.size()))
                 .c_str());
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (ref[i].is_null()) {
            QVERIFY2(std::isnan(v[i]), (std::string(what) + " point " + std::to_string(i) + " should be NaN").c_str());
            continue;
        }
        QVERIFY2(std::abs(v[i] - ref[i].get<double>()) <= kTol,
                 (std::string(what) + " point " + std::to_string(i)).c_str());
    }
}

std::vector<double> constant(std::size_t n, double v) { return std::vector<double>(n, v); }

}  // namespace

class TestClassificationMetrics : public QObject {
    Q_OBJECT
private slots:
    void binaryMatchesSklearn_data() {
        QTest::addColumn<std::vector<double>>("y");
        QTest::addColumn<std::vector<double>>("p");
        QTest::addColumn<double>("threshold");
        const auto random = lumen::testing::syntheticLabels(1, 500, 11);
        const auto ties = lumen::testing::syntheticLabels(1, 300, 12, 1);
        QTest::newRow("random") << random.truth[0] << random.score[0] << 0.5;
        QTest::newRow("random t=0.3") << random.truth[0] << random.score[0] << 0.3;
        QTest::newRow("ties (1 decimal)") << ties.truth[0] << ties.score[0] << 0.5;
        QTest::newRow("ties at threshold") << ties.truth[0] << ties.score[0] << 0.4;
        QTest::newRow("no positives") << constant(50, 0) << random.score[0] << 0.5;
        QTest::newRow("all positive truths") << constant(50, 1) << random.score[0] << 0.5;
        QTest::newRow("all-positive predictions") << random.truth[0] << constant(500, 1.0) << 0.5;
        QTest::newRow("constant 0.5") << random.truth[0] << constant(500, 0.5) << 0.5;
        QTest::newRow("no positive predictions") << random.truth[0] << constant(500, 0.2) << 0.5;
        QTest::newRow("perfect") << std::vector<double>{0, 0, 1, 1, 0, 1} << std::vector<double>{.1, .2, .8, .9, .3, .7}
                                 << 0.5;
        QTest::newRow("inverted") << std::vector<double>{1, 1, 0, 0} << std::vector<double>{.1, .2, .8, .9} << 0.5;
        QTest::newRow("three rows") << std::vector<double>{0, 1, 0} << std::vector<double>{.4, .4, .9} << 0.5;
    }
    void binaryMatchesSklearn() {
        QFETCH(std::vector<double>, y);
        QFETCH(std::vector<double>, p);
        QFETCH(double, threshold);
        if (p.size() != y.size()) p.resize(y.size());
        json ref;
        try {
            ref = runPythonReference(kBinaryScript, {{"y", y}, {"p", p}, {"t", threshold}});
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        compareOptional(auroc(y, p), ref["auroc"], "AUROC");
        compareOptional(averagePrecision(y, p), ref["ap"], "average precision");
        const RocCurve roc = rocCurve(y, p);
        compareVector(roc.fpr, ref["fpr"], "ROC fpr");
        compareVector(roc.tpr, ref["tpr"], "ROC tpr");
        QVERIFY(std::isinf(roc.thresholds[0]));
        compareVector(std::vector<double>(roc.thresholds.begin() + 1, roc.thresholds.end()), ref["roc_thresholds"],
                      "ROC thresholds");
        const PrCurve pr = precisionRecallCurve(y, p);
        compareVector(pr.precision, ref["pr_precision"], "PR precision");
        compareVector(pr.recall, ref["pr_recall"], "PR recall");
        compareVector(pr.thresholds, ref["pr_thresholds"], "PR thresholds");

        const ThresholdMetrics m = metricsAtThreshold(y, p, threshold);
        const auto counts = ref["counts"];
        QCOMPARE(m.counts.tp, counts[0].get<std::int64_t>());
        QCOMPARE(m.counts.fp, counts[1].get<std::int64_t>());
        QCOMPARE(m.counts.tn, counts[2].get<std::int64_t>());
        QCOMPARE(m.counts.fn, counts[3].get<std::int64_t>());
        compareOptional(m.precision, ref["precision"], "precision");
        compareOptional(m.recall, ref["recall"], "recall");
        compareOptional(m.specificity, ref["specificity"], "specificity");
        compareOptional(m.npv, ref["npv"], "NPV");
        compareOptional(m.f1, ref["f1"], "F1");
        compareOptional(m.positiveRate, ref["positive_rate"], "positive rate");

        if (ref.contains("youden_threshold")) {
            const MetricValue t = bestThresholdYouden(y, p);
            compareOptional(t, ref["youden_threshold"], "Youden threshold");
            const auto at = metricsAtThreshold(y, p, *t.value);
            QVERIFY(std::abs(*at.recall.value + *at.specificity.value - 1 - ref["youden_j"].get<double>()) < kTol);
        } else {
            QVERIFY(!bestThresholdYouden(y, p).has());
        }
        if (ref.contains("gmean_threshold")) {  // g-mean = sqrt(TPR (1 - FPR)) on roc_curve's points
            const MetricValue t = bestThresholdGMean(y, p);
            compareOptional(t, ref["gmean_threshold"], "g-mean threshold");
            const auto at = metricsAtThreshold(y, p, *t.value);
            QVERIFY(std::abs(std::sqrt(*at.recall.value * *at.specificity.value) - ref["gmean"].get<double>()) < kTol);
        } else {
            QVERIFY(!bestThresholdGMean(y, p).has());
        }
        if (ref.contains("best_f1")) {
            const MetricValue t = bestThresholdF1(y, p);
            QVERIFY(t.has());
            compareOptional(metricsAtThreshold(y, p, *t.value).f1, ref["best_f1"], "best F1");
            if (ref["best_f1_unique"].get<bool>()) compareOptional(t, ref["best_f1_threshold"], "best F1 threshold");
        } else {
            QVERIFY(!bestThresholdF1(y, p).has());
        }
    }

    void undefinedValuesCarryTheReason() {
        const std::vector<double> y = {0, 0, 0}, p = {0.1, 0.7, 0.4};
        const MetricValue a = auroc(y, p);
        QVERIFY(!a.has());
        QCOMPARE(a.reason, std::string("undefined: label has no positive samples"));
        QCOMPARE(auroc(std::vector<double>{1, 1}, std::vector<double>{0.2, 0.3}).reason,
                 std::string("undefined: label has no negative samples"));
        QCOMPARE(metricsAtThreshold(y, p, 0.9).precision.reason,
                 std::string("undefined: no positive predictions at this threshold"));
        QVERIFY(!auroc(std::vector<double>{}, std::vector<double>{}).has());
    }

    // The one reference interpreter of this process (python_reference.h): each script starts from
    // a fresh namespace, its prints do not corrupt the answers, and a failing script is an error
    // with Python's traceback, after which the interpreter still answers.
    void referenceInterpreterIsolatesScripts() {
        const json first = runPythonReference("leaked = 7\nprint('noise')\nresult['x'] = inp['a'] * 2", {{"a", 21}});
        QCOMPARE(first["x"].get<int>(), 42);
        const json second = runPythonReference("result['leaked'] = 'leaked' in globals()", json::object());
        QCOMPARE(second["leaked"].get<bool>(), false);
        QString error;
        try {
            runPythonReference("result['r'] = 1 / 0", json::object());
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        }
        QVERIFY2(error.contains("ZeroDivisionError"), qPrintable(error));
        QCOMPARE(runPythonReference("result = {'n': float('nan'), 'i': float('inf')}", json::object()).dump(),
                 std::string(R"({"i":"inf","n":null})"));
    }

    void rejectsBadInputNamingTheRow() {
        try {
            auroc(std::vector<double>{0, 1, 2}, std::vector<double>{0.1, 0.2, 0.3});
            QFAIL("no error for truth 2");
        } catch (const std::invalid_argument& e) {
            QVERIFY2(std::string(e.what()).find("row 2") != std::string::npos, e.what());
        }
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 auroc(std::vector<double>{0, 1}, std::vector<double>{0.1, std::nan("")}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, auroc(std::vector<double>{0, 1}, std::vector<double>{0.1}));
    }

    void multiLabelMatchesSklearn_data() {
        QTest::addColumn<int>("decimals");
        QTest::addColumn<bool>("withEmptyLabelAndNaN");
        QTest::newRow("continuous") << -1 << false;
        QTest::newRow("ties (2 decimals)") << 2 << false;
        QTest::newRow("empty label + missing cells") << 2 << true;
    }
    void multiLabelMatchesSklearn() {
        QFETCH(int, decimals);
        QFETCH(bool, withEmptyLabelAndNaN);
        auto data = lumen::testing::syntheticLabels(14, 400, 21, decimals);
        if (withEmptyLabelAndNaN) {
            std::fill(data.truth[3].begin(), data.truth[3].end(), 0.0);  // no positives
            for (std::size_t r = 0; r < 400; r += 37) data.score[5][r] = std::nan("");
            for (std::size_t r = 3; r < 400; r += 41) data.truth[6][r] = std::nan("");
        }
        std::vector<std::string> names;
        std::vector<double> thresholds;
        for (int l = 0; l < 14; ++l) names.push_back("L" + std::to_string(l)), thresholds.push_back(0.2 + 0.03 * l);
        const MultiLabelReport r = evaluateMultiLabel(data.truth, data.score, names, thresholds);
        json ref;
        try {
            ref = runPythonReference(R"(
from sklearn import metrics as M
Y = np.array(inp['y'], dtype=float); P = np.array(inp['p'], dtype=float); T = np.array(inp['t'])
# inp arrays are [label][row]; NaN arrives as null
aurocs, f1s, ys, ps, wrong, total = [], [], [], [], 0, 0
per = []
for l in range(Y.shape[0]):
    keep = ~(np.isnan(Y[l]) | np.isnan(P[l]))
    y = Y[l][keep].astype(int); p = P[l][keep]; d = (p >= T[l]).astype(int)
    both = 0 < y.sum() < len(y)
    a = M.roc_auc_score(y, p) if both else None
    f = M.f1_score(y, d) if (y.sum() + d.sum()) else None
    per.append({'auroc': a, 'f1': f, 'n': int(keep.sum()), 'dropped': int((~keep).sum()),
                'ap': M.average_precision_score(y, p) if y.sum() else None, 'brier': M.brier_score_loss(y, p)})
    if a is not None: aurocs.append(a)
    if f is not None: f1s.append(f)
    ys.append(y); ps.append(p); wrong += int((d != y).sum()); total += len(y)
result['labels'] = per
result['macro_auroc'] = float(np.mean(aurocs)); result['macro_f1'] = float(np.mean(f1s))
result['micro_auroc'] = M.roc_auc_score(np.concatenate(ys), np.concatenate(ps))
result['hamming_loss'] = wrong / total
if not np.isnan(Y).any() and not np.isnan(P).any():
    D = (P.T >= T).astype(int)
    result['sk_hamming_loss'] = M.hamming_loss(Y.T.astype(int), D)
    result['sk_micro_auroc'] = M.roc_auc_score(Y.T.astype(int), P.T, average='micro')
    if len(aurocs) == Y.shape[0]:
        result['sk_macro_auroc'] = M.roc_auc_score(Y.T.astype(int), P.T, average='macro')
        result['sk_macro_f1'] = M.f1_score(Y.T.astype(int), D, average='macro')
)",
                                     {{"y", data.truth}, {"p", data.score}, {"t", thresholds}});
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        QCOMPARE(r.labels.size(), std::size_t(14));
        for (std::size_t l = 0; l < 14; ++l) {
            const auto& pl = ref["labels"][l];
            QCOMPARE(r.labels[l].n, pl["n"].get<std::size_t>());
            QCOMPARE(r.labels[l].dropped, pl["dropped"].get<std::size_t>());
            compareOptional(r.labels[l].auroc, pl["auroc"], "label AUROC");
            compareOptional(r.labels[l].atThreshold.f1, pl["f1"], "label F1");
            compareOptional(r.labels[l].averagePrecision, pl["ap"], "label AP");
            compareOptional(r.labels[l].brier, pl["brier"], "label Brier");
        }
        compareOptional(r.macroAuroc, ref["macro_auroc"], "macro AUROC");
        compareOptional(r.macroF1, ref["macro_f1"], "macro F1");
        compareOptional(r.microAuroc, ref["micro_auroc"], "micro AUROC");
        compareOptional(r.hammingLoss, ref["hamming_loss"], "Hamming loss");
        QVERIFY(std::abs(*r.hammingAccuracy.value + *r.hammingLoss.value - 1) < 1e-15);
        if (ref.contains("sk_hamming_loss")) {
            compareOptional(r.hammingLoss, ref["sk_hamming_loss"], "sklearn hamming_loss");
            compareOptional(r.microAuroc, ref["sk_micro_auroc"], "sklearn micro AUROC");
        }
        if (ref.contains("sk_macro_auroc")) {
            compareOptional(r.macroAuroc, ref["sk_macro_auroc"], "sklearn macro AUROC");
            compareOptional(r.macroF1, ref["sk_macro_f1"], "sklearn macro F1");
        }
        if (withEmptyLabelAndNaN) {
            QVERIFY(!r.labels[3].auroc.has());
            const json j = toJson(r);
            QVERIFY(j["labels"]["L3"]["auroc"].is_null());
            QCOMPARE(j["labels"]["L3"]["missing"]["auroc"].get<std::string>(),
                     std::string("undefined: label has no positive samples"));
            QCOMPARE(j["labels"]["L5"]["dropped"].get<std::size_t>(), pl5Dropped());
        }
    }

    // Cross-fitted decisions: each fold decided at the F1-best threshold of the other folds,
    // checked against a brute-force search with sklearn's f1_score (missing scores stay missing).
    void crossFittedDecisionsMatchAReference() {
        auto data = lumen::testing::syntheticLabels(3, 120, 8, 2);
        for (std::size_t r = 0; r < 120; r += 29) data.score[1][r] = std::nan("");
        std::vector<int> fold;
        for (int r = 0; r < 120; ++r) fold.push_back((r * 7) % 3);
        const ThresholdChooser f1 = [](std::span<const double> t, std::span<const double> s) {
            return bestThresholdF1(t, s);
        };
        std::vector<std::vector<double>> decided;
        for (std::size_t l = 0; l < 3; ++l)
            decided.push_back(crossFittedDecisions(data.truth[l], data.score[l], fold, f1));
        json ref;
        try {
            ref = runPythonReference(R"(
from sklearn import metrics as M
Y = np.array(inp['y'], dtype=float); P = np.array(inp['p'], dtype=float); F = np.array(inp['fold'])
out = []
for l in range(Y.shape[0]):
    d = np.full(Y.shape[1], np.nan)
    for f in sorted(set(F.tolist())):
        train = (F != f) & ~np.isnan(P[l]); y = Y[l][train].astype(int); p = P[l][train]
        best, bt = -1.0, 0.5
        for t in sorted(set(p.tolist()), reverse=True):   # ties: the highest threshold wins
            s = M.f1_score(y, (p >= t).astype(int), zero_division=0)
            if s > best + 1e-12: best, bt = s, t
        if y.sum() == 0: bt = 0.5
        rows = (F == f) & ~np.isnan(P[l])
        d[rows] = (P[l][rows] >= bt).astype(float)
    out.append(d)
result['decided'] = out
)",
                                     {{"y", data.truth}, {"p", data.score}, {"fold", fold}});
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        for (std::size_t l = 0; l < 3; ++l)
            for (std::size_t r = 0; r < 120; ++r) {
                const auto& want = ref["decided"][l][r];
                if (want.is_null()) {
                    QVERIFY2(std::isnan(decided[l][r]), ("row " + std::to_string(r)).c_str());
                } else {
                    QCOMPARE(decided[l][r], want.get<double>());
                }
            }
        // One fold only: no other rows to choose on, so every row is decided at the fallback.
        const std::vector<int> one(120, 0);
        const auto fallback = crossFittedDecisions(data.truth[0], data.score[0], one, f1, 0.5);
        for (std::size_t r = 0; r < 120; ++r) QCOMPARE(fallback[r], data.score[0][r] >= 0.5 ? 1.0 : 0.0);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 crossFittedDecisions(data.truth[0], data.score[0], std::vector<int>(3, 0), f1));
    }

    void jsonHasTheDocumentedKeys() {
        const auto data = lumen::testing::syntheticLabels(2, 60, 3);
        const auto r = evaluateMultiLabel(data.truth, data.score, {"A", "B"}, {0.5});
        const json j = toJson(r);
        for (const char* key :
             {"auroc", "average_precision", "precision", "recall", "specificity", "ppv", "npv", "f1", "positive_rate",
              "brier", "ece", "best_threshold_f1", "best_threshold_youden", "tp", "fp", "tn", "fn", "n"})
            QVERIFY2(j["labels"]["A"].contains(key), key);
        for (const char* key : {"auroc", "f1", "brier", "ece"}) QVERIFY2(j["macro"].contains(key), key);
        for (const char* key : {"micro_auroc", "hamming_loss", "hamming_accuracy", "n"}) QVERIFY2(j.contains(key), key);
        QCOMPARE(j["n"].get<int>(), 60);
        QCOMPARE(j["labels"]["A"]["auroc"].get<double>(), *r.labels[0].auroc.value);
    }

private:
    static std::size_t pl5Dropped() { return (400 + 36) / 37; }
};

QTEST_GUILESS_MAIN(TestClassificationMetrics)
#include "test_classification_metrics.moc"
