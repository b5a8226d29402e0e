// End to end: `lumen-cli demo --ct-volumes`, then `lumen-cli train` of ct_multilabel on a cut-down
// copy of resources/configs/ct_multilabel_demo.yaml (two epochs, the first with the backbone
// frozen, BCE with automatic positive weights), and `lumen-cli infer` on the NIfTI volumes and
// on the DICOM series of volume 1 (same probabilities): preds.csv, preds.json, CAM volumes and
// the CAM cache.
#include "test_support.h"

#include "data/csv_records.h"
#include "runs/run_store.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace {

CliOutcome cli(const QStringList& args) { return runLumenCli(args); }

std::string readText(const fs::path& f) { return readTextFile(f); }

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

}  // namespace

class TestCtCli : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    fs::path ws_, config_;

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        ws_ = fs::path(dir_.path().toStdString()) / "ws";
        const auto demo = cli({"demo", "--out", q(ws_), "--ct-volumes", "24", "--chest-images", "12"});
        QVERIFY2(demo.code == 0, demo.err.c_str());
        QVERIFY2(demo.out.find("24 CT volumes") != std::string::npos, demo.out.c_str());
        QVERIFY2(demo.out.find(": 12 chest X-rays") != std::string::npos, demo.out.c_str());
        const auto bad = cli({"demo", "--out", q(ws_ / "x"), "--chest-images", "100001"});
        QVERIFY2(bad.code != 0 && bad.err.find("--chest-images must be in 0..100000") != std::string::npos,
                 bad.err.c_str());
        std::string text = readText(fs::path(LUMEN_SOURCE_DIR) / "resources/configs/ct_multilabel_demo.yaml");
        QVERIFY(text.find("task: ct_multilabel") != std::string::npos);
        text = std::regex_replace(text, std::regex("epochs: \\d+"), "epochs: 2");
        text = std::regex_replace(text, std::regex("freeze_backbone_epochs: \\d+"), "freeze_backbone_epochs: 1");
        text = std::regex_replace(text, std::regex("  type: \\w+"), "  type: bce\n  pos_weight_auto: true");
        text = std::regex_replace(text, std::regex("  metric: f1"), "  metric: youden");
        config_ = fs::path(dir_.path().toStdString()) / "ct.yaml";
        std::ofstream(config_) << text;
        const auto check = cli({"config", "check", q(config_)});
        QVERIFY2(check.code == 0, check.err.c_str());
    }

    void trainAndInfer() {
        const auto train = cli({"train", "--config", q(config_), "--workspace", q(ws_)});
        QVERIFY2(train.code == 0, train.err.c_str());
        QVERIFY2(train.out.find("run 1: trained 2 epochs") != std::string::npos, train.out.c_str());
        QVERIFY2(train.err.find("positive-class weights") != std::string::npos, train.err.c_str());
        const fs::path runDir = ws_ / "runs" / "1_ct_multilabel";
        QVERIFY(fs::exists(runDir / "checkpoints" / "last.pt"));
        QVERIFY(fs::exists(runDir / "checkpoints" / "thresholds_epoch002.json"));
        QVERIFY(fs::exists(runDir / "thresholds.json"));
        // The best weights as TorchScript (logits equal the model's: test_ct_model).
        QVERIFY(fs::file_size(runDir / "ct_multilabel_best.torchscript.pt") > 1000);
        {
            lumen::runs::RunStore store((ws_ / "lumen.db").string());
            // 18 training volumes (75 %) / batch 8 = 3 steps per epoch.
            const auto loss = store.metrics(1, "loss");
            QCOMPARE(loss.size(), std::size_t(6));
            // The frozen first epoch has no backbone gradients: grad_norm.features only in epoch 2.
            const auto features = store.metrics(1, "grad_norm.features");
            QCOMPARE(features.size(), std::size_t(3));
            QVERIFY(features.front().step == 4);
            QCOMPARE(store.metrics(1, "grad_norm.classifier").size(), std::size_t(6));
            for (const char* key : {"loss.bce", "val.auroc_macro", "val.hamming_accuracy", "val.f1_macro",
                                    "val.positive_rate", "val.auroc.Lung_nodule", "epoch"})
                QVERIFY2(store.metrics(1, key).size() >= 1, key);
            // The preprocessing is among the run's recorded parameters.
            const auto params = store.params(1);
            bool window = false;
            for (const auto& [k, v] : params)
                if (k == "preprocess.hu_min" && v == "-1000") window = true;
            QVERIFY(window);
        }

        // Inference on all 24 NIfTI volumes with the stored thresholds.
        const fs::path out = fs::path(dir_.path().toStdString()) / "preds";
        const auto infer = cli({"infer", "--config", q(config_), "--workspace", q(ws_), "--checkpoint",
                                q(runDir / "checkpoints" / "last.pt"), "--out", q(out)});
        QVERIFY2(infer.code == 0, infer.err.c_str());
        QVERIFY2(infer.err.find("thresholds_epoch002.json") != std::string::npos, infer.err.c_str());
        const auto rows = lumen::data::readCsvRecords(out / "preds.csv");
        QCOMPARE(rows.size(), std::size_t(25));
        const auto& header = rows[0].fields;
        QCOMPARE(header.size(), std::size_t(37));
        QCOMPARE(header[0], std::string("VolumeName"));
        QCOMPARE(header[1], std::string("Medical material"));
        QCOMPARE(header[19], std::string("Medical material.decision"));
        QCOMPARE(header[36], std::string("Interlobular septal thickening.decision"));
        const auto thr = nlohmann::json::parse(readText(runDir / "checkpoints" / "thresholds_epoch002.json"));
        QCOMPARE(thr["metric"].get<std::string>(), std::string("youden"));
        for (std::size_t r = 1; r < rows.size(); ++r)
            for (std::size_t k = 1; k <= 18; ++k) {
                const double p = std::stod(rows[r].fields[k]);
                const int d = std::stoi(rows[r].fields[k + 18]);
                const double t = thr["thresholds"][header[k]].get<double>();
                QVERIFY(p >= 0 && p <= 1);
                // The threshold is one of the validation scores: printed with 6 decimals, p may
                // round across it, so compare only away from the edge.
                if (std::abs(p - t) > 1e-6) QCOMPARE(d, p >= t ? 1 : 0);
            }
        const auto preds = nlohmann::json::parse(readText(out / "preds.json"));
        QCOMPARE(preds["preprocessing"]["spacing"][2].get<double>(), 5.0);
        QCOMPARE(preds["preprocessing"]["orientation"].get<std::string>(), std::string("RAS"));
        // The demo's extra input channels (lung and mediastinal windows) are recorded too.
        QCOMPARE(preds["preprocessing"]["extra_windows"].size(), std::size_t(2));
        QCOMPARE(preds["preprocessing"]["extra_windows"][0][0].get<double>(), -1350.0);
        // The seeded split is kept with the run: 18 training and 6 validation volumes.
        const auto split = lumen::data::readCsvRecords(runDir / "split.csv");
        QCOMPARE(split.size(), std::size_t(25));
        QCOMPARE(split[0].fields, (std::vector<std::string>{"VolumeName", "split", "patient"}));
        QCOMPARE(std::count_if(split.begin() + 1, split.end(), [](const auto& r) { return r.fields[1] == "val"; }), 6);
        QCOMPARE(preds["predictions"].size(), std::size_t(24));
        QVERIFY(preds["seconds_per_volume"].get<double>() > 0);
        // CAM volumes for the viewer and the CAM cache (index.csv + raw .npy at feature resolution).
        QVERIFY(fs::is_directory(out / "cams"));
        const fs::path cache = preds["cam"]["cache_dir"].get<std::string>();
        const auto index = lumen::data::readCsvRecords(cache / "index.csv");
        QCOMPARE(index[0].fields.size(), std::size_t(13));
        std::size_t niftis = 0;
        for (const auto& e : fs::directory_iterator(out / "cams")) niftis += e.path().string().ends_with(".nii.gz");
        QCOMPARE(niftis, index.size() - 1);
        for (std::size_t r = 1; r < index.size(); ++r) {
            QVERIFY(fs::exists(cache / index[r].fields[3]));
            QCOMPARE(index[r].fields[7], std::string("32"));  // input_h: the prepared grid
        }

        // The DICOM series of volume 1 gives the NIfTI's probabilities.
        std::ofstream(ws_ / "dicom_labels.csv") << "VolumeName\nct_0001\n";
        std::string text = readText(config_);
        text = std::regex_replace(text, std::regex("labels_csv: ct/labels.csv"), "labels_csv: dicom_labels.csv");
        text = std::regex_replace(text, std::regex("volumes_dir: ct/volumes"), "volumes_dir: ct/dicom");
        const fs::path dicomCfg = fs::path(dir_.path().toStdString()) / "dicom.yaml";
        std::ofstream(dicomCfg) << text;
        const fs::path out2 = fs::path(dir_.path().toStdString()) / "preds_dicom";
        const auto dicom = cli({"infer", "--config", q(dicomCfg), "--workspace", q(ws_), "--checkpoint",
                                q(runDir / "checkpoints" / "last.pt"), "--out", q(out2)});
        QVERIFY2(dicom.code == 0, dicom.err.c_str());
        const auto rows2 = lumen::data::readCsvRecords(out2 / "preds.csv");
        QCOMPARE(rows2.size(), std::size_t(2));
        for (std::size_t k = 1; k <= 36; ++k)
            QVERIFY(std::abs(std::stod(rows2[1].fields[k]) - std::stod(rows[1].fields[k])) <= 2e-6);

        // A bad labels CSV: the error names the file and the row.
        std::ofstream(ws_ / "bad.csv") << "VolumeName,Lung nodule\nct_0001.nii.gz,maybe\n";
        text = std::regex_replace(readText(config_), std::regex("labels_csv: ct/labels.csv"), "labels_csv: bad.csv");
        const fs::path badCfg = fs::path(dir_.path().toStdString()) / "bad.yaml";
        std::ofstream(badCfg) << text;
        const auto bad = cli({"train", "--config", q(badCfg), "--workspace", q(ws_)});
        QCOMPARE(bad.code, 2);
        QVERIFY2(bad.err.find("bad.csv") != std::string::npos, bad.err.c_str());

        // An unknown HU window: the error names the key and the value.
        text =
            std::regex_replace(readText(config_), std::regex("extra_windows: \\[[^\\]]*\\]"), "extra_windows: [lungs]");
        QVERIFY(text.find("[lungs]") != std::string::npos);
        std::ofstream(badCfg) << text;
        const auto window = cli({"train", "--config", q(badCfg), "--workspace", q(ws_)});
        QVERIFY(window.code != 0);
        QVERIFY2(window.err.find("preprocess.extra_windows") != std::string::npos &&
                     window.err.find("lungs") != std::string::npos,
                 window.err.c_str());
    }

    // CT-RATE names several reconstructions of a patient train_<patient>_<scan>_<reconstruction>:
    // without a split column, a patient's volumes all land in one split. 24 volumes of 8
    // patients (a_1, a_2, b_1 each); val_fraction 0.25 -> 2 patients, 6 volumes. The reported
    // F1 is cross-fitted, the in-sample one is recorded beside it.
    void seededSplitKeepsPatientsTogether() {
        const fs::path rate = ws_ / "ctrate";
        fs::create_directories(rate / "volumes");
        const auto labels = lumen::data::readCsvRecords(ws_ / "ct/labels.csv");
        QCOMPARE(labels.size(), std::size_t(25));
        std::ofstream csv(rate / "labels.csv");
        for (std::size_t r = 0; r < labels.size(); ++r) {
            auto fields = labels[r].fields;
            if (r > 0) {
                const char* suffix[] = {"a_1", "a_2", "b_1"};
                const std::string name =
                    "train_" + std::to_string((r - 1) / 3 + 1) + "_" + suffix[(r - 1) % 3] + ".nii.gz";
                fs::create_symlink(ws_ / "ct/volumes" / fields[0], rate / "volumes" / name);
                fields[0] = name;
            }
            for (std::size_t k = 0; k < fields.size(); ++k) csv << (k ? "," : "") << fields[k];
            csv << "\n";
        }
        csv.close();
        std::string text = readText(config_);
        text = std::regex_replace(text, std::regex("labels_csv: ct/labels.csv"), "labels_csv: ctrate/labels.csv");
        text = std::regex_replace(text, std::regex("volumes_dir: ct/volumes"), "volumes_dir: ctrate/volumes");
        text = std::regex_replace(text, std::regex("epochs: \\d+"), "epochs: 1");
        const fs::path cfg = fs::path(dir_.path().toStdString()) / "ctrate.yaml";
        std::ofstream(cfg) << text;
        const auto train = cli({"train", "--config", q(cfg), "--workspace", q(ws_)});
        QVERIFY2(train.code == 0, train.err.c_str());
        QVERIFY2(train.err.find("seeded split by patient, 8 patients for 24 volumes (24 from CT-RATE names") !=
                     std::string::npos,
                 train.err.c_str());
        std::smatch id;
        QVERIFY2(std::regex_search(train.out, id, std::regex("run (\\d+): trained")), train.out.c_str());
        const fs::path runDir = ws_ / "runs" / (id[1].str() + "_ct_multilabel");
        const auto split = lumen::data::readCsvRecords(runDir / "split.csv");
        QCOMPARE(split.size(), std::size_t(25));
        std::map<std::string, std::set<std::string>> splitsOf;
        int val = 0;
        for (std::size_t r = 1; r < split.size(); ++r) {
            const auto& f = split[r].fields;
            QCOMPARE(f[2], f[0].substr(0, f[0].find('_', 6)));  // train_12_a_1.nii.gz -> train_12
            splitsOf[f[2]].insert(f[1]);
            val += f[1] == "val";
        }
        QCOMPARE(splitsOf.size(), std::size_t(8));
        for (const auto& [patient, splits] : splitsOf) QVERIFY2(splits.size() == 1, patient.c_str());
        QCOMPARE(val, 6);
        lumen::runs::RunStore store((ws_ / "lumen.db").string());
        const auto runId = std::stoll(id[1].str());
        QCOMPARE(store.metrics(runId, "val.f1_macro").size(), std::size_t(1));
        QCOMPARE(store.metrics(runId, "val.f1_macro_in_sample").size(), std::size_t(1));

        // A named patient column that is not there is an error naming it.
        text = std::regex_replace(readText(cfg), std::regex("  val_fraction:"),
                                  "  patient_column: PatientKey\n  val_fraction:");
        std::ofstream(cfg) << text;
        const auto bad = cli({"train", "--config", q(cfg), "--workspace", q(ws_)});
        QVERIFY(bad.code != 0);
        QVERIFY2(bad.err.find("no \"PatientKey\" column (data.patient_column)") != std::string::npos, bad.err.c_str());
    }
};

QTEST_GUILESS_MAIN(TestCtCli)
#include "test_ct_cli.moc"
