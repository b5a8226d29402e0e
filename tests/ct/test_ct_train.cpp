// ct_multilabel through plugin::runTask, in process, with resources/configs/ct_multilabel_demo.yaml
// (3 of its 50 epochs, on 80 instead of 640 volumes, to stay near ten seconds) on the demo
// workspace's synthetic CT: the per-epoch metric keys, a falling training loss, per-epoch
// thresholds and thresholds.json; then inference with a 3-D Grad-CAM of "Lung nodule": the CAM
// volume on the prepared grid with a world affine, the raw CAM in the cache, and where its peak
// lies relative to the planted nodules of ct/lesions.csv (reported only: a 3-epoch model has
// not learned them; test_ct_demo_recipe asserts where the trained model's CAMs peak).
#include "ct_task_test.h"

#include "data/csv_records.h"
#include "io/nifti_reader.h"
#include "runs/run_store.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace lumen;

namespace {

constexpr int kEpochs = 3;

}  // namespace

class TestCtTrain : public CtTaskTest {
    Q_OBJECT

private slots:
    void initTestCase() { QVERIFY(setUpWorkspace(80)); }

    void trainsOnTheDemoAndExplainsANodule() {
        const auto t0 = std::chrono::steady_clock::now();
        const auto trained = run(plugin::Operation::Train, demoConfig([](YAML::Node& n) { n["epochs"] = kEpochs; }));
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("train: %s (%.1f s)", trained.summary.c_str(), seconds);
        runs::RunStore store((ws_ / "lumen.db").string());
        const auto metric = [&](const std::string& key) {
            const auto points = store.metrics(trained.runId, key);
            return points.empty() ? std::nan("") : points.back().value;
        };
        for (const char* key : {"val.auroc_macro", "val.hamming_accuracy", "val.f1_macro", "val.positive_rate",
                                "val.loss", "loss.bce", "val.auroc.Lung_nodule"})
            QVERIFY2(!store.metrics(trained.runId, key).empty(), key);
        double clear = 0;
        QString perLabel;
        for (const auto& l : kPlantedFindings) {
            const double a = metric("val.auroc." + safeLabel(l));
            perLabel += QString("%1 %2, ").arg(QString::fromStdString(l)).arg(a, 0, 'f', 3);
            clear += a;
        }
        clear /= kPlantedFindings.size();
        qInfo("val AUROC: macro (all labels) %.3f, planted-clearly macro %.3f; %s", metric("val.auroc_macro"), clear,
              qPrintable(perLabel));
        QVERIFY(metric("val.auroc_macro") >= 0 && metric("val.auroc_macro") <= 1);
        QVERIFY(metric("val.positive_rate") >= 0 && metric("val.positive_rate") <= 1);
        // It learns something: the last epoch's mean training loss is below the first's.
        const auto losses = store.metrics(trained.runId, "loss");
        const std::size_t steps = 8;  // 60 training volumes (75 % of 80) / batch 8
        QCOMPARE(losses.size(), std::size_t(kEpochs) * steps);
        double first = 0, last = 0;
        for (std::size_t i = 0; i < steps; ++i)
            first += losses[i].value, last += losses[losses.size() - steps + i].value;
        qInfo("mean training loss: epoch 1 %.4f, epoch %d %.4f", first / steps, kEpochs, last / steps);
        QVERIFY(last < first);

        // Thresholds: per epoch beside the checkpoints, and the best epoch's in thresholds.json.
        QVERIFY(fs::exists(trained.runDir / "checkpoints" / "thresholds_epoch001.json"));
        std::ifstream tin(trained.runDir / "thresholds.json");
        const auto thr = nlohmann::json::parse(tin);
        QCOMPARE(thr["metric"].get<std::string>(), std::string("f1"));
        QCOMPARE(thr["thresholds"].size(), std::size_t(18));
        for (const auto& [k, v] : thr["thresholds"].items())
            QVERIFY2(v.get<double>() >= 0 && v.get<double>() <= 1, k.c_str());
        const fs::path best = trained.runDir / "checkpoints" / thr["checkpoint"].get<std::string>();
        QVERIFY(fs::exists(best));

        // Inference on the first 8 volumes with the nodule's Grad-CAM for each.
        const fs::path out = fs::path(dir_.path().toStdString()) / "infer";
        const auto inferred = run(plugin::Operation::Infer, demoConfig([&](YAML::Node& n) {
                                      n["infer"]["cam_labels"].push_back("Lung nodule");
                                      n["infer"]["checkpoint"] = best.string();
                                      n["infer"]["out_dir"] = out.string();
                                      n["data"]["max_volumes"] = 8;
                                  }));
        qInfo("infer: %s", inferred.summary.c_str());
        std::ifstream pin(out / "preds.json");
        const auto preds = nlohmann::json::parse(pin);
        QCOMPARE(preds["predictions"].size(), std::size_t(8));
        QCOMPARE(preds["preprocessing"]["hu_window"][0].get<double>(), -1000.0);
        QCOMPARE(preds["thresholds"]["thresholds"]["Lung nodule"].get<double>(),
                 thr["thresholds"]["Lung nodule"].get<double>());

        // Every planted nodule among these volumes: where is the CAM's peak?
        const auto lesions = data::readCsvRecords(ws_ / "ct" / "lesions.csv");
        int nodules = 0, inside = 0;
        bool firstInside = false;
        for (std::size_t r = 1; r < lesions.size(); ++r) {
            const auto& f = lesions[r].fields;
            if (f[1] != "Lung nodule") continue;
            const std::string stem = f[0].substr(0, f[0].find('.'));
            if (std::stoi(stem.substr(3)) > 8) continue;
            const auto cam = io::readNifti(out / "cams" / (stem + "__Lung_nodule.nii.gz"));
            QCOMPARE(cam.columns, 32);
            QCOMPARE(cam.depth, 24);
            const auto peak = std::max_element(cam.values.begin(), cam.values.end()) - cam.values.begin();
            const long px = peak % cam.columns, py = (peak / cam.columns) % cam.rows,
                       pz = peak / (cam.columns * cam.rows);
            // Both in world millimetres through their NIfTI affines (the CAM lies on the prepared
            // 3 x 3 x 5 mm grid, the lesion is given on the source's 1.5 x 1.5 x 2.5 mm grid).
            const auto pw = worldPoint(io::rasAffine(cam), px, py, pz);
            const auto lw = worldPoint(io::rasAffine(io::readNifti(ws_ / "ct" / "volumes" / f[0])), std::stod(f[2]),
                                       std::stod(f[3]), std::stod(f[4]));
            const double d = std::hypot(pw[0] - lw[0], pw[1] - lw[1], pw[2] - lw[2]);
            const double radius = std::stod(f[5]) * 1.5;
            QVERIFY(std::abs(*std::max_element(cam.values.begin(), cam.values.end()) - 1.0f) < 1e-6);  // min-max
            QVERIFY(*std::min_element(cam.values.begin(), cam.values.end()) >= 0.0f);
            ++nodules;
            // The upsampled CAM peaks at the centre of a feature cell (6 x 6 x 10 mm here), so the
            // peak can miss the nodule's centre by up to half a cell diagonal (6.6 mm) even when the
            // cell holding the nodule is the hottest: inside = within radius + half that diagonal.
            const bool in = d <= radius + 0.5 * std::sqrt(6.0 * 6.0 * 2 + 10.0 * 10.0);
            inside += in;
            if (stem == "ct_0001" && in) firstInside = true;
            qInfo("%s nodule at (%s, %s, %s) r %s vox: CAM peak (%ld, %ld, %ld), %.1f mm away (radius %.1f mm) %s",
                  stem.c_str(), f[2].c_str(), f[3].c_str(), f[4].c_str(), f[5].c_str(), px, py, pz, d, radius,
                  in ? "inside" : "OUTSIDE");
        }
        QVERIFY(nodules >= 1);  // volume 1 always has one
        qInfo("%d of %d nodules contain their CAM peak (ct_0001: %s)", inside, nodules, firstInside ? "yes" : "no");
        // The raw CAMs in the cache: feature resolution (16 x 16 x 12 cells of the 32 x 32 x 24 grid).
        const fs::path cache = preds["cam"]["cache_dir"].get<std::string>();
        const auto index = data::readCsvRecords(cache / "index.csv");
        QCOMPARE(index.size(), std::size_t(9));  // header + 8 volumes x "Lung nodule"
        QCOMPARE(index[1].fields[1], std::string("Lung nodule"));
        std::ifstream npy(cache / index[1].fields[3], std::ios::binary);
        std::string head(128, '\0');
        npy.read(head.data(), 128);
        QVERIFY2(head.find("'shape': (12, 16, 16)") != std::string::npos, head.c_str());
    }
};

QTEST_GUILESS_MAIN(TestCtTrain)
#include "test_ct_train.moc"
