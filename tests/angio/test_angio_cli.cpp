// The angio_multiview task end to end through lumen-cli on cines made by pydicom (12 studies of
// 2-3 views; a bright disk whose brightness is the prox_rca stenosis; lcx_cto labelled on half
// the studies only): training logs the per-head metrics and warns that the config's mean/std
// differ from the training videos' (equal to numpy's over every frame); inference writes
// study_id + the 90 columns and per-view attention; two runs give identical files, 1 vs 2
// threads and batch 1 vs 2 agree to 1e-6, and a DICOM folder grouped by StudyInstanceUID gives
// the manifest's predictions; a missing video is an error naming it. Heads without a training
// label are named at training, listed in preds.json's untrained_columns and never the default CAM.
#include "test_support.h"

#include "data/csv_records.h"
#include "runs/run_store.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

const char* kMakeStudies = R"PY(
import sys, json, os, numpy as np
sys.path.insert(0, sys.argv[2])
from cine_maker import write_cine
ws = sys.argv[1]
os.makedirs(ws + '/angio/cines', exist_ok=True)
os.makedirs(ws + '/angio/test_dicom', exist_ok=True)
rng = np.random.default_rng(3)
rows, train_values = [], []
head = ['study_id', 'patient_id', 'path', 'view', 'split', 'prox_rca_stenosis', 'prox_rca_stenosis_binary', 'lcx_cto']
for i in range(12):
    uid = '1.2.826.0.1.3680043.8.498.%d' % (100 + i)
    stenosis = 10 + 7 * i
    split = 'train' if i < 8 else ('val' if i < 10 else 'test')
    folder = 'test_dicom' if split == 'test' else 'cines'
    for v in range(3 if i % 2 else 2):
        y, x = np.mgrid[0:20, 0:20]
        disk = ((x - 10) ** 2 + (y - 10) ** 2 < 30) * (stenosis * 2)
        frames = np.stack([np.clip(disk + rng.integers(0, 40, (20, 20)) + 3 * k, 0, 255) for k in range(6)]).astype(np.uint8)
        if split == 'train':
            train_values.append(frames.astype(np.float64).ravel())
        path = 'angio/%s/s%02d_v%d.dcm' % (folder, i, v)
        write_cine(ws + '/' + path, frames, uid, 'P%d' % i, (30, 20) if v == 0 else (-30, -25), 66.7)
        cto = '' if i % 2 else str(i % 4 // 2)
        rows.append([uid, 'P%d' % i, path[len('angio/'):], '', split, str(stenosis), str(int(stenosis >= 70)), cto])
with open(ws + '/angio/manifest.csv', 'w') as f:
    f.write(','.join(head) + '\n')
    for r in rows:
        f.write(','.join(r) + '\n')
allv = np.concatenate(train_values)
print(json.dumps({'mean': float(allv.mean()), 'std': float(allv.std())}))
)PY";

// Rewrites a sealed checkpoint as one written before 2026-12-07: task_meta empty (read as
// absent), the payload resealed with its new SHA-256 (core/train/trainer.cpp, sealCheckpoint).
const char* kStripTaskMeta = R"PY(
import sys, io, hashlib, torch
outer = torch.jit.load(sys.argv[1])
inner = torch.jit.load(io.BytesIO(outer.sealed.numpy().tobytes()))
inner._c.setattr('task_meta', '')
buf = io.BytesIO()
torch.jit.save(inner, buf)
data = buf.getvalue()
outer._c.setattr('sealed', torch.frombuffer(bytearray(data), dtype=torch.uint8))
outer._c.setattr('sha256', hashlib.sha256(data).hexdigest())
torch.jit.save(outer, sys.argv[2])
)PY";

const char* kConfig = R"(task: angio_multiview
epochs: 2
batch_size: 2
lr: 0.002
seed: 7
threads: 2
data:
  manifest: angio/manifest.csv
  frames: 4
  stride: 1
  resolution: 16
  max_views: 3
  dicom_dir: "DICOM_DIR"
