// Runs `lumen-cli metrics` as a user would and checks its JSON against scikit-learn reading the
// same CSV files with pandas (an independent join), plus its errors and exit codes.
#include "python_reference.h"
#include "test_support.h"

#include <QProcess>
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

using nlohmann::json;

namespace {

const QString kCli = LUMEN_BINARY_DIR "/bin/lumen-cli";
const std::vector<std::string> kNames = {"Atelectasis", "Cardiomegaly", "Effusion",           "Infiltration",  "Mass",
                                         "Nodule",      "Pneumonia",    "Pneumothorax",       "Consolidation", "Edema",
                                         "Emphysema",   "Fibrosis",     "Pleural_Thickening", "Hernia"};

struct CliResult {
    int code = -1;
    QString out, err;
};

CliResult runCli(const QStringList& args) {
    const CliOutcome r = runProcess(kCli, args, 120000);
    return {r.code, QString::fromStdString(r.out), QString::fromStdString(r.err)};
}

// Labels and predictions for kNames: 300 rows, predictions in a shuffled order, two ids only in
// each table, Hernia without positives, one missing prediction and an extra prediction column.
void writeTables(const QTemporaryDir& dir, std::string& labels, std::string& preds) {
    auto d = lumen::testing::syntheticLabels(kNames.size(), 302, 31, 3);
    std::fill(d.truth[13].begin(), d.truth[13].end(), 0.0);
    labels = dir.filePath("labels.csv").toStdString();
    preds = dir.filePath("preds.csv").toStdString();
    std::ofstream l(labels), p(preds);
    l << "image";
    p << "image,extra";
    for (const auto& n : kNames) l << "," << n, p << "," << n;
    l << "\n";
    p << "\n";
    std::vector<std::size_t> order(302);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(2));
    for (std::size_t r = 0; r < 302; ++r) {
        if (r == 300 || r == 301) continue;  // labelled rows without predictions: ids 300, 301 below
        l << "0000" << r << ".png";
        for (std::size_t c = 0; c < kNames.size(); ++c) l << "," << d.truth[c][r];
        l << "\n";
    }
    l << "only_in_labels_a.png" << std::string(kNames.size(), ',') << "\n";
    for (std::size_t k : order) {
        if (k >= 300) {
            p << "only_in_preds_" << k << ".png,1" << std::string(kNames.size(), ',') << "\n";
            continue;
        }
        p << "0000" << k << ".png,0.5";
        for (std::size_t c = 0; c < kNames.size(); ++c) {
            if (k == 17 && c == 2) p << ",";  // missing cell
            else p << "," << d.score[c][k];
        }
        p << "\n";
    }
}

const char* kReference = R"(
import pandas as pd
from sklearn import metrics as M
L = pd.read_csv(inp['labels'], dtype={'image': str}); P = pd.read_csv(inp['preds'], dtype={'image': str})
J = L.merge(P, on='image', suffixes=('_y', '_p'))
thr = inp['thresholds']
out = {}; aurocs = []; f1s = []; wrong = 0; total = 0; ys = []; ps = []
for name in inp['names']:
    y = J[name + '_y'].to_numpy(); p = J[name + '_p'].to_numpy()
    keep = ~(np.isnan(y) | np.isnan(p)); y = y[keep].astype(int); p = p[keep]
    d = (p >= thr[name]).astype(int)
    r = {'n': int(keep.sum())}
    both = 0 < y.sum() < len(y)
    r['auroc'] = M.roc_auc_score(y, p) if both else None
    r['average_precision'] = M.average_precision_score(y, p) if y.sum() else None
    r['precision'] = M.precision_score(y, d) if d.sum() else None
    r['recall'] = M.recall_score(y, d) if y.sum() else None
    r['specificity'] = M.recall_score(y, d, pos_label=0) if (y == 0).sum() else None
    r['f1'] = M.f1_score(y, d) if (y.sum() + d.sum()) else None
    r['brier'] = M.brier_score_loss(y, p)
    r['positive_rate'] = float(d.mean())
    tn, fp, fn, tp = M.confusion_matrix(y, d, labels=[0, 1]).ravel()
    r['tp'] = tp; r['fp'] = fp; r['tn'] = tn; r['fn'] = fn
    out[name] = r
    if r['auroc'] is not None: aurocs.append(r['auroc'])
    if r['f1'] is not None: f1s.append(r['f1'])
    wrong += int((d != y).sum()); total += len(y); ys.append(y); ps.append(p)
result['labels'] = out; result['n'] = len(J)
result['macro_auroc'] = float(np.mean(aurocs)); result['macro_f1'] = float(np.mean(f1s))
result['micro_auroc'] = M.roc_auc_score(np.concatenate(ys), np.concatenate(ps))
result['hamming_loss'] = wrong / total
)";

}  // namespace

