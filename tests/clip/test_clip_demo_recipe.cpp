// The committed demo recipe (resources/configs/clip_contrastive_demo.yaml, exactly as committed)
// on 1200 demo chest X-rays and the reports written from their planted findings,
// in process through plugin::runTask. Asserted on the last epochs' validation metrics (not the
// best epoch's): the floors below hold with a margin on every CPU kind measured
// (docs/contrastive.md, "Demo", keeps the table; LUMEN_RECIPE_SEED=N reruns with another seed).
#include "clip_task_test.h"

#include <QtTest>

#include <cstdlib>
#include <string>
#include <vector>

using namespace lumen;

namespace {

// The recipe on `lumen-cli demo --chest-images 1200` (934 training pairs, a seeded 5 % of the
// patients for validation: about 50 images and 30 distinct reports). Measured, last three epochs
// (the seed also draws the validation split):
//   CPU                     seed  recall@1 (mean of i2t, t2i)  last epoch i2t / t2i  alignment
//   AMD EPYC (avx512_bf16)    42  0.612 0.664 0.666 -> 0.647   0.608 / 0.724         0.892
//   AMD EPYC (avx512_bf16)     1  0.632 0.672 0.643 -> 0.649   0.708 / 0.577         0.932
//   AMD EPYC (avx512_bf16)     2  0.763 0.717 0.711 -> 0.730   0.652 / 0.769         0.924
// One validation image moves i2t by 0.02 and an epoch moves recall@1 by up to 0.08, so the
// issue's Recall@1 >= 0.4 (the seed's target) is asserted on the mean over both directions and
// the last three epochs, and each direction of the last epoch has a lower floor.
constexpr double kAlignmentFloor = 0.3;  // the seed's target (seen: 0.89-0.93)
constexpr double kRecallGoal = 0.4;      // the seed's target: recall@1, mean of the last 3 epochs
constexpr double kDirectionFloor = 0.3;  // each direction, last epoch (seen: 0.577 at the lowest)

double meanOfLast(const std::vector<double>& v, std::size_t n) {
    double sum = 0;
    for (std::size_t i = v.size() - n; i < v.size(); ++i) sum += v[i];
    return sum / double(n);
}

}  // namespace

class TestClipDemoRecipe : public ClipTaskTest {
    Q_OBJECT
private slots:
    void initTestCase() { QVERIFY(setUpWorkspace(1200)); }

    void recipeReachesItsFloors() {
        const char* seedText = std::getenv("LUMEN_RECIPE_SEED");
        const auto c = demoConfig([&](YAML::Node& r) {
            if (seedText) r["seed"] = std::atoi(seedText);
        });
        const auto result = run(plugin::Operation::Train, c);
        const auto m = metricsOf(result.runId);
        const auto& recall = m.at("val.recall@1");
        QVERIFY(recall.size() >= 3);
        const double i2t = m.at("val.recall@1_i2t").back(), t2i = m.at("val.recall@1_t2i").back();
        const double alignment = m.at("val.alignment").back(), recall3 = meanOfLast(recall, 3);
        qInfo(
            "recall@1 of the last three epochs %.3f %.3f %.3f (mean %.3f); last epoch i2t %.3f, t2i %.3f, "
            "alignment %.3f, zero-shot AUROC %.3f, BLEU-4 %.3f",
            recall[recall.size() - 3], recall[recall.size() - 2], recall.back(), recall3, i2t, t2i, alignment,
            m.at("val.zero_shot_auroc").back(), m.at("val.bleu4").back());
        QVERIFY2(alignment >= kAlignmentFloor, std::to_string(alignment).c_str());
        QVERIFY2(recall3 >= kRecallGoal, std::to_string(recall3).c_str());
        QVERIFY2(i2t >= kDirectionFloor && t2i >= kDirectionFloor,
                 (std::to_string(i2t) + " / " + std::to_string(t2i)).c_str());
    }
};

QTEST_GUILESS_MAIN(TestClipDemoRecipe)
#include "test_clip_demo_recipe.moc"
