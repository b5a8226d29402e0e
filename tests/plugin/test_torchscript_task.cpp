// The torchscript task end to end, as a user runs it (docs/byo-model.md): torchvision models
// scripted by Python with random weights (torchscript_reference.py), `lumen-cli torchscript init`
// probing them, `lumen-cli infer` over a manifest (2-D, labels → metrics) and a folder of
// volumes (3-D), predictions against Python's torch.jit.load on the same arrays, AUROC against
// scikit-learn, activations per output, errors naming the key, and --baseline auditing the result.
#include "../test_support.h"

#include "infer/inference_bench.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;

/// A CSV of numbers (with or without a header and an id column) as rows of doubles.
std::vector<std::vector<double>> numbers(const fs::path& file, bool header, bool idColumn) {
    std::ifstream in(file);
    std::vector<std::vector<double>> rows;
    std::string line;
    if (header) std::getline(in, line);
    while (std::getline(in, line)) {
        std::stringstream ss(line);
        std::string cell;
        std::vector<double> row;
        bool first = true;
        while (std::getline(ss, cell, ',')) {
            if (!(first && idColumn)) row.push_back(std::stod(cell));
            first = false;
        }
        rows.push_back(row);
    }
    return rows;
}

double maxDiff(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
    if (a.size() != b.size()) return 1e30;
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].size() != b[i].size()) return 1e30;
        for (std::size_t k = 0; k < a[i].size(); ++k) d = std::max(d, std::abs(a[i][k] - b[i][k]));
    }
    return d;
}

}  // namespace

