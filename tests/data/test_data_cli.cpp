// Runs lumen-cli data import-nih / split / verify / stats as a user would on the demo
// workspace: exit codes, outputs checked with pandas, JSON statistics, errors.
#include "demo/demo_workspace.h"

#include "data_test_support.h"
#include "test_support.h"

#include <QProcess>
#include <QTemporaryDir>

#include <fstream>

namespace fs = std::filesystem;

namespace {

const QString kCli = LUMEN_BINARY_DIR "/bin/lumen-cli";

struct Result {
    int code = -1;
    std::string out, err;
};

Result cli(const QStringList& args) {
    const CliOutcome r = runProcess(kCli, args, 300000);
    return {r.code, r.out, r.err};
}

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

}  // namespace

class TestDataCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path demo_, out_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        demo_ = fs::path(tmp_.path().toStdString()) / "demo";
        out_ = fs::path(tmp_.path().toStdString()) / "out";
        lumen::demo::createDemoWorkspace(demo_, lumen::demo::DemoOptions::only(120, 0, 0));
    }

    void importSplitVerifyStats() {
        auto r = cli({"data", "import-nih", q(demo_ / "chest_xray"), "--out", q(out_ / "nih")});
        QVERIFY2(r.code == 0, r.err.c_str());
        QVERIFY2(r.out.find("120 entries") != std::string::npos, r.out.c_str());
        QVERIFY(fs::exists(out_ / "nih/all.csv") && fs::exists(out_ / "nih/nih_import.json"));

        r = cli({"data", "split", q(out_ / "nih/all.csv"), "--ratios", "0.7,0.1,0.2", "--seed", "5", "--out",
                 q(out_ / "split")});
        QVERIFY2(r.code == 0, r.err.c_str());
        QVERIFY2(r.out.find("splits are disjoint") != std::string::npos, r.out.c_str());
        QVERIFY(r.out.find("train      & val             0      0 ok") != std::string::npos);

        // Independent check of the written split with pandas.
        const auto ref = lumen::datatest::runPython(R"PY(
import sys, json, pandas as pd
d = sys.argv[1]
m = pd.read_csv(d + '/manifest.csv', dtype=str, keep_default_na=False)
g = {s: set(m[m.split == s].patient_id) for s in ('train', 'val', 'test')}
rep = json.load(open(d + '/split_report.json'))
print(json.dumps({'rows': len(m), 'tv': len(g['train'] & g['val']), 'tt': len(g['train'] & g['test']),
                  'vt': len(g['val'] & g['test']), 'patients': [len(g[s]) for s in ('train', 'val', 'test')],
                  'report': [s['patients'] for s in rep['splits']], 'seed': rep['seed']}))
)PY",
                                                    {q(out_ / "split")});
        QCOMPARE(ref["rows"].get<int>(), 120);
        QCOMPARE(ref["tv"].get<int>() + ref["tt"].get<int>() + ref["vt"].get<int>(), 0);
        QCOMPARE(ref["patients"], ref["report"]);
        QCOMPARE(ref["seed"].get<int>(), 5);

        r = cli({"data", "verify", q(out_ / "split")});
        QCOMPARE(r.code, 0);

        r = cli({"data", "stats", q(out_ / "split"), "--split", "train", "--json", "--threads", "2"});
        QVERIFY2(r.code == 0, r.err.c_str());
        const auto j = nlohmann::json::parse(r.out);
        QCOMPARE(j["rows"].get<int>(), 120);
        QCOMPARE(j["pixels"]["split"].get<std::string>(), std::string("train"));
        QCOMPARE(j["pixels"]["images"].get<int>(), j["label_balance"]["splits"][0]["images"].get<int>());
        QVERIFY(j["pixels"]["exact"].get<bool>());
        QVERIFY(j["pixels"]["mean"][0].get<double>() > 10);
        QVERIFY2(r.err.find("pixel statistics") != std::string::npos, r.err.c_str());  // progress on stderr

        r = cli({"data", "stats", q(out_ / "nih/all.csv"), "--no-pixels"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.find("Normal") != std::string::npos, r.out.c_str());
    }

    /// An angiography manifest (study_id, one row per video): studies and videos per split, and
    /// the pixel statistics over every frame of the split's cines, checked with pandas + pydicom.
    void angioManifestStatsCountEveryFrameOfTheSplit() {
        const fs::path ws = fs::path(tmp_.path().toStdString()) / "angio_demo";
        lumen::demo::createDemoWorkspace(ws, lumen::demo::DemoOptions::only(0, 0, 12));
        const fs::path manifest = ws / "angio" / "manifest.csv";
        auto r = cli({"data", "stats", q(manifest), "--split", "train", "--json"});
        QVERIFY2(r.code == 0, r.err.c_str());
        const auto j = nlohmann::json::parse(r.out);
        const auto ref = lumen::datatest::runPython(R"PY(
import sys, json, os, numpy as np, pandas as pd, pydicom
m = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
base = os.path.dirname(sys.argv[1])
t = m[m.split == 'train']
px = np.concatenate([pydicom.dcmread(os.path.join(base, p)).pixel_array.reshape(-1) for p in t.path]).astype(np.float64)
print(json.dumps({'studies': {s: int(m[m.split == s].study_id.nunique()) for s in set(m.split)},
                  'videos': {s: int((m.split == s).sum()) for s in set(m.split)},
                  'rows': len(m), 'frames': int(px.size // (128 * 128)), 'mean': float(px.mean()), 'std': float(px.std())}))
)PY",
                                                    {q(manifest)});
        QCOMPARE(j["rows"].get<int>(), ref["rows"].get<int>());
        QCOMPARE(j["angio"]["studies"], ref["studies"]);
        QCOMPARE(j["angio"]["videos"], ref["videos"]);
        QCOMPARE(j["pixels"]["images"], ref["videos"]["train"]);
        QCOMPARE(j["pixels"]["frames"].get<int>(), ref["frames"].get<int>());
        QVERIFY(j["pixels"]["grey"].get<bool>());  // as the angio_multiview trainer counts them
        const double mean = ref["mean"].get<double>(), sd = ref["std"].get<double>();
        QVERIFY2(std::abs(j["pixels"]["mean"][0].get<double>() - mean) <= 1e-9 * mean, r.out.c_str());
        QVERIFY2(std::abs(j["pixels"]["std"][0].get<double>() - sd) <= 1e-9 * sd, r.out.c_str());
        // The tables a person reads.
        r = cli({"data", "stats", q(manifest), "--split", "val"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.find("studies") != std::string::npos && r.out.find("train") != std::string::npos, r.out.c_str());
        QVERIFY2(r.out.find("grey (a colour pixel counts as the mean of its samples") != std::string::npos,
                 r.out.c_str());
        // Its split proof: no patient and no video in two splits.
        r = cli({"data", "verify", q(manifest)});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.find("splits are disjoint") != std::string::npos, r.out.c_str());
        // Two studies of one patient in two splits: a leak, exit 1.
        std::ofstream(ws / "leak.csv") << "study_id,patient_id,path,split\nS1,P1,a.dcm,train\nS2,P1,b.dcm,test\n";
        r = cli({"data", "verify", q(ws / "leak.csv")});
        QCOMPARE(r.code, 1);
        // A broken angiography manifest is an error naming the file and the line.
        std::ofstream(ws / "broken.csv") << "study_id,patient_id,path,prox_lad_stenosis\nS1,P1,a.dcm,lots\n";
        r = cli({"data", "stats", q(ws / "broken.csv")});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find("broken.csv:2") != std::string::npos, r.err.c_str());
    }

    void leakIsExitOne() {
        fs::create_directories(out_ / "leaky");
        writeTextFile(tmp_, "out/leaky/train.csv", "id,patient_id,path\na,P1,a.png\nb,P2,b.png\n");
        writeTextFile(tmp_, "out/leaky/test.csv", "id,patient_id,path\nc,P2,c.png\n");
        const auto r = cli({"data", "verify", q(out_ / "leaky")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.out.find("LEAK e.g. P2") != std::string::npos, r.out.c_str());
    }

    void errorsAreExitTwo_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        QTest::newRow("no sub") << QStringList{"data"} << "needs a subcommand";
        QTest::newRow("bad sub") << QStringList{"data", "shuffle"} << "unknown subcommand";
        QTest::newRow("no out") << QStringList{"data", "import-nih", "x"} << "needs --out";
        QTest::newRow("bad ratios") << QStringList{"data", "split", "m.csv", "--ratios", "0.7,x", "--out", "o"}
                                    << "--ratios: expected numbers";
        QTest::newRow("missing manifest")
            << QStringList{"data", "stats", "/nonexistent/m.csv"} << "/nonexistent/m.csv: cannot open";
        QTest::newRow("not nih") << QStringList{"data", "import-nih", "/tmp", "--out", "/tmp/lumen-never"}
                                 << "Data_Entry_2017.csv: not found";
    }
    void errorsAreExitTwo() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const auto r = cli(args);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find(expected.toStdString()) != std::string::npos, r.err.c_str());
    }

    void ratiosMustSumToOne() {
        const auto r = cli({"data", "split", q(out_ / "nih/all.csv"), "--ratios", "0.7,0.2", "--out", q(out_ / "bad")});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find("ratios sum to 0.9") != std::string::npos, r.err.c_str());
        QVERIFY(!fs::exists(out_ / "bad/manifest.csv"));
    }

    void help() {
        const auto r = cli({"data", "--help"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.find("Usage: lumen-cli data import-nih") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestDataCli)
#include "test_data_cli.moc"