class TestMetricsCli : public QObject {
    Q_OBJECT
private slots:
    void jsonMatchesSklearn_data() {
        QTest::addColumn<bool>("perLabelThresholds");
        QTest::newRow("--threshold 0.4") << false;
        QTest::newRow("--thresholds T.csv") << true;
    }
    void jsonMatchesSklearn() {
        QFETCH(bool, perLabelThresholds);
        QTemporaryDir dir;
        std::string labels, preds;
        writeTables(dir, labels, preds);
        json thresholds = json::object();
        QStringList args = {"metrics",
                            "--labels",
                            QString::fromStdString(labels),
                            "--preds",
                            QString::fromStdString(preds),
                            "--json",
                            dir.filePath("out.json")};
        if (perLabelThresholds) {
            const std::string t = dir.filePath("t.csv").toStdString();
            std::ofstream f(t);
            f << "label,threshold\n";
            for (std::size_t i = 0; i < kNames.size(); ++i) {
                thresholds[kNames[i]] = 0.1 + 0.05 * double(i);
                f << kNames[i] << "," << 0.1 + 0.05 * double(i) << "\n";
            }
            args << "--thresholds" << QString::fromStdString(t);
        } else {
            for (const auto& n : kNames) thresholds[n] = 0.4;
            args << "--threshold"
                 << "0.4";
        }
        const CliResult r = runCli(args);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("2 id(s) only in " + QString::fromStdString(preds)), qPrintable(r.err));
        QVERIFY2(r.err.contains("1 id(s) only in " + QString::fromStdString(labels)), qPrintable(r.err));
        QVERIFY2(r.err.contains("Effusion: 1 row(s) with a missing value"), qPrintable(r.err));
        QVERIFY(r.out.contains("macro AUROC"));
        std::ifstream in(dir.filePath("out.json").toStdString());
        const json got = json::parse(in);
        json ref;
        try {
            ref = lumen::testing::runPythonReference(
                kReference, {{"labels", labels}, {"preds", preds}, {"names", kNames}, {"thresholds", thresholds}});
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        QCOMPARE(got["n"].get<int>(), ref["n"].get<int>());
        QCOMPARE(got["n"].get<int>(), 300);
        for (const auto& name : kNames) {
            const auto& g = got["labels"][name];
            const auto& e = ref["labels"][name];
            for (const auto& [key, value] : e.items()) {
                const std::string what = name + "." + key;
                if (value.is_null()) {
                    QVERIFY2(g[key].is_null(), what.c_str());
                    QVERIFY2(g["missing"].contains(key), what.c_str());
                } else {
                    QVERIFY2(g.contains(key) && g[key].is_number(), what.c_str());
                    QVERIFY2(std::abs(g[key].get<double>() - value.get<double>()) < 1e-9, what.c_str());
                }
            }
            QCOMPARE(g["threshold"].get<double>(), thresholds[name].get<double>());
        }
        QVERIFY(got["labels"]["Hernia"]["auroc"].is_null());
        for (const char* key : {"macro_auroc", "macro_f1"})
            QVERIFY2(std::abs(got["macro"][std::string(key).substr(6)].get<double>() - ref[key].get<double>()) < 1e-9,
                     key);
        QVERIFY(std::abs(got["micro_auroc"].get<double>() - ref["micro_auroc"].get<double>()) < 1e-9);
        QVERIFY(std::abs(got["hamming_loss"].get<double>() - ref["hamming_loss"].get<double>()) < 1e-9);
        QVERIFY(std::abs(got["hamming_accuracy"].get<double>() - (1 - ref["hamming_loss"].get<double>())) < 1e-9);
        QCOMPARE(got["ids_only_in_labels"].get<int>(), 1);
        QCOMPARE(got["ids_only_in_predictions"].get<int>(), 2);
    }

    void bootstrapAddsIntervals() {
        QTemporaryDir dir;
        std::string labels, preds;
        writeTables(dir, labels, preds);
        const QString out = dir.filePath("ci.json");
        const CliResult r =
            runCli({"metrics", "--labels", QString::fromStdString(labels), "--preds", QString::fromStdString(preds),
                    "--bootstrap", "60", "--seed", "5", "--bins", "10", "--json", out});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        std::ifstream in(out.toStdString());
        const json j = json::parse(in);
        QCOMPARE(j["bootstrap"]["resamples"].get<int>(), 60);
        QCOMPARE(j["bins"].get<int>(), 10);
        const auto& ci = j["labels"]["Effusion"]["ci"]["auroc"];
        QVERIFY(ci.is_array());
        QVERIFY(ci[0].get<double>() <= j["labels"]["Effusion"]["auroc"].get<double>());
        QVERIFY(ci[1].get<double>() >= j["labels"]["Effusion"]["auroc"].get<double>());
        QVERIFY(j["labels"]["Hernia"]["ci"]["auroc"].is_null());
        QVERIFY(j["ci"]["macro_auroc"].is_array());
    }