model:
  encoder_widths: [4, 8]
  encoder_depths: [1, 1]
  in_channels: 1
  aggregator: attention_cls
  attention_hidden: 8
  aggregator_heads: 2
infer:
  batch_size: BATCH
)";

/// Predictions by study id: the 90 values.
std::map<std::string, std::vector<double>> readPredictions(const fs::path& csv) {
    std::map<std::string, std::vector<double>> out;
    const auto rows = lumen::data::readCsvRecords(csv);
    for (std::size_t r = 1; r < rows.size(); ++r) {
        std::vector<double> v;
        for (std::size_t k = 1; k < rows[r].fields.size(); ++k) v.push_back(std::stod(rows[r].fields[k]));
        out[rows[r].fields[0]] = v;
    }
    return out;
}

double maxDifference(const std::map<std::string, std::vector<double>>& a,
                     const std::map<std::string, std::vector<double>>& b) {
    if (a.size() != b.size()) return 1e30;
    double d = 0;
    for (const auto& [id, v] : a) {
        if (!b.count(id) || b.at(id).size() != v.size()) return 1e30;
        for (std::size_t k = 0; k < v.size(); ++k) d = std::max(d, std::abs(v[k] - b.at(id)[k]));
    }
    return d;
}

}  // namespace

class TestAngioCli : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    fs::path ws_;
    double mean_ = 0, std_ = 0;

    fs::path config(const std::string& name, int batch, const std::string& dicomDir = "", int threads = 2) {
        std::string text = kConfig;
        text.replace(text.find("BATCH"), 5, std::to_string(batch));
        text.replace(text.find("DICOM_DIR"), 9, dicomDir);
        text.replace(text.find("threads: 2"), 10, "threads: " + std::to_string(threads));
        const fs::path f = fs::path(dir_.path().toStdString()) / name;
        std::ofstream(f) << text;
        return f;
    }

    fs::path infer(const fs::path& cfg, const std::string& out) {
        const fs::path o = fs::path(dir_.path().toStdString()) / out;
        const auto r = runLumenCli({"infer", "--config", q(cfg), "--workspace", q(ws_), "--checkpoint",
                                    q(ws_ / "runs" / "1_angio_multiview" / "checkpoints" / "last.pt"), "--out", q(o)});
        if (r.code != 0) qWarning("%s", r.err.c_str());
        return r.code == 0 ? o : fs::path();
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        ws_ = fs::path(dir_.path().toStdString()) / "ws";
        QProcess py;
        py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                 {"-c", kMakeStudies, q(ws_), QStringLiteral(LUMEN_SOURCE_DIR "/tests")});
        QVERIFY2(py.waitForFinished(120000) && py.exitCode() == 0, py.readAllStandardError().constData());
        const auto j = nlohmann::json::parse(py.readAllStandardOutput().toStdString());
        mean_ = j["mean"].get<double>();
        std_ = j["std"].get<double>();
    }

    void trainsWithPerHeadMetrics() {
        const auto r = runLumenCli({"train", "--config", q(config("train.yaml", 1)), "--workspace", q(ws_)});
        QVERIFY2(r.code == 0, r.err.c_str());
        QVERIFY2(r.out.find("run 1: trained 2 epochs") != std::string::npos, r.out.c_str());
        // The normalisation check: the training videos' own values, as numpy computes them.
        char expected[200];
        std::snprintf(expected, sizeof expected, "but the training videos' are %.4f / %.4f", mean_, std_);
        QVERIFY2(
            r.err.find("data.mean / data.std are 128.0000 / 64.0000 " + std::string(expected)) != std::string::npos,
            (std::string(expected) + "\n" + r.err).c_str());
        QVERIFY2(
            r.err.find("split from the manifest's split column: 8 training, 2 validation studies") != std::string::npos,
            r.err.c_str());
        // Only prox_rca's two stenosis heads and lcx_cto have labels: the other 87 heads are named
        // as untrained, and the checkpoint records which columns had labels.
        QVERIFY2(r.err.find("87 of 90 output columns have no label in the training studies (left_main_stenosis, "
                            "left_main_stenosis_binary, left_main_calcif_binary, … (87))") != std::string::npos,
                 r.err.c_str());
        lumen::runs::RunStore store((ws_ / "lumen.db").string());
        QCOMPARE(store.metrics(1, "loss").size(), std::size_t(8));  // 8 studies / batch 2 x 2 epochs
        for (const char* key : {"loss.huber", "loss.bce"}) QVERIFY2(store.metrics(1, key).size() == 8, key);
        // Validation: studies 8 and 9 (66 % and 73 %), one of each class, so prox_rca's AUROC is defined.
        for (const char* key : {"val.loss", "val.loss_huber", "val.stenosis_mae", "val.stenosis_rmse",
                                "val.auroc.prox_rca_stenosis_binary", "val.auroc_stenosis_binary_macro"})
            QVERIFY2(store.metrics(1, key).size() == 2, key);
        const double mae = store.metrics(1, "val.stenosis_mae").back().value;
        QVERIFY(mae >= 0 && mae <= 100);
    }

    void inferenceIsReproducible() {
        const auto cfg1 = config("infer1.yaml", 1);
        const fs::path a = infer(cfg1, "a"), b = infer(cfg1, "b");
        QVERIFY(!a.empty() && !b.empty());
        const auto rows = lumen::data::readCsvRecords(a / "preds.csv");
        QCOMPARE(rows.size(), std::size_t(3));  // header + the 2 test studies
        QCOMPARE(rows[0].fields.size(), std::size_t(91));
        QCOMPARE(rows[0].fields[0], std::string("study_id"));
        QCOMPARE(rows[0].fields[1], std::string("left_main_stenosis"));
        QCOMPARE(rows[0].fields[52], std::string("prox_rca_stenosis_binary"));
        QCOMPARE(rows[1].fields[0], std::string("1.2.826.0.1.3680043.8.498.110"));
        for (std::size_t r = 1; r < rows.size(); ++r)
            for (std::size_t k = 1; k < 91; ++k) {
                const double v = std::stod(rows[r].fields[k]);
                QVERIFY(v >= 0 && v <= ((k - 1) % 5 == 0 ? 100.0 : 1.0));
            }
        QCOMPARE(readTextFile(a / "preds.csv"), readTextFile(b / "preds.csv"));  // two runs: the same bytes
        const auto doc = nlohmann::json::parse(readTextFile(a / "preds.json"));
        QCOMPARE(doc["predictions"].size(), std::size_t(2));
        for (const auto& p : doc["predictions"]) {
            double sum = 0;
            for (const auto& v : p["views"]) sum += v["attention"].get<double>();
            QVERIFY(std::abs(sum - 1.0) < 1e-6);
        }
        QCOMPARE(doc["predictions"][1]["views"].size(), std::size_t(3));  // study 11 has 3 views
        // Every column but the three with training labels is marked untrained (preds.csv keeps all 90).
        const auto untrained = doc["untrained_columns"].get<std::vector<std::string>>();
        QCOMPARE(untrained.size(), std::size_t(87));
        for (const char* trained : {"prox_rca_stenosis", "prox_rca_stenosis_binary", "lcx_cto"})
            QVERIFY2(std::find(untrained.begin(), untrained.end(), trained) == untrained.end(), trained);
        QCOMPARE(untrained.front(), std::string("left_main_stenosis"));
        // One thread and two studies a batch: the same predictions to 1e-6 (printed with 6 decimals).
        const fs::path c = infer(config("infer2.yaml", 2, "", 1), "c");
        QVERIFY(!c.empty());
        const double d = maxDifference(readPredictions(a / "preds.csv"), readPredictions(c / "preds.csv"));
        qInfo("batch 1 / 2 threads vs batch 2 / 1 thread: largest difference %.3g", d);
        QVERIFY2(d <= 1e-6, std::to_string(d).c_str());
    }

    void streamedDataGiveTheSameRun() {
        // data.cache none keeps no frames and decodes each batch's videos again: the same training
        // (every logged loss to the bit) and the same predictions as with the frames kept.
        const auto streamed = [&](const std::string& name) {
            const fs::path f = config(name, 1);
            std::string text = readTextFile(f);
            text.replace(text.find("  max_views: 3\n"), 15, "  max_views: 3\n  cache: none\n");
            std::ofstream(f) << text;
            return f;
        };
        const auto r = runLumenCli({"train", "--config", q(streamed("train_stream.yaml")), "--workspace", q(ws_)});
        QVERIFY2(r.code == 0, r.err.c_str());
        QVERIFY2(r.err.find("data.cache none: decoded again for every batch") != std::string::npos, r.err.c_str());
        const auto at = r.out.find("run ");
        QVERIFY2(at != std::string::npos, r.out.c_str());
        const std::int64_t run = std::stoll(r.out.substr(at + 4));
        QVERIFY(run > 1);
        lumen::runs::RunStore store((ws_ / "lumen.db").string());
        for (const char* key : {"loss", "val.loss", "val.stenosis_mae"}) {
            const auto kept = store.metrics(1, key), again = store.metrics(run, key);
            QVERIFY2(kept.size() == again.size() && !kept.empty(), key);
            for (std::size_t i = 0; i < kept.size(); ++i) QCOMPARE(again[i].value, kept[i].value);
        }
        const fs::path a = fs::path(dir_.path().toStdString()) / "a";
        const fs::path s = infer(streamed("infer_stream.yaml"), "s");
        QVERIFY(!s.empty());
        QCOMPARE(readTextFile(s / "preds.csv"), readTextFile(a / "preds.csv"));
    }

    void dicomFolderInference() {
        const fs::path a = fs::path(dir_.path().toStdString()) / "a";
        const fs::path d = infer(config("dicom.yaml", 1, "angio/test_dicom"), "d");
        QVERIFY(!d.empty());
        // Grouped by StudyInstanceUID (the manifest's study ids): the same studies and values.
        QCOMPARE(maxDifference(readPredictions(a / "preds.csv"), readPredictions(d / "preds.csv")), 0.0);
        const auto doc = nlohmann::json::parse(readTextFile(d / "preds.json"));
        QCOMPARE(doc["predictions"][0]["views"][0]["view"].get<std::string>(), std::string("LAO 30 CRA 20"));
    }

    void videoCamsBesideThePredictions() {
        // infer.cam_*: a (views, t, h, w) array per study and column, on the study's own scale
        // (its maximum is 1), listed in preds.json; the predictions are those of a plain run.
        const fs::path cfg = config("cam.yaml", 1);
        std::ofstream(cfg, std::ios::app)
            << "  cam_studies: 2\n  cam_columns: [prox_rca_stenosis_binary, left_main_stenosis]\n";
        const fs::path e = infer(cfg, "e");
        QVERIFY(!e.empty());
        const fs::path a = fs::path(dir_.path().toStdString()) / "a";
        QCOMPARE(maxDifference(readPredictions(a / "preds.csv"), readPredictions(e / "preds.csv")), 0.0);
        const auto doc = nlohmann::json::parse(readTextFile(e / "preds.json"));
        QCOMPARE(doc["cam"]["method"].get<std::string>(), std::string("gradcam"));
        QCOMPARE(doc["cam"]["layer"].get<std::string>(), std::string("encoder.layer2"));
        const auto& study = doc["predictions"][1];  // 3 views
        QCOMPARE(study["cams"].size(), std::size_t(2));
        const auto& cam = study["cams"]["prox_rca_stenosis_binary"];
        QCOMPARE(cam["views"].size(), std::size_t(3));
        QCOMPARE(cam["shape"][0].get<int>(), 3);
        QVERIFY(cam["raw_max"].get<double>() >= 0);
        QProcess py;
        py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                 {"-c",
                  "import sys, numpy as np; a = np.load(sys.argv[1]); print(list(a.shape), a.dtype, float(a.max()), "
                  "float(a.min()))",
                  q(e / cam["file"].get<std::string>())});
        QVERIFY(py.waitForFinished(60000) && py.exitCode() == 0);
        const QString printed = QString::fromUtf8(py.readAllStandardOutput()).trimmed();
        const auto shape = cam["shape"];
        const QString expected = QString("[%1, %2, %3, %4] float32 ")
                                     .arg(shape[0].get<int>())
                                     .arg(shape[1].get<int>())
                                     .arg(shape[2].get<int>())
                                     .arg(shape[3].get<int>());
        QVERIFY2(printed.startsWith(expected), qPrintable(printed + " / " + expected));
        QVERIFY2(printed.contains(cam["raw_max"].get<double>() > 0 ? " 1.0 " : " 0.0 "), qPrintable(printed));
        // A column that is not an output is named.
        const fs::path bad = config("cam_bad.yaml", 1);
        std::ofstream(bad, std::ios::app) << "  cam_studies: 1\n  cam_columns: [prox_lad_stenosys]\n";
        const auto r = runLumenCli({"infer", "--config", q(bad), "--workspace", q(ws_), "--checkpoint",
                                    q(ws_ / "runs" / "1_angio_multiview" / "checkpoints" / "last.pt"), "--out",
                                    q(fs::path(dir_.path().toStdString()) / "f")});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.find("infer.cam_columns") != std::string::npos &&
                     r.err.find("prox_lad_stenosys") != std::string::npos,
                 r.err.c_str());
    }

    void defaultCamIsOfATrainedHead() {
        // No cam_columns: the highest-scoring _stenosis_binary among the heads that had labels —
        // here the only one, prox_rca's — never an untrained head's.
        const fs::path cfg = config("cam_default.yaml", 1);
        std::ofstream(cfg, std::ios::app) << "  cam_studies: 2\n";
        const fs::path g = infer(cfg, "g");
        QVERIFY(!g.empty());
        const auto doc = nlohmann::json::parse(readTextFile(g / "preds.json"));
        for (const auto& study : doc["predictions"]) {
            QCOMPARE(study["cams"].size(), std::size_t(1));
            QVERIFY2(study["cams"].contains("prox_rca_stenosis_binary"), study["cams"].dump().c_str());
        }
    }

    void checkpointWithoutTaskMeta() {
        // A checkpoint written before task_meta existed (the entry empty, resealed by Python):
        // inference says so, writes no untrained_columns, and predicts exactly as before.
        const fs::path dir = fs::path(dir_.path().toStdString());
        const fs::path old = dir / "old.pt";
        QProcess py;
        py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                 {"-c", kStripTaskMeta, q(ws_ / "runs" / "1_angio_multiview" / "checkpoints" / "last.pt"), q(old)});
        QVERIFY2(py.waitForFinished(120000) && py.exitCode() == 0, py.readAllStandardError().constData());
        const auto r = runLumenCli({"infer", "--config", q(config("old.yaml", 1)), "--workspace", q(ws_),
                                    "--checkpoint", q(old), "--out", q(dir / "h")});
        QVERIFY2(r.code == 0, r.err.c_str());
        QVERIFY2(r.err.find("old.pt: the checkpoint does not record which columns had labels") != std::string::npos,
                 r.err.c_str());
        QVERIFY2(r.err.find("had no label in training") == std::string::npos, r.err.c_str());
        const auto doc = nlohmann::json::parse(readTextFile(dir / "h" / "preds.json"));
        QVERIFY(!doc.contains("untrained_columns"));
        QCOMPARE(maxDifference(readPredictions(dir / "a" / "preds.csv"), readPredictions(dir / "h" / "preds.csv")),
                 0.0);
    }

    void missingVideoIsNamed() {
        std::string manifest = readTextFile(ws_ / "angio" / "manifest.csv");
        manifest.replace(manifest.find("cines/s03_v0.dcm"), 16, "cines/gone.dcm");
        std::ofstream(ws_ / "angio" / "manifest.csv") << manifest;
        const auto r = runLumenCli({"train", "--config", q(config("bad.yaml", 1)), "--workspace", q(ws_)});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.find("study 1.2.826.0.1.3680043.8.498.103") != std::string::npos &&
                     r.err.find("gone.dcm") != std::string::npos,
                 r.err.c_str());
    }
};

QTEST_GUILESS_MAIN(TestAngioCli)
#include "test_angio_cli.moc"
