// The roi_consistency task through plugin::runTask, in process: a run cancelled after epoch 1
// (and one cancelled in the middle of epoch 2) and resumed from its last.pt gives exactly the
// losses of an uninterrupted run — ConvNeXt-atto, bf16 where available, channels-last, the
// threaded data loader. Also: same seed, same losses.
#include "test_support.h"

#include "config/config.h"
#include "demo/demo_workspace.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_runner.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <mutex>

namespace fs = std::filesystem;
using namespace lumen;

namespace {

struct LossRecorder : jobs::JobObserver {
    std::mutex m;
    std::vector<double> losses;
    std::function<bool(const std::string&, std::int64_t, double)> cancelWhen;
    jobs::CancellationToken token;
    void onMetric(jobs::JobId, const std::string& k, std::int64_t step, double v) override {
        std::lock_guard lock(m);
        if (k == "loss") losses.push_back(v);
        if (cancelWhen && cancelWhen(k, step, v)) token.cancel();
    }
};

}  // namespace

class TestRoiResume : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    fs::path ws_;
    plugin::Registry registry_;
    std::unique_ptr<plugin::PluginLoader> loader_;

    config::Config makeConfig(const std::string& extra = {}) {
        const std::string text = R"(task: roi_consistency
seed: 3
model: {variant: atto}
data: {nih_dir: chest_xray, max_images: 24, max_val_images: 8, val_fraction: 0.25}
augment: {hflip: true}
image_size: 32
epochs: 2
batch_size: 8
gradient_accumulation_steps: 2
lr: 1.0e-3
warmup_steps: 1
ema_decay: 0.9
num_workers: 2
threads: 2
)" + extra;
        return config::makeConfig(config::parseYaml(text), registry_.require("roi_consistency")->schema());
    }

    struct Outcome {
        std::vector<double> losses;
        fs::path runDir;
        bool cancelled = false;
    };

    Outcome train(const config::Config& c,
                  std::function<bool(const std::string&, std::int64_t, double)> cancelWhen = {}) {
        auto rec = std::make_shared<LossRecorder>();
        rec->cancelWhen = std::move(cancelWhen);
        jobs::JobContext job(1, rec->token, rec);
        plugin::TaskRunRequest req;
        req.config = c;
        req.workspace = ws_;
        Outcome out;
        try {
            out.runDir = plugin::runTask(*registry_.require("roi_consistency"), req, job).runDir;
        } catch (const jobs::Cancelled&) {
            out.cancelled = true;
        }
        out.losses = rec->losses;
        return out;
    }

    static fs::path lastRun(const fs::path& ws) {
        fs::path newest;
        long best = -1;
        for (const auto& e : fs::directory_iterator(ws / "runs")) {
            const long id = std::stol(e.path().filename().string());
            if (id > best) best = id, newest = e.path();
        }
        return newest;
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        ws_ = fs::path(dir_.path().toStdString()) / "ws";
        demo::DemoOptions o;
        o.chestImages = 60;
        o.ctVolumes = 0;
        o.angioStudies = 0;
        o.predictionStudies = 0;
        demo::createDemoWorkspace(ws_, o);
        loader_ = std::make_unique<plugin::PluginLoader>(registry_);
        loader_->load(PLUGIN_FILE);
    }

    void resumeGivesTheSameLosses() {
        const auto full = train(makeConfig());
        QVERIFY(!full.cancelled);
        // Two epochs of at least two optimizer steps each (so step spe + 1 is inside epoch 2).
        QVERIFY(full.losses.size() >= 4 && full.losses.size() % 2 == 0);
        const auto spe = static_cast<std::int64_t>(full.losses.size() / 2);
        const auto again = train(makeConfig());
        QCOMPARE(again.losses, full.losses);

        for (const bool midEpoch : {false, true}) {
            auto part = train(makeConfig(), [midEpoch, spe](const std::string& k, std::int64_t step, double v) {
                return midEpoch ? (k == "loss" && step == spe + 1) : (k == "epoch" && v == 1);
            });
            QVERIFY(part.cancelled);
            const auto last = lastRun(ws_) / "checkpoints" / "last.pt";
            QVERIFY(fs::exists(last));
            const auto resumed = train(makeConfig("resume: " + last.string() + "\n"));
            QVERIFY(!resumed.cancelled);
            std::vector<double> joined = part.losses;
            joined.insert(joined.end(), resumed.losses.begin(), resumed.losses.end());
            QCOMPARE(joined, full.losses);
        }
    }
};

QTEST_GUILESS_MAIN(TestRoiResume)
#include "test_roi_resume.moc"
