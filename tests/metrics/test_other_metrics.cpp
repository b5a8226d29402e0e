// Qt Test suite for core/metrics retrieval, captioning and localization: hand-computed small
// cases and numpy for the embedding similarities.
#include "metrics/captioning.h"
#include "metrics/localization.h"
#include "metrics/column_report.h"
#include "metrics/regression.h"
#include "metrics/retrieval.h"

#include "python_reference.h"
#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <random>

using namespace lumen::metrics;
using nlohmann::json;

class TestOtherMetrics : public QObject {
    Q_OBJECT
private slots:
    void regressionMatchesSklearnAndScipy() {
        // Stenosis-like values with NaN (not labelled) in both series: MAE, RMSE and Pearson r
        // on the remaining pairs equal scikit-learn's and scipy's.
        std::mt19937_64 rng(7);
        std::normal_distribution<double> noise(0, 12);
        std::uniform_real_distribution<double> u(0, 100);
        std::vector<double> truth, pred;
        for (int i = 0; i < 200; ++i) {
            const double t = u(rng);
            truth.push_back(i % 17 == 0 ? std::nan("") : t);
            pred.push_back(i % 23 == 0 ? std::nan("") : t + noise(rng));
        }
        const RegressionReport r = evaluateRegression(truth, pred);
        json in;
        for (std::size_t i = 0; i < truth.size(); ++i) {
            in["t"].push_back(std::isnan(truth[i]) ? json() : json(truth[i]));
            in["p"].push_back(std::isnan(pred[i]) ? json() : json(pred[i]));
        }
        const json ref = lumen::testing::runPythonReference(R"PY(
from sklearn.metrics import mean_absolute_error, mean_squared_error
from scipy.stats import pearsonr
t = np.array([np.nan if v is None else v for v in inp['t']])
p = np.array([np.nan if v is None else v for v in inp['p']])
keep = ~(np.isnan(t) | np.isnan(p))
result['n'] = int(keep.sum())
result['mae'] = mean_absolute_error(t[keep], p[keep])
result['rmse'] = math.sqrt(mean_squared_error(t[keep], p[keep]))
result['r'] = pearsonr(t[keep], p[keep])[0]
)PY",
                                                            in);
        QCOMPARE(r.n, ref["n"].get<std::size_t>());
        QCOMPARE(r.n + r.dropped, truth.size());
        QVERIFY(r.dropped > 0);
        QVERIFY(std::abs(*r.mae.value - ref["mae"].get<double>()) < 1e-12);
        QVERIFY(std::abs(*r.rmse.value - ref["rmse"].get<double>()) < 1e-12);
        QVERIFY(std::abs(*r.pearson.value - ref["r"].get<double>()) < 1e-12);
        // Undefined cases say why.
        const std::vector<double> one{3}, constant{5, 5, 5}, varied{1, 2, 3}, none{std::nan("")};
        QVERIFY(!evaluateRegression(one, one).pearson.has());
        QCOMPARE(*evaluateRegression(one, one).mae.value, 0.0);
        QCOMPARE(evaluateRegression(varied, constant).pearson.reason, std::string("Pearson r of a constant series"));
        QCOMPARE(evaluateRegression(none, none).mae.reason, std::string("no labelled pairs"));
    }

    void columnReportMatchesSklearnOnTheSameResamples() {
        // Two binary columns of one group (one with unlabelled cells), one binary column with a
        // single class (AUROC undefined) and a regression column: AUROC, AUPRC, the g-mean
        // threshold and its confusion numbers, MAE/RMSE/r, the group macros, and the percentile
        // intervals recomputed by numpy on the very resamples (bootstrapRows) Lumen drew.
        std::mt19937_64 rng(11);
        std::uniform_real_distribution<double> u(0, 1);
        const std::size_t n = 120;
        std::vector<std::vector<double>> truth(4, std::vector<double>(n)), score(4, std::vector<double>(n));
        for (std::size_t r = 0; r < n; ++r) {
            for (int c = 0; c < 2; ++c) {
                const double y = u(rng) < 0.3 + 0.2 * c ? 1 : 0;
                truth[c][r] = (c == 1 && r % 9 == 0) ? std::nan("") : y;
                score[c][r] = std::clamp(0.35 * y + 0.65 * u(rng), 0.0, 1.0);
            }
            truth[2][r] = 0;
            score[2][r] = u(rng);
            truth[3][r] = r % 7 == 0 ? std::nan("") : std::round(100 * u(rng));
            score[3][r] = std::clamp(truth[3][r] + 15 * (u(rng) - 0.5), 0.0, 100.0);
        }
        const std::vector<ColumnSpec> specs = {{"a_bin", ColumnKind::Binary, "bin"},
                                               {"b_bin", ColumnKind::Binary, "bin"},
                                               {"c_bin", ColumnKind::Binary, "bin"},
                                               {"a_pct", ColumnKind::Regression, "pct"}};
        BootstrapOptions bo;
        bo.resamples = 200;
        bo.seed = 5;
        const ColumnsReport rep = evaluateColumns(truth, score, specs, bo);
        json in;
        const auto arr = [](const std::vector<double>& v) {
            json a = json::array();
            for (double x : v) a.push_back(std::isnan(x) ? json() : json(x));
            return a;
        };
        for (int c = 0; c < 4; ++c) in["t"].push_back(arr(truth[c])), in["p"].push_back(arr(score[c]));
        for (int b = 0; b < bo.resamples; ++b) in["rows"].push_back(bootstrapRows(n, bo.seed, b));
        const json ref = lumen::testing::runPythonReference(R"PY(
from sklearn import metrics as M
from scipy.stats import pearsonr
T = [np.array([np.nan if v is None else v for v in c]) for c in inp['t']]
P = [np.array([np.nan if v is None else v for v in c]) for c in inp['p']]
def binary(t, p, thr=None):
    k = ~(np.isnan(t) | np.isnan(p)); t, p = t[k].astype(int), p[k]
    out = {}
    if 0 < t.sum() < len(t):
        out['auroc'] = M.roc_auc_score(t, p); out['auprc'] = M.average_precision_score(t, p)
        if thr is None:
            fpr, tpr, th = M.roc_curve(t, p, drop_intermediate=False)
            g = np.sqrt(tpr * (1 - fpr)); i = int(np.argmax(g[1:])) + 1; thr = th[i]
            out['threshold'] = thr
            tn, fp, fn, tp = M.confusion_matrix(t, (p >= thr).astype(int), labels=[0, 1]).ravel()
            out['counts'] = [tp, fp, tn, fn]
        d = (p >= thr).astype(int)
        out['sensitivity'] = M.recall_score(t, d); out['specificity'] = M.recall_score(t, d, pos_label=0)
    return out
def regression(t, p):
    k = ~(np.isnan(t) | np.isnan(p)); t, p = t[k], p[k]
    return {'mae': M.mean_absolute_error(t, p), 'rmse': math.sqrt(M.mean_squared_error(t, p)), 'r': pearsonr(t, p)[0]}
full = [binary(T[c], P[c]) for c in range(3)]
result['binary'] = full; result['regression'] = regression(T[3], P[3])
aucs = [f['auroc'] for f in full if 'auroc' in f]; result['macro_auroc'] = np.mean(aucs)
result['macro_auprc'] = np.mean([f['auprc'] for f in full if 'auroc' in f])
reps = {'a_auroc': [], 'b_sens': [], 'macro': [], 'mae': [], 'r': []}
for rows in inp['rows']:
    rows = np.array(rows)
    bs = [binary(T[c][rows], P[c][rows], full[c].get('threshold')) for c in range(3)]
    if 'auroc' in bs[0]: reps['a_auroc'].append(bs[0]['auroc'])
    if 'sensitivity' in bs[1]: reps['b_sens'].append(bs[1]['sensitivity'])
    a = [b['auroc'] for b in bs if 'auroc' in b]
    if a: reps['macro'].append(np.mean(a))
    g = regression(T[3][rows], P[3][rows]); reps['mae'].append(g['mae']); reps['r'].append(g['r'])
result['ci'] = {k: [np.percentile(v, 2.5), np.percentile(v, 97.5)] for k, v in reps.items()}
)PY",
                                                            in);
        const auto close = [](const MetricValue& v, const json& r) {
            return v.has() && std::abs(*v.value - r.get<double>()) < 1e-12;
        };
        for (int c = 0; c < 2; ++c) {
            const auto& col = rep.columns[std::size_t(c)];
            const json& f = ref["binary"][c];
            QVERIFY(close(col.auroc, f["auroc"]) && close(col.auprc, f["auprc"]) &&
                    close(col.threshold, f["threshold"]));
            const auto& k = col.atThreshold.counts;
            QCOMPARE((std::vector<std::int64_t>{k.tp, k.fp, k.tn, k.fn}), f["counts"].get<std::vector<std::int64_t>>());
        }
        QCOMPARE(rep.columns[1].n, std::size_t(n - (n + 8) / 9));
        QVERIFY(!rep.columns[2].auroc.has() && !rep.columns[2].threshold.has());
        QVERIFY(close(rep.columns[3].regression.mae, ref["regression"]["mae"]));
        QVERIFY(close(rep.columns[3].regression.pearson, ref["regression"]["r"]));
        QCOMPARE(rep.groups.size(), std::size_t(2));
        QCOMPARE(rep.groups[0].columns, std::size_t(2));  // c_bin has one class: left out of the macro
        QVERIFY(close(rep.groups[0].macroAuroc, ref["macro_auroc"]) &&
                close(rep.groups[0].macroAuprc, ref["macro_auprc"]));
        QVERIFY(close(rep.groups[1].mae, ref["regression"]["mae"]));  // one column: pooled = its own
        const auto sameInterval = [](const ConfidenceInterval& ci, const json& r) {
            return ci.lower && ci.upper && std::abs(*ci.lower - r[0].get<double>()) < 1e-12 &&
                   std::abs(*ci.upper - r[1].get<double>()) < 1e-12;
        };
        QVERIFY(sameInterval(rep.columns[0].intervals.at("auroc"), ref["ci"]["a_auroc"]));
        QVERIFY(sameInterval(rep.columns[1].intervals.at("sensitivity"), ref["ci"]["b_sens"]));
        QVERIFY(sameInterval(rep.groups[0].intervals.at("macro_auroc"), ref["ci"]["macro"]));
        QVERIFY(sameInterval(rep.columns[3].intervals.at("mae"), ref["ci"]["mae"]));
        QVERIFY(sameInterval(rep.columns[3].intervals.at("pearson"), ref["ci"]["r"]));
        QVERIFY(!rep.columns[2].intervals.at("auroc").lower);
        const json j = toJson(rep);
        QCOMPARE(j["columns"]["a_bin"]["ci"]["auroc"][0].get<double>(), *rep.columns[0].intervals.at("auroc").lower);
        QVERIFY(j["columns"]["c_bin"]["auroc"].is_null() && j["columns"]["c_bin"]["missing"].contains("auroc"));
        QVERIFY(j["groups"]["pct"].contains("mae") && j["groups"]["bin"].contains("macro_auroc"));
        // A binary label other than 0/1 names the column and row.
        auto bad = truth;
        bad[1][4] = 2;
        try {
            evaluateColumns(bad, score, specs, {});
            QFAIL("no error for a label of 2");
        } catch (const std::invalid_argument& e) {
            QVERIFY2(std::string(e.what()).find("b_bin, row 5") != std::string::npos, e.what());
        }
    }

    void retrievalHandComputed() {
        // Row 0: match best (rank 1). Row 1: one other scores higher (rank 2). Row 2: a tie with
        // the match counts against it (rank 2).
        const std::vector<std::vector<double>> s = {{0.9, 0.1, 0.2}, {0.8, 0.5, 0.1}, {0.3, 0.7, 0.7}};
        const RetrievalReport r = evaluateRetrieval(s, {1, 2});
        QCOMPARE(r.aToB.ranks, (std::vector<std::size_t>{1, 2, 2}));
        // Columns as queries: col 0 [0.9, 0.8, 0.3] -> 1; col 1 [0.1, 0.5, 0.7] -> 2; col 2 [0.2, 0.1, 0.7] -> 1.
        QCOMPARE(r.bToA.ranks, (std::vector<std::size_t>{1, 2, 1}));
        QCOMPARE(r.aToB.recallAtK.at(1), 1.0 / 3);
        QCOMPARE(r.aToB.recallAtK.at(2), 1.0);
        QCOMPARE(r.bToA.recallAtK.at(1), 2.0 / 3);
        QCOMPARE(r.aToB.medianRank, 2.0);
        QCOMPARE(r.bToA.medianRank, 1.0);
        QVERIFY(std::abs(r.meanAlignment - (0.9 + 0.5 + 0.7) / 3) < 1e-15);
        QVERIFY(std::abs(r.aToB.meanReciprocalRank - (1 + 0.5 + 0.5) / 3) < 1e-15);
        QVERIFY(std::abs(r.bToA.meanReciprocalRank - (1 + 0.5 + 1) / 3) < 1e-15);
        const double unmatched = (0.1 + 0.2 + 0.8 + 0.1 + 0.3 + 0.7) / 6;
        QVERIFY(std::abs(r.meanUnmatched - unmatched) < 1e-15);
        QVERIFY(std::abs(r.alignmentScore - ((0.9 + 0.5 + 0.7) / 3 - unmatched)) < 1e-15);
        QVERIFY(std::isnan(evaluateRetrieval({{0.4}}).meanUnmatched));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, evaluateRetrieval({{1, 2}}));
    }

    void groupedRetrievalHandComputed() {
        // Images 0 and 2 share text 0, image 1 has text 1; three texts (text 2 has image 3).
        const std::vector<std::vector<double>> s = {{0.9, 0.2, 0.1}, {0.6, 0.5, 0.1}, {0.3, 0.4, 0.8}, {0.2, 0.1, 0.7}};
        const std::vector<std::size_t> of = {0, 1, 0, 2};
        const RetrievalReport r = evaluateGroupedRetrieval(s, of, {1, 2});
        // Image -> text: 0 ranks text 0 first; 1: text 0 scores 0.6 > 0.5 -> 2; 2: texts 2 (0.8)
        // and 1 (0.4) beat 0.3 -> 3; 3: text 2 first.
        QCOMPARE(r.aToB.ranks, (std::vector<std::size_t>{1, 2, 3, 1}));
        // Text -> image: text 0's best image scores 0.9, no other image >= -> 1; text 1's only
        // image scores 0.5, image 2 (0.4) does not, none >= -> 1; text 2's best is 0.7 (image 3),
        // image 2 of text 0 scores 0.8 -> 2.
        QCOMPARE(r.bToA.ranks, (std::vector<std::size_t>{1, 1, 2}));
        QCOMPARE(r.aToB.recallAtK.at(1), 0.5);
        QCOMPARE(r.bToA.recallAtK.at(1), 2.0 / 3);
        const double matched = (0.9 + 0.5 + 0.3 + 0.7) / 4;
        const double unmatched = (0.2 + 0.1 + 0.6 + 0.1 + 0.4 + 0.8 + 0.2 + 0.1) / 8;
        QVERIFY(std::abs(r.alignmentScore - (matched - unmatched)) < 1e-15);
        // One image per text: the plain metric.
        const std::vector<std::vector<double>> sq = {{0.9, 0.1, 0.2}, {0.8, 0.5, 0.1}, {0.3, 0.7, 0.7}};
        const auto a = evaluateGroupedRetrieval(sq, {0, 1, 2}), b = evaluateRetrieval(sq);
        QCOMPARE(a.aToB.ranks, b.aToB.ranks);
        QCOMPARE(a.bToA.ranks, b.bToA.ranks);
        QCOMPARE(a.alignmentScore, b.alignmentScore);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 evaluateGroupedRetrieval(sq, {0, 0, 0}));  // texts 1, 2 unmatched
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, evaluateGroupedRetrieval(sq, {0, 1, 5}));
    }

    void embeddingsMatchNumpy() {
        std::mt19937_64 rng(4);
        std::normal_distribution<double> g(0, 1);
        const std::size_t n = 40, dim = 8;
        std::vector<std::vector<double>> a(n, std::vector<double>(dim)), b = a;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t k = 0; k < dim; ++k) {
                a[i][k] = g(rng);
                b[i][k] = a[i][k] + 1.2 * g(rng);  // noisy partner
            }
        const RetrievalReport r = evaluateEmbeddings(a, b);
        json ref;
        try {
            ref = lumen::testing::runPythonReference(R"(
A = np.array(inp['a']); B = np.array(inp['b'])
A = A / np.linalg.norm(A, axis=1, keepdims=True); B = B / np.linalg.norm(B, axis=1, keepdims=True)
S = A @ B.T; d = np.diag(S)
ra = 1 + (S >= d[:, None]).sum(axis=1) - 1
rb = 1 + (S >= d[None, :]).sum(axis=0) - 1
result['ra'] = ra; result['rb'] = rb; result['align'] = d.mean()
off = ~np.eye(len(d), dtype=bool)
result['score'] = d.mean() - S[off].mean()
result['mrr'] = [float((1.0 / ra).mean()), float((1.0 / rb).mean())]
result['r_at'] = [[float((ra <= k).mean()), float((rb <= k).mean())] for k in (1, 5, 10)]
result['med'] = [float(np.median(ra)), float(np.median(rb))]
)",
                                                     {{"a", a}, {"b", b}});
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        QCOMPARE(r.aToB.ranks, ref["ra"].get<std::vector<std::size_t>>());
        QCOMPARE(r.bToA.ranks, ref["rb"].get<std::vector<std::size_t>>());
        QVERIFY(std::abs(r.meanAlignment - ref["align"].get<double>()) < 1e-12);
        QVERIFY(std::abs(r.alignmentScore - ref["score"].get<double>()) < 1e-12);
        QVERIFY(std::abs(r.aToB.meanReciprocalRank - ref["mrr"][0].get<double>()) < 1e-12);
        QVERIFY(std::abs(r.bToA.meanReciprocalRank - ref["mrr"][1].get<double>()) < 1e-12);
        const int ks[] = {1, 5, 10};
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(r.aToB.recallAtK.at(ks[i]), ref["r_at"][i][0].get<double>());
            QCOMPARE(r.bToA.recallAtK.at(ks[i]), ref["r_at"][i][1].get<double>());
        }
        QCOMPARE(r.aToB.medianRank, ref["med"][0].get<double>());
        QCOMPARE(r.bToA.medianRank, ref["med"][1].get<double>());
        QVERIFY(r.aToB.recallAtK.at(10) > r.aToB.recallAtK.at(1));  // the data has signal
    }

    void bleuAndRougeHandComputed() {
        const Tokens cand = tokenize("The cat sat on the mat."), ref = tokenize("the cat is on the mat");
        QCOMPARE(cand, (Tokens{"the", "cat", "sat", "on", "the", "mat"}));
        // Clipped n-gram matches 5/6, 3/5, 1/4, 0/3; add-one on n >= 2: 4/6, 2/5, 1/4.
        const double expected = std::pow(5.0 / 6 * 4.0 / 6 * 2.0 / 5 * 1.0 / 4, 0.25);
        QVERIFY(std::abs(bleu4(cand, {ref}) - expected) < 1e-15);
        QVERIFY(std::abs(rougeL(cand, {ref}) - 5.0 / 6) < 1e-15);  // LCS "the cat on the mat"
        // Short candidate: precisions 1, brevity penalty exp(1 - 6/2); ROUGE-L P=1, R=1/3.
        const Tokens shortCand = {"the", "cat"};
        QVERIFY(std::abs(bleu4(shortCand, {ref}) - std::exp(-2.0)) < 1e-15);
        QVERIFY(std::abs(rougeL(shortCand, {ref}) - 0.5) < 1e-15);
        QCOMPARE(bleu4(Tokens{"dog"}, {ref}), 0.0);
        QCOMPARE(bleu4(ref, {ref}), 1.0);
        // Two references: counts clipped by the max over references, closest length (4 vs 6 for a 5-token candidate: tie -> 4).
        const Tokens c5 = {"a", "b", "c", "d", "e"};
        const double twoRefs = bleu4(c5, {{"a", "b", "c", "d"}, {"x", "y", "z", "w", "v", "u"}});
        const double expected2 = std::pow(4.0 / 5 * 4.0 / 5 * 3.0 / 4 * 2.0 / 3, 0.25);  // BP = 1 (5 >= 4)
        QVERIFY(std::abs(twoRefs - expected2) < 1e-15);
        const auto scores = evaluateCaptions({"The cat sat on the mat.", "the cat"},
                                             {{"the cat is on the mat"}, {"the cat is on the mat"}});
        QVERIFY(std::abs(scores.bleu4 - (expected + std::exp(-2.0)) / 2) < 1e-15);
        QVERIFY(std::abs(scores.rougeL - (5.0 / 6 + 0.5) / 2) < 1e-15);
        QVERIFY(std::isnan(scores.numberStated));  // no reference states a number
        QCOMPARE(numbersIn("LAD 70% stenosis, 3.5 mm; 2."), (std::vector<std::string>{"70", "3.5", "2"}));
        // Of the 3 pairs whose reference states a number, 2 candidates state one, 1 the same one.
        const auto numbers =
            evaluateCaptions({"70% stenosis of the LAD", "severe stenosis", "a 50% stenosis", "normal"},
                             {{"LAD stenosis 70%"}, {"RCA 90%"}, {"LCx 30%", "LCx 40 %"}, {"normal"}});
        QCOMPARE(numbers.withNumber, std::size_t(3));
        QVERIFY(std::abs(numbers.numberStated - 2.0 / 3) < 1e-15);
        QVERIFY(std::abs(numbers.numberMatched - 1.0 / 3) < 1e-15);
    }

    void iouAndMapHandComputed() {
        QVERIFY(std::abs(iou({0, 0, 2, 2}, {1, 1, 3, 3}) - 1.0 / 7) < 1e-15);
        QCOMPARE(iou({0, 0, 1, 1}, {2, 2, 3, 3}), 0.0);
        QCOMPARE(iou({0, 0, 1, 1}, {0, 0, 1, 1}), 1.0);
        const std::vector<GroundTruthBox> truth = {
            {"img1", "nodule", {0, 0, 10, 10}}, {"img2", "nodule", {0, 0, 10, 10}}, {"img3", "mass", {0, 0, 4, 4}}};
        const std::vector<DetectedBox> dets = {{"img1", "nodule", 0.9, {0, 0, 10, 10}},  // TP
                                               {"img1", "nodule", 0.8, {0, 0, 10, 10}},  // duplicate: FP
                                               {"img2", "nodule", 0.7, {0, 0, 10, 7}},   // IoU 0.7
                                               {"img2", "nodule", 0.6, {5, 0, 15, 10}},  // IoU 1/3: FP
                                               {"img9", "other", 0.5, {0, 0, 1, 1}}};    // no ground truth: left out
        // IoU 0.5: P/R = (1, .5) (.5, .5) (2/3, 1) (.5, 1); envelope area .5*1 + .5*2/3.
        const auto at50 = evaluateDetections(truth, dets, 0.5);
        QCOMPARE(at50.labels, (std::vector<std::string>{"mass", "nodule"}));
        QCOMPARE(at50.averagePrecision[0], 0.0);
        QVERIFY(std::abs(at50.averagePrecision[1] - (0.5 + 0.5 * 2.0 / 3)) < 1e-15);
        QVERIFY(std::abs(at50.meanAveragePrecision - (0.5 + 0.5 * 2.0 / 3) / 2) < 1e-15);
        // IoU 0.75: only the first detection is a TP: AP = 0.5.
        const auto at75 = evaluateDetections(truth, dets, 0.75);
        QVERIFY(std::abs(at75.averagePrecision[1] - 0.5) < 1e-15);
    }
};

QTEST_GUILESS_MAIN(TestOtherMetrics)
#include "test_other_metrics.moc"
