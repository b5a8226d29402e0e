// End to end: `lumen-cli demo`, then `lumen-cli train` of the roi_consistency task on a cut-down
// copy of resources/configs/roi_consistency_demo.yaml, resume by run id (the best checkpoint
// carried over when the resumed run never improves), refusal of a
// checkpoint of another model, and `lumen-cli infer` (preds.csv, preds.json, roi_vis/).
#include "test_support.h"

#include "runs/run_store.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

namespace {

CliOutcome cli(const QStringList& args) { return runLumenCli(args); }

std::string readText(const fs::path& f) { return readTextFile(f); }

}  // namespace

class TestRoiCli : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    fs::path ws_, config_;

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        ws_ = fs::path(dir_.path().toStdString()) / "ws";
        const auto demo = cli({"demo", "--out", QString::fromStdString(ws_.string())});
        QVERIFY2(demo.code == 0, demo.err.c_str());
        // The demo config, cut down: fewer images, smaller images, two epochs.
        std::string text = readText(fs::path(LUMEN_SOURCE_DIR) / "resources/configs/roi_consistency_demo.yaml");
        QVERIFY(text.find("task: roi_consistency") != std::string::npos);
        text = std::regex_replace(text, std::regex("image_size: \\d+"), "image_size: 32");
        text = std::regex_replace(text, std::regex("epochs: \\d+"), "epochs: 2");
        text = std::regex_replace(text, std::regex("batch_size: \\d+"), "batch_size: 8");
        text = std::regex_replace(text, std::regex("  val_fraction: [0-9.]+"),
                                  "  val_fraction: 0.2\n  max_images: 16\n  max_val_images: 8");
        config_ = fs::path(dir_.path().toStdString()) / "demo.yaml";
        std::ofstream(config_) << text;
        const auto check = cli({"config", "check", QString::fromStdString(config_.string())});
        QVERIFY2(check.code == 0, check.err.c_str());
    }

    void trainResumeAndInfer() {
        const QString ws = QString::fromStdString(ws_.string()), cfg = QString::fromStdString(config_.string());
        const auto train = cli({"train", "--config", cfg, "--workspace", ws});
        QVERIFY2(train.code == 0, train.err.c_str());
        QVERIFY2(train.out.find("run 1: trained 2 epochs") != std::string::npos, train.out.c_str());
        const fs::path runDir = ws_ / "runs" / "1_roi_consistency";
        QVERIFY(fs::exists(runDir / "config.yaml"));
        QVERIFY(fs::exists(runDir / "checkpoints" / "last.pt"));
        int named = 0;
        const std::regex pattern(R"(roi_consistency_epoch00[12]_(auroc_macro|loss)\d+\.\d{4}_seed42\.pt)");
        for (const auto& e : fs::directory_iterator(runDir / "checkpoints")) {
            const auto n = e.path().filename().string();
            if (n == "last.pt") continue;
            QVERIFY2(std::regex_match(n, pattern), n.c_str());
            ++named;
        }
        QCOMPARE(named, 2);
        QVERIFY(fs::file_size(runDir / "roi_consistency_best.torchscript.pt") > 1000000);
        {
            lumen::runs::RunStore store((ws_ / "lumen.db").string());
            const auto run = store.run(1);
            QVERIFY(run.has_value());
            QCOMPARE(run->status, lumen::runs::RunStatus::Finished);
            // 16 images / batch 8 = 2 steps per epoch.
            QCOMPARE(store.metrics(1, "loss").size(), std::size_t(4));
            for (const char* key : {"loss.full", "loss.consist", "loss.drop", "loss.sparse", "loss.tv", "lr",
                                    "grad_norm", "grad_norm.classifier", "samples_per_s", "val.loss", "epoch"})
                QVERIFY2(!store.metrics(1, key).empty(), key);
        }

        // Resume by run id with one more epoch; the same model keys.
        std::string more = std::regex_replace(readText(config_), std::regex("epochs: 2"), "epochs: 3");
        const fs::path cfg3 = fs::path(dir_.path().toStdString()) / "demo3.yaml";
        std::ofstream(cfg3) << more;
        const auto resumed =
            cli({"train", "--config", QString::fromStdString(cfg3.string()), "--workspace", ws, "--resume", "1"});
        QVERIFY2(resumed.code == 0, resumed.err.c_str());
        QVERIFY2(resumed.out.find("trained 3 epochs (6 steps)") != std::string::npos, resumed.out.c_str());
        QVERIFY(resumed.err.find("resumed from") != std::string::npos);

        // Another model (variant) refuses the checkpoint, naming the key.
        std::string other = std::regex_replace(readText(config_), std::regex("variant: atto"), "variant: tiny");
        const fs::path cfgOther = fs::path(dir_.path().toStdString()) / "other.yaml";
        std::ofstream(cfgOther) << other;
        const auto refused =
            cli({"train", "--config", QString::fromStdString(cfgOther.string()), "--workspace", ws, "--resume", "1"});
        QCOMPARE(refused.code, 2);
        QVERIFY2(refused.err.find("model.variant") != std::string::npos, refused.err.c_str());
        QVERIFY2(cli({"train", "--config", cfg, "--workspace", ws, "--resume", "99"}).err.find("no run 99") !=
                     std::string::npos,
                 "unknown run id");

        // Inference with the checkpoint of run 1.
        const fs::path out = fs::path(dir_.path().toStdString()) / "preds";
        const auto infer = cli({"infer", "--config", cfg, "--workspace", ws, "--checkpoint",
                                QString::fromStdString((runDir / "checkpoints" / "last.pt").string()), "--out",
                                QString::fromStdString(out.string())});
        QVERIFY2(infer.code == 0, infer.err.c_str());
        const std::string csv = readText(out / "preds.csv");
        std::istringstream lines(csv);
        std::string header, line;
        std::getline(lines, header);
        QVERIFY(header.rfind("image,Atelectasis.prob_full,Atelectasis.prob_crop,Atelectasis.prob_drop,"
                             "Atelectasis.faithfulness,",
                             0) == 0);
        QCOMPARE(std::count(header.begin(), header.end(), ','), 15L * 4);
        int rows = 0;
        while (std::getline(lines, line)) {
            ++rows;
            // faithfulness = prob_full - prob_drop (to the printed precision)
            std::vector<double> v;
            std::stringstream ss(line);
            std::string cell;
            std::getline(ss, cell, ',');
            while (std::getline(ss, cell, ',')) v.push_back(std::stod(cell));
            QCOMPARE(v.size(), std::size_t(60));
            for (std::size_t k = 0; k < 60; k += 4) {
                QVERIFY(v[k] >= 0 && v[k] <= 1);
                QVERIFY(std::abs(v[k + 3] - (v[k] - v[k + 2])) < 2e-6);
            }
        }
        QCOMPARE(rows, 8);  // data.max_val_images of the test split
        const auto json = nlohmann::json::parse(readText(out / "preds.json"));
        QCOMPARE(json.size(), std::size_t(8));
        QVERIFY(json[0]["labels"]["Normal"].contains("faithfulness"));
        int pngs = 0;
        for (const auto& e : fs::directory_iterator(out / "roi_vis")) pngs += e.path().extension() == ".png";
        QCOMPARE(pngs, 16);  // infer.visuals 8: a mask and a crop each
        lumen::runs::RunStore store((ws_ / "lumen.db").string());
        QCOMPARE(store.run(3)->status, lumen::runs::RunStatus::Failed);  // the refused resume
        QCOMPARE(store.run(4)->status, lumen::runs::RunStatus::Finished);

        // A resume that never improves (here: no epoch left to train) keeps run 1's best
        // checkpoint: the best_checkpoint artifact and the TorchScript export are there.
        const auto again = cli({"train", "--config", cfg, "--workspace", ws, "--resume", "1"});
        QVERIFY2(again.code == 0, again.err.c_str());
        QVERIFY2(again.out.find("run 5: trained 2 epochs") != std::string::npos, again.out.c_str());
        std::string best;
        for (const auto& a : store.artifacts(5))
            if (a.kind == "best_checkpoint") best = a.path;
        QVERIFY2(best.find("1_roi_consistency/checkpoints/roi_consistency_epoch00") != std::string::npos, best.c_str());
        QVERIFY(fs::exists(best));
        QVERIFY(fs::file_size(ws_ / "runs" / "5_roi_consistency" / "roi_consistency_best.torchscript.pt") > 1000000);

        // Export run 5 (what a person keeps of it), then delete the refused resume, run 3.
        const QString to = dir_.filePath("exported");
        const auto exported = cli({"runs", "--workspace", ws, "--export", "5", "--to", to});
        QVERIFY2(exported.code == 0, exported.err.c_str());
        const fs::path kept = fs::path(to.toStdString()) / "run_5_roi_consistency";
        QVERIFY2(exported.out.find((kept / "config.yaml").string()) != std::string::npos, exported.out.c_str());
        QCOMPARE(fs::file_size(kept / "roi_consistency_best.torchscript.pt"),
                 fs::file_size(ws_ / "runs" / "5_roi_consistency" / "roi_consistency_best.torchscript.pt"));
        QCOMPARE(cli({"runs", "--workspace", ws, "--export", "5", "--to", to}).code, 2);  // never overwritten
        const auto unconfirmed = cli({"runs", "--workspace", ws, "--delete", "3"});
        QCOMPARE(unconfirmed.code, 2);
        QVERIFY2(unconfirmed.err.find("add --yes") != std::string::npos, unconfirmed.err.c_str());
        QVERIFY(store.run(3));
        const auto deleted = cli({"runs", "--workspace", ws, "--delete", "3", "--yes"});
        QVERIFY2(deleted.code == 0, deleted.err.c_str());
        QVERIFY(!store.run(3) && store.artifacts(3).empty());
        QVERIFY(!fs::exists(ws_ / "runs" / "3_roi_consistency"));
        QVERIFY(store.run(4) && store.run(5));
    }

    // A label the manifest does not have is an error naming it (not all-zero targets).
    void unknownLabelIsAnError() {
        const std::string text =
            std::regex_replace(readText(config_), std::regex("task: roi_consistency"),
                               "task: roi_consistency\nlabels: [Atelectasis, Hernia, Not a finding]");
        const fs::path cfg = fs::path(dir_.path().toStdString()) / "unknown_label.yaml";
        std::ofstream(cfg) << text;
        const auto r = cli({"train", "--config", QString::fromStdString(cfg.string()), "--workspace",
                            QString::fromStdString(ws_.string())});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.find("\"Not a finding\" not in the manifest") != std::string::npos, r.err.c_str());
        QVERIFY2(r.err.find("Atelectasis") != std::string::npos, r.err.c_str());  // what it has
    }

    // kill -9 after the first checkpoint: the run is listed as interrupted, and resuming it by
    // id alone (its own config.yaml) finishes it (docs/reliability.md).
    void killedRunIsInterruptedAndResumes() {
        const QString ws = QString::fromStdString(ws_.string());
        const std::string longer = std::regex_replace(readText(config_), std::regex("epochs: 2"), "epochs: 8");
        const fs::path cfg = fs::path(dir_.path().toStdString()) / "long.yaml";
        std::ofstream(cfg) << longer;
        std::int64_t id = 0;
        {
            lumen::runs::RunStore store((ws_ / "lumen.db").string());
            id = store.runs().front().id + 1;
        }
        const fs::path last = ws_ / "runs" / (std::to_string(id) + "_roi_consistency") / "checkpoints" / "last.pt";
        QProcess train;
        train.start(QStringLiteral(LUMEN_BINARY_DIR "/bin/lumen-cli"),
                    {"train", "--config", QString::fromStdString(cfg.string()), "--workspace", ws});
        QVERIFY(train.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(fs::exists(last) || train.state() == QProcess::NotRunning, 240000);
        QCOMPARE(train.state(), QProcess::Running);  // killed while it trains, not after
        train.kill();                                // SIGKILL
        QVERIFY(train.waitForFinished(10000));

        const auto listed = cli({"runs", "--workspace", ws, "--run", QString::number(id), "--json"});
        QVERIFY2(listed.code == 0, listed.err.c_str());
        const auto run = nlohmann::json::parse(listed.out).at(0);
        QCOMPARE(run.at("status").get<std::string>(), std::string("interrupted"));
        QCOMPARE(run.at("last_checkpoint").get<std::string>(), last.string());

        const auto resumed = cli({"train", "--resume", QString::number(id), "--workspace", ws});
        QVERIFY2(resumed.code == 0, resumed.err.c_str());
        QVERIFY2(resumed.out.find("trained 8 epochs") != std::string::npos, resumed.out.c_str());
        QVERIFY2(resumed.err.find("resumed from " + last.string()) != std::string::npos, resumed.err.c_str());
        lumen::runs::RunStore store((ws_ / "lumen.db").string());
        QCOMPARE(store.run(id)->status, lumen::runs::RunStatus::Interrupted);
        QCOMPARE(store.runs().front().status, lumen::runs::RunStatus::Finished);
        // Without --config, a run id is required.
        QVERIFY(cli({"train", "--workspace", ws}).err.find("--resume RUN_ID") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestRoiCli)
#include "test_roi_cli.moc"
