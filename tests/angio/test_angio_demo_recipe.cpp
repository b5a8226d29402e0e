// Issue 16's demo goal, asserted: resources/configs/angio_multiview_demo.yaml, exactly as
// committed, trained on `lumen-cli demo --angio-studies 300`'s labelled angiography (in process,
// through plugin::runTask) reaches a validation macro AUROC >= 0.85 of the _stenosis_binary heads
// over the segments with planted narrowings; inference on the test studies writes metrics.json
// (per column AUROC/AUPRC at the g-mean threshold with bootstrap intervals, stenosis MAE), and
// the per-view attention leans towards the injection (left or right tree) that holds the lesion.
#include "demo_task_test.h"

#include "data/angio_manifest.h"
#include "data/csv_records.h"
#include "data/dataset_stats.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

namespace fs = std::filesystem;
using namespace lumen;

namespace {

// The segments the demo plants narrowings in (core/demo/demo_coronary.cpp, plantedSegments).
const std::vector<std::string> kPlanted = {"prox_lad", "lcx", "prox_rca"};
const std::set<std::string> kLeftTree = {"prox_lad", "lcx"};

// The recipe is deterministic per CPU kind only (LibTorch's kernels differ between AVX-512 with
// and without bf16). Measured: docs/angio.md, "Demo" (validation macro AUROC of the planted
// segments, seeds 42 and others). Asserted: issue 16's goal, which the worst measured run
// clears with a margin.
constexpr double kMacroGoal = 0.85;
constexpr int kStudies = 300;
// Half the views show each side, so attention blind to the lesion gives about 0.5 (seen: 0.92).
constexpr double kAttentionFloor = 0.65;

}  // namespace

class TestAngioDemoRecipe : public DemoTaskTest {
    Q_OBJECT

public:
    TestAngioDemoRecipe() : DemoTaskTest("angio_multiview", "resources/configs/angio_multiview_demo.yaml") {}

private slots:
    void initTestCase() {
        auto o = emptyDemo();
        o.angioStudies = kStudies;
        QVERIFY(setUpDemo(o));
    }

    /// The recipe's data.mean / data.std are the demo's training videos' statistics (every frame,
    /// 4 decimals, as the trainer's check prints them), so the recipe never warns about itself.
    void recipeNormalisationIsItsTrainingVideos() {
        const auto recipe = demoConfig();
        const auto videos = data::videosAsManifest(data::readAngioManifest(ws_ / "angio" / "manifest.csv"));
        const auto px = data::computePixelStats(videos.filterSplit("train"));
        const auto four = [](double v) { return QString::number(v, 'f', 4); };
        QCOMPARE(four(recipe.get<double>("data.mean")), four(px.mean[0]));
        QCOMPARE(four(recipe.get<double>("data.std")), four(px.stdev[0]));
    }