class TestTorchScriptTask : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    fs::path d_;

    QString path(const std::string& name) const { return QString::fromStdString((d_ / name).string()); }
    void writeConfig(const std::string& name, const std::string& yaml) const { std::ofstream(d_ / name) << yaml; }
    CliOutcome infer(const std::string& config, const std::string& out, const QStringList& extra = {}) const {
        return runLumenCli(QStringList{"infer", "--config", path(config), "--out", path(out), "--workspace",
                                       QString::fromStdString(d_.string())} +
                           extra);
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        d_ = dir_.path().toStdString();
        QProcess py;
        py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                 {QStringLiteral(LUMEN_SOURCE_DIR "/tests/plugin/torchscript_reference.py"), dir_.path()});
        QVERIFY2(py.waitForFinished(600000), "python reference timed out");
        const QByteArray log = py.readAllStandardOutput() + py.readAllStandardError();
        QVERIFY2(py.exitCode() == 0 && py.exitStatus() == QProcess::NormalExit, log.constData());
    }

    void initProbesTheModel() {
        auto r = runLumenCli({"torchscript", "init", path("resnet18.pt"), "--size", "32x32", "--data",
                              path("manifest.csv"), "--out", path("init.yaml")});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY2(r.out.find("input 1x3x32x32 -> output 1x4") != std::string::npos, r.out.c_str());
        const std::string yaml = readTextFile(d_ / "init.yaml");
        QVERIFY2(yaml.find("size: [32, 32]") != std::string::npos, yaml.c_str());
        QVERIFY2(yaml.find("names: [output_0, output_1, output_2, output_3]") != std::string::npos, yaml.c_str());
        QVERIFY2(yaml.find("kind: image") != std::string::npos, yaml.c_str());
        // A 3-D model: a volume of 16x112x112 by default (from its Conv3d weight).
        r = runLumenCli({"torchscript", "init", path("r3d_18.pt"), "--out", path("init3d.yaml")});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY2(r.out.find("input 1x3x16x112x112 -> output 1x3") != std::string::npos, r.out.c_str());
        QVERIFY(readTextFile(d_ / "init3d.yaml").find("kind: volume") != std::string::npos);
        // Never overwrites; the YAML it wrote runs as it is.
        r = runLumenCli({"torchscript", "init", path("resnet18.pt"), "--out", path("init.yaml")});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find("not overwritten") != std::string::npos, r.err.c_str());
        r = infer("init.yaml", "out_init");
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY(readTextFile(d_ / "out_init" / "preds.csv").rfind("image,output_0,output_1,output_2,output_3\n", 0) ==
                0);
    }

    void manifestWithLabelsMatchesPython() {
        writeConfig("a.yaml", R"(task: torchscript
infer: {checkpoint: resnet18.pt}
input: {kind: image, size: [32, 32], channels: 3, mean: [], std: []}
outputs: {names: [A, B, C, D], activation: sigmoid}
id_column: id
batch_size: 4
data: {manifest: manifest.csv, split: test}
)");
        const auto r = infer("a.yaml", "out_a");
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY2(r.out.find("10 inputs") != std::string::npos, r.out.c_str());
        const auto got = numbers(d_ / "out_a" / "preds.csv", true, true);
        const double diff = maxDiff(got, numbers(d_ / "ref_sigmoid.csv", false, false));
        qInfo("resnet18 sigmoid: max |lumen - python| = %.3g", diff);
        QVERIFY(diff <= 1e-5);  // preds.csv prints 6 decimals
        QVERIFY(readTextFile(d_ / "out_a" / "preds.csv").rfind("id,A,B,C,D\n", 0) == 0);
        // preds.json: id, path, outputs by name (what explain and the Study page read).
        const auto json = nlohmann::json::parse(readTextFile(d_ / "out_a" / "preds.json"));
        QCOMPARE(json.size(), std::size_t(10));
        QCOMPARE(json[3]["id"].get<std::string>(), std::string("img03"));
        QVERIFY(json[3]["path"].get<std::string>().find("arrays/img03.npy") != std::string::npos);
        QVERIFY(std::abs(json[3]["labels"]["C"].get<double>() - got[3][2]) < 1e-6);
        // Metrics against scikit-learn on Python's probabilities.
        const auto metrics = nlohmann::json::parse(readTextFile(d_ / "out_a" / "metrics.json"));
        const auto ref = nlohmann::json::parse(readTextFile(d_ / "ref_auroc.json"));
        const double macro = metrics["macro"]["auroc"].get<double>();
        qInfo("macro AUROC lumen %.9f, scikit-learn %.9f", macro, ref["macro"].get<double>());
        QVERIFY(std::abs(macro - ref["macro"].get<double>()) < 1e-9);
        QVERIFY2(r.out.find("macro AUROC") != std::string::npos, r.out.c_str());
    }

    void folderOfVolumesAndMixedActivations() {
        writeConfig("v.yaml", R"(task: torchscript
infer: {checkpoint: r3d_18.pt}
input: {kind: volume, size: [4, 32, 32], channels: 3, mean: [], std: []}
outputs: {names: [x, y, z], activation: softmax}
data: {folder: volumes}
)");
        auto r = infer("v.yaml", "out_v");
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        double diff =
            maxDiff(numbers(d_ / "out_v" / "preds.csv", true, true), numbers(d_ / "ref_volumes.csv", false, false));
        qInfo("r3d_18 softmax over a folder of volumes: max |lumen - python| = %.3g", diff);
        QVERIFY(diff <= 1e-5);
        QVERIFY(readTextFile(d_ / "out_v" / "preds.csv").find("vol2.npy,") != std::string::npos);

        writeConfig("m.yaml", R"(task: torchscript
infer: {checkpoint: resnet18.pt}
input: {kind: image, size: [32, 32], channels: 3, mean: [], std: []}
outputs: {names: [A, B, C, D], activations: [identity, sigmoid, softmax, softmax]}
id_column: id
data: {manifest: manifest.csv}
)");
        r = infer("m.yaml", "out_m");
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        diff = maxDiff(numbers(d_ / "out_m" / "preds.csv", true, true), numbers(d_ / "ref_mixed.csv", false, false));
        qInfo("identity / sigmoid / softmax pair: max |lumen - python| = %.3g", diff);
        QVERIFY(diff <= 1e-5);
    }

    void errorsNameTheKey() {
        writeConfig("e1.yaml", R"(task: torchscript
infer: {checkpoint: resnet18.pt}
input: {kind: image, size: [32, 32], channels: 3, mean: [], std: []}
outputs: {names: [A, B, C]}
data: {manifest: manifest.csv}
)");
        auto r = infer("e1.yaml", "out_e1");
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find("outputs.names") != std::string::npos && r.err.find("gives 4") != std::string::npos,
                 r.err.c_str());
        writeConfig("e2.yaml", R"(task: torchscript
infer: {checkpoint: resnet18.pt}
input: {kind: image, size: [4, 32, 32], channels: 3}
data: {manifest: manifest.csv}
)");
        r = infer("e2.yaml", "out_e2");
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find("input.size") != std::string::npos, r.err.c_str());
        writeConfig("e3.yaml", "task: torchscript\ninput: {channels: many}\n");
        r = infer("e3.yaml", "out_e3");
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("input.channels") != std::string::npos, r.err.c_str());
        r = runLumenCli({"train", "--config", path("a.yaml"), "--workspace", QString::fromStdString(d_.string())});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find("inference only") != std::string::npos, r.err.c_str());
    }

    void baselineAuditsThePredictions() {
        // The same model and config again: identical predictions, the audit passes and is recorded.
        auto r = infer("a.yaml", "out_a2", {"--baseline", path("out_a/preds.csv"), "--stage", "byo-check"});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY2(r.out.find("PASS") != std::string::npos, r.out.c_str());
        QVERIFY(fs::is_regular_file(d_ / "out_a2" / "audit.md"));
        r = runLumenCli({"audit", "--history", "--workspace", QString::fromStdString(d_.string())});
        QVERIFY2(r.code == 0 && r.out.find("byo-check") != std::string::npos, (r.out + r.err).c_str());
        // Against another model's table the audit fails (exit 1) and says so.
        r = infer("m.yaml", "out_m2", {"--baseline", path("out_a/preds.csv")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.out.find("FAIL") != std::string::npos, r.out.c_str());
    }

    void percentilesAreNumpys() {
        const std::vector<double> v = {9.5, 1.0, 3.25, 7.0, 2.0, 11.0, 4.5, 8.0, 6.0, 30.0, 5.0};
        QProcess py;
        py.start("/usr/bin/python3",
                 {"-c",
                  "import numpy as np; v=[9.5,1.0,3.25,7.0,2.0,11.0,4.5,8.0,6.0,30.0,5.0]; "
                  "print(' '.join(repr(float(np.percentile(v, q))) for q in (0, 50, 95, 99, 100)))"});
        QVERIFY(py.waitForFinished(60000));
        std::stringstream ref(py.readAllStandardOutput().toStdString());
        for (double q : {0.0, 50.0, 95.0, 99.0, 100.0}) {
            double expected = 0;
            ref >> expected;
            QVERIFY2(std::abs(lumen::infer::percentile(v, q) - expected) < 1e-12, std::to_string(q).c_str());
        }
        QVERIFY(std::isnan(lumen::infer::percentile({}, 50)));
    }

    void benchInferTimesEachBatchSize() {
        auto r = runLumenCli({"bench-infer", "--config", path("a.yaml"), "--workspace",
                              QString::fromStdString(d_.string()), "--batch", "1,3", "--iters", "4", "--warmup", "1",
                              "--threads", "1", "--json", path("bench.json")});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY2(r.out.find("input per sample: 3x32x32") != std::string::npos, r.out.c_str());
        QVERIFY2(r.out.find("| batch | forwards | mean ms | p50 ms") != std::string::npos, r.out.c_str());
        const auto j = nlohmann::json::parse(readTextFile(d_ / "bench.json"));
        QCOMPARE(j["threads"].get<int>(), 1);
        QVERIFY(!j["cpu"].get<std::string>().empty());
        QCOMPARE(j["batches"].size(), std::size_t(2));
        for (const auto& b : j["batches"]) {
            QCOMPARE(b["iterations"].get<int>(), 4);
            QVERIFY(b["p50_ms"].get<double>() <= b["p95_ms"].get<double>());
            QVERIFY(b["p95_ms"].get<double>() <= b["p99_ms"].get<double>());
            const double expected = b["batch"].get<int>() / (b["mean_ms"].get<double>() / 1000.0);
            QVERIFY(std::abs(b["samples_per_second"].get<double>() - expected) < 1e-9 * expected);
            QVERIFY(b["peak_rss_mb"].get<double>() > 10);
        }
        // A model that rejects the input (a 3-D model given images) says so and names the file.
        r = runLumenCli({"bench-infer", "--model", path("r3d_18.pt"), "--size", "32x32", "--batch", "1"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find("r3d_18.pt") != std::string::npos && r.err.find("batch 1") != std::string::npos,
                 r.err.c_str());
        r = runLumenCli({"bench-infer", "--model", path("nope.pt")});
        QCOMPARE(r.code, 2);
    }
};

QTEST_GUILESS_MAIN(TestTorchScriptTask)
#include "test_torchscript_task.moc"