    void errorsNameTheFileColumnAndId_data() {
        QTest::addColumn<QString>("labelsText");
        QTest::addColumn<QString>("predsText");
        QTest::addColumn<QStringList>("extra");
        QTest::addColumn<QString>("expected");
        QTest::newRow("label column missing")
            << "id,A,B\n1,0,1\n"
            << "id,A\n1,0.2\n"
            << QStringList{} << "preds.csv: no column \"B\" for the label of that name in";
        QTest::newRow("label not 0/1") << "id,A\n1,0\nx7,2\n"
                                       << "id,A\n1,0.2\nx7,0.4\n"
                                       << QStringList{} << "labels.csv: column \"A\", id \"x7\": label 2 is not 0 or 1";
        QTest::newRow("probability > 1") << "id,A\n1,0\n2,1\n"
                                         << "id,A\n1,0.2\n2,1.5\n"
                                         << QStringList{}
                                         << "preds.csv: column \"A\", id \"2\": probability 1.5 is outside [0, 1]";
        QTest::newRow("no common id") << "id,A\n1,0\n"
                                      << "id,A\n2,0.2\n"
                                      << QStringList{} << "no id in common";
        QTest::newRow("both threshold options")
            << "id,A\n1,0\n"
            << "id,A\n1,0.2\n"
            << QStringList{"--threshold", "0.3", "--thresholds", "t.csv"} << "give either --threshold or --thresholds";
        QTest::newRow("bad bins") << "id,A\n1,0\n"
                                  << "id,A\n1,0.2\n"
                                  << QStringList{"--bins", "zero"} << "--bins: expected a non-negative integer";
        QTest::newRow("threshold missing a label")
            << "id,A\n1,0\n"
            << "id,A\n1,0.2\n"
            << QStringList{"--thresholds", "@t.csv"} << "t.csv: no threshold for label \"A\"";
    }
    void errorsNameTheFileColumnAndId() {
        QFETCH(QString, labelsText);
        QFETCH(QString, predsText);
        QFETCH(QStringList, extra);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        std::ofstream(dir.filePath("labels.csv").toStdString()) << labelsText.toStdString();
        std::ofstream(dir.filePath("preds.csv").toStdString()) << predsText.toStdString();
        std::ofstream(dir.filePath("t.csv").toStdString()) << "label,threshold\nB,0.5\n";
        for (auto& e : extra)
            if (e.startsWith('@')) e = dir.filePath(e.mid(1));
        const CliResult r = runCli(
            QStringList{"metrics", "--labels", dir.filePath("labels.csv"), "--preds", dir.filePath("preds.csv")} +
            extra);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(expected), qPrintable(r.err));
    }

    // --json never overwrites an input, however its path is spelled (here a link to it); the
    // error names both, and a good --json is written whole.
    void jsonRefusesToOverwriteAnInput() {
        QTemporaryDir dir;
        std::string labels, preds;
        writeTables(dir, labels, preds);
        const std::string predsBefore = readTextFile(preds);
        const QStringList base{
            "metrics", "--labels", QString::fromStdString(labels), "--preds", QString::fromStdString(preds), "--json"};
        CliResult r = runCli(base + QStringList{QString::fromStdString(preds)});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--preds") && r.err.count(QString::fromStdString(preds)) == 2, qPrintable(r.err));
        QCOMPARE(readTextFile(preds), predsBefore);
        const auto link = std::filesystem::path(dir.filePath("report.json").toStdString());
        std::filesystem::create_symlink(labels, link);
        r = runCli(base + QStringList{QString::fromStdString(link.string())});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--labels") && r.err.contains(QString::fromStdString(labels)), qPrintable(r.err));
        QVERIFY(readTextFile(labels).rfind("image", 0) == 0);
        r = runCli(base + QStringList{dir.filePath("out.json")});
        QCOMPARE(r.code, 0);
        QVERIFY(json::parse(readTextFile(dir.filePath("out.json").toStdString())).contains("labels"));
        QCOMPARE(namesIn(dir.path().toStdString()),
                 (std::vector<std::string>{"labels.csv", "out.json", "preds.csv", "report.json"}));
    }
};

QTEST_GUILESS_MAIN(TestMetricsCli)
#include "test_metrics_cli.moc"