    void demoRecipeLearnsThePlantedNarrowings() {
        const auto recipe = demoConfig([](YAML::Node& n) {
            if (const char* seed = std::getenv("LUMEN_RECIPE_SEED")) n["seed"] = std::stoi(seed);
        });
        const auto t0 = std::chrono::steady_clock::now();
        const auto trained = run(plugin::Operation::Train, recipe);
        qInfo("train: %s (%.0f s)", trained.summary.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

        const auto m = metricsOf(trained.runId);
        double sum = 0;
        QString report;
        for (const auto& seg : kPlanted) {
            const auto it = m.find("val.auroc." + seg + "_stenosis_binary");
            QVERIFY2(it != m.end(), seg.c_str());
            sum += it->second.back();
            report += QString("%1 %2, ").arg(QString::fromStdString(seg)).arg(it->second.back(), 0, 'f', 3);
        }
        const double macro = sum / double(kPlanted.size());
        qInfo("validation AUROC of _stenosis_binary: macro %.3f over the planted segments (%s); stenosis MAE %.1f %%",
              macro, qPrintable(report), m.at("val.stenosis_mae").back());
        QVERIFY2(macro >= kMacroGoal, qPrintable(QString("macro AUROC %1 < %2").arg(macro).arg(kMacroGoal)));
        // The other heads over the planted segments (docs/angio.md, "Demo": measured per seed and CPU kind).
        QStringList others;
        for (const char* head : {"calcif_binary", "cto", "thrombus"}) {
            double headSum = 0;
            for (const auto& seg : kPlanted) headSum += m.at("val.auroc." + seg + "_" + head).back();
            others << QString("%1 %2").arg(head).arg(headSum / double(kPlanted.size()), 0, 'f', 3);
        }
        qInfo("validation macro AUROC of the other heads: %s", qPrintable(others.join(", ")));

        // Inference on the test split: predictions, per-view attention and metrics.json.
        const fs::path out = fs::path(dir_.path().toStdString()) / "infer";
        const auto inferred = run(plugin::Operation::Infer, demoConfig([&](YAML::Node& n) {
                                      n["infer"]["checkpoint"] = (trained.runDir / "checkpoints" / "last.pt").string();
                                      n["infer"]["out_dir"] = out.string();
                                      n["infer"]["bootstrap"] = 200;
                                  }));
        qInfo("infer: %s", inferred.summary.c_str());
        const auto metrics = nlohmann::json::parse(readTextFile(out / "metrics.json"));
        for (const auto& seg : kPlanted) {
            const auto& col = metrics["columns"][seg + "_stenosis_binary"];
            QVERIFY2(col["auroc"].is_number() && col["auprc"].is_number() && col["threshold"].is_number(), seg.c_str());
            QVERIFY(col["ci"]["auroc"][0].get<double>() <= col["auroc"].get<double>());
            QVERIFY(col["ci"]["auroc"][1].get<double>() >= col["auroc"].get<double>());
            QCOMPARE(col["tp"].get<int>() + col["fp"].get<int>() + col["tn"].get<int>() + col["fn"].get<int>(),
                     col["n"].get<int>());
        }
        QVERIFY(metrics["groups"]["stenosis"]["mae"].is_number());
        qInfo("test split: stenosis MAE %.1f %%, macro AUROC of stenosis_binary %.3f",
              metrics["groups"]["stenosis"]["mae"].get<double>(),
              metrics["groups"]["stenosis_binary"]["macro_auroc"].get<double>());

        // Which view drove it: in test studies whose only severe narrowing is in one tree, the
        // views of that injection get more attention than the others, on average.
        std::map<std::string, std::set<std::string>> severe;  // study -> trees with a >= 70 % lesion
        for (const auto& rec : data::readCsvRecords(ws_ / "angio" / "findings.csv")) {
            const auto& f = rec.fields;
            if (f[0] == "study_id" || std::stod(f[2]) < 70) continue;
            severe[f[0]].insert(kLeftTree.count(f[1]) ? "left" : "right");
        }
        const auto preds = nlohmann::json::parse(readTextFile(out / "preds.json"));
        double towards = 0;
        int studies = 0;
        for (const auto& p : preds["predictions"]) {
            const auto it = severe.find(p["study_id"].get<std::string>());
            if (it == severe.end() || it->second.size() != 1) continue;
            const bool left = *it->second.begin() == "left";
            double lesionSide = 0, sum = 0;
            for (std::size_t v = 0; v < p["views"].size(); ++v) {
                const double w = p["views"][v]["attention"].get<double>();
                sum += w;
                // Views 1 and 3 show the left tree, 2 and 4 the right (the manifest's order).
                if ((v % 2 == 0) == left) lesionSide += w;
            }
            QVERIFY(std::abs(sum - 1) < 1e-6);
            towards += lesionSide;
            ++studies;
        }
        QVERIFY(studies >= 5);
        qInfo("attention on the lesion's injection: %.3f on average over %d studies", towards / studies, studies);
        QVERIFY2(
            towards / studies >= kAttentionFloor,
            qPrintable(QString("attention on the lesion's side %1 < %2").arg(towards / studies).arg(kAttentionFloor)));
    }
};

QTEST_GUILESS_MAIN(TestAngioDemoRecipe)
#include "test_angio_demo_recipe.moc"
