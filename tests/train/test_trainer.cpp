// The task-independent Trainer on a tiny synthetic conv model: schedule, metric keys,
// checkpoints, determinism, exact resume (after an epoch and mid-epoch), refusal of another
// model's checkpoint, freezing, early stopping, bf16, an 8-step run against PyTorch, and
// what must not be lost: non-finite steps (stop or skip, never a non-finite checkpoint), the
// best checkpoint across a resume, keep_checkpoints retention.
#include <ATen/autocast_mode.h>
#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include "train/task_steps.h"
#include "train/trainer.h"
#include "train/cpu_allocator.h"

#include "config/config.h"
#include "config/schema.h"
#include "config/seed.h"
#include "io/npy_writer.h"
#include "jobs/job.h"

#include "../metrics/python_reference.h"
#include "test_support.h"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <fstream>
#include <mutex>

using namespace lumen;

namespace {

struct TinyNetImpl : torch::nn::Module {
    torch::nn::Sequential backbone{nullptr};
    torch::nn::Linear head{nullptr};
    double dropout;
    explicit TinyNetImpl(double p) : dropout(p) {
        backbone = register_module(
            "backbone",
            torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).padding(1)), torch::nn::ReLU(),
                                  torch::nn::AdaptiveAvgPool2d(1), torch::nn::Flatten()));
        head = register_module("head", torch::nn::Linear(4, 3));
    }
    torch::Tensor forward(const torch::Tensor& x) {
        return head(torch::dropout(backbone->forward(x), dropout, is_training()));
    }
};
TORCH_MODULE(TinyNet);

struct SyntheticTask : train::TrainableTask {
    TinyNet net{nullptr};
    torch::Tensor x, y, vx, vy;
    int batch = 4;
    bool shuffle = true;
    std::uint64_t seed;
    std::vector<std::int64_t> order;
    std::size_t pos = 0;
    bool constantMetric = false;
    int nanLossAtCall = -1;  ///< test hook: this loss() call (0-based) returns NaN
    int lossCalls = 0;
    bool poisonWeightsInValidate = false;  ///< test hook: validate() makes head.weight NaN

    SyntheticTask(std::uint64_t s, int samples = 28, double dropout = 0.1) : seed(s) {
        auto gen = at::detail::createCPUGenerator(1234);
        x = at::randn({samples, 3, 8, 8}, gen);
        y = (at::randn({samples, 3}, gen) > 0).to(torch::kFloat);
        vx = at::randn({8, 3, 8, 8}, gen);
        vy = (at::randn({8, 3}, gen) > 0).to(torch::kFloat);
        config::seedEverything(seed);
        net = TinyNet(dropout);
    }
    std::shared_ptr<torch::nn::Module> model() override { return net.ptr(); }
    std::map<std::string, std::vector<torch::Tensor>> parameterGroups() override {
        return {{"backbone", net->backbone->parameters()}, {"head", net->head->parameters()}};
    }
    std::int64_t batchesPerEpoch() override { return (x.size(0) + batch - 1) / batch; }
    void startEpoch(std::int64_t epoch, std::int64_t firstBatch) override {
        order.resize(static_cast<std::size_t>(x.size(0)));
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
        if (shuffle) {
            std::mt19937_64 rng(seed * 1000003 + static_cast<std::uint64_t>(epoch));
            for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
        }
        pos = static_cast<std::size_t>(firstBatch * batch);
    }
    std::optional<train::TensorBatch> nextBatch() override {
        if (pos >= order.size()) return std::nullopt;
        const std::size_t end = std::min(order.size(), pos + batch);
        auto idx = torch::tensor(std::vector<std::int64_t>(order.begin() + pos, order.begin() + end));
        pos = end;
        return train::TensorBatch{x.index_select(0, idx), y.index_select(0, idx), {}};
    }
    static train::LossOutput lossOf(const torch::Tensor& logits, const torch::Tensor& t) {
        auto bce = torch::binary_cross_entropy_with_logits(logits.to(torch::kFloat), t);
        auto reg = logits.to(torch::kFloat).pow(2).mean();
        return {bce + 0.1 * reg, {{"bce", bce.detach()}, {"reg", reg.detach()}}};
    }
    train::LossOutput loss(const train::TensorBatch& b) override {
        auto out = lossOf(net->forward(b.inputs), b.targets);
        if (lossCalls++ == nanLossAtCall) out.total = out.total * std::numeric_limits<double>::quiet_NaN();
        return out;
    }
    std::map<std::string, double> validate(const std::function<torch::Tensor(const torch::Tensor&)>& prepare) override {
        if (poisonWeightsInValidate) {
            torch::NoGradGuard guard;
            net->head->weight.fill_(std::numeric_limits<double>::quiet_NaN());
        }
        if (constantMetric) return {{"loss", 1.0}};
        return {{"loss", lossOf(net->forward(prepare(vx)), vy).total.item<double>()}};
    }
};

/// Records metrics; cancels the job when `cancelWhen` says so.
struct Recorder : jobs::JobObserver {
    std::mutex m;
    std::vector<std::tuple<std::string, std::int64_t, double>> metrics;
    std::function<bool(const std::string&, std::int64_t, double)> cancelWhen;
    jobs::CancellationToken token;
    void onMetric(jobs::JobId, const std::string& k, std::int64_t step, double v) override {
        std::lock_guard lock(m);
        metrics.emplace_back(k, step, v);
        if (cancelWhen && cancelWhen(k, step, v)) token.cancel();
    }
    std::vector<double> values(const std::string& key) {
        std::vector<double> out;
        for (auto& [k, s, v] : metrics)
            if (k == key) out.push_back(v);
        return out;
    }
    bool hasKey(const std::string& key) { return !values(key).empty(); }
};

train::TrainerOptions baseOptions(const QTemporaryDir& dir, const std::string& sub = "ckpt") {
    train::TrainerOptions o;
    o.taskId = "synthetic";
    o.epochs = 3;
    o.accumulationSteps = 2;
    o.lr = 0.05;
    o.weightDecay = 0.01;
    o.warmupSteps = 2;
    o.maxGradNorm = 0.05;
    o.emaDecay = 0.9;
    o.seed = 7;
    o.threads = 2;
    o.checkpointDir = dir.filePath(QString::fromStdString(sub)).toStdString();
    o.configYaml = "task: synthetic\nmodel: {width: 4}\nepochs: 3\n";
    o.configHash = "hash-a";
    o.modelKeys = {"model.width"};
    return o;
}

struct RunOutcome {
    train::TrainResult result;
    std::shared_ptr<Recorder> rec;
    bool cancelled = false;
    std::vector<torch::Tensor> weights;
};

RunOutcome runOnce(train::TrainerOptions o, std::uint64_t seed = 7,
                   std::function<bool(const std::string&, std::int64_t, double)> cancelWhen = {},
                   std::function<void(SyntheticTask&)> tweak = {}) {
    SyntheticTask task(seed);
    if (tweak) tweak(task);
    RunOutcome out;
    out.rec = std::make_shared<Recorder>();
    out.rec->cancelWhen = std::move(cancelWhen);
    jobs::JobContext job(1, out.rec->token, out.rec);
    train::Trainer trainer(o, task, job);
    try {
        out.result = trainer.run();
    } catch (const jobs::Cancelled&) {
        out.cancelled = true;
    }
    for (auto& p : task.net->parameters()) out.weights.push_back(p.detach().clone());
    return out;
}

bool allFinite(const std::vector<torch::Tensor>& weights) {
    for (const auto& w : weights)
        if (!torch::isfinite(w).all().item<bool>()) return false;
    return true;
}

/// Runs a trainer that must throw NonFiniteError; returns it (or fails the test).
std::optional<train::NonFiniteError> nonFiniteErrorOf(const train::TrainerOptions& o, SyntheticTask& task,
                                                      const std::shared_ptr<Recorder>& rec) {
    jobs::JobContext job(1, rec->token, rec);
    train::Trainer trainer(o, task, job);
    try {
        trainer.run();
    } catch (const train::NonFiniteError& e) {
        return e;
    }
    return std::nullopt;
}

bool sameWeights(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!torch::equal(a[i], b[i])) return false;
    return true;
}

}  // namespace

class TestTrainer : public QObject {
    Q_OBJECT

private slots:
    // The caching CPU allocator: large blocks come back from the cache, values are right,
    // small and raw allocations still work, and releasing empties the cache.
    void cachingCpuAllocatorReusesBlocks() {
        using namespace lumen::train;
        installCachingCpuAllocator();
        installCachingCpuAllocator();  // idempotent
        QVERIFY(cachingCpuAllocatorInstalled());
        releaseCachedCpuMemory();
        const auto before = cpuCacheStats();
        QCOMPARE(before.cachedBytes, std::size_t(0));
        {
            torch::Tensor a = torch::arange(1 << 20, torch::kFloat);  // 4 MiB: large
            QCOMPARE(cpuCacheStats().allocations, before.allocations + 1);
            QCOMPARE(cpuCacheStats().liveBytes, before.liveBytes + (std::size_t(4) << 20));
            QCOMPARE(a.sum().item<double>(), double(1 << 20) * ((1 << 20) - 1) / 2);
        }
        QCOMPARE(cpuCacheStats().cachedBytes, std::size_t(4) << 20);  // kept, not freed
        {
            // Same size class (4 MiB - 100 floats rounds up to 4 MiB): the cached block.
            torch::Tensor b = torch::full({(1 << 20) - 100}, 2.0f);
            QCOMPARE(cpuCacheStats().reused, before.reused + 1);
            QCOMPARE(cpuCacheStats().cachedBytes, std::size_t(0));
            QCOMPARE(b.sum().item<double>(), 2.0 * ((1 << 20) - 100));
            torch::Tensor small = torch::ones({100});  // 400 B: LibTorch's default allocator
            QCOMPARE(cpuCacheStats().allocations, before.allocations + 2);
            QCOMPARE(small.sum().item<float>(), 100.0f);
        }
        // raw_allocate/raw_deallocate pair through raw_deleter, small and large.
        c10::Allocator* alloc = c10::GetCPUAllocator();
        for (std::size_t n : {std::size_t(64), std::size_t(3) << 20}) {
            void* p = alloc->raw_allocate(n);
            QVERIFY(p != nullptr);
            std::memset(p, 1, n);
            alloc->raw_deallocate(p);
        }
        // A training-shaped loop: after the first iteration nearly everything is reused.
        const auto loopStart = cpuCacheStats();
        for (int i = 0; i < 5; ++i) {
            torch::Tensor x = torch::randn({16, 64, 32, 32});
            torch::Tensor y = torch::relu(x * 2 + 1).sum();
            QVERIFY(std::isfinite(y.item<double>()));
        }
        const auto loopEnd = cpuCacheStats();
        QVERIFY(loopEnd.allocations - loopStart.allocations >= 15);
        QVERIFY2(loopEnd.reused - loopStart.reused >= (loopEnd.allocations - loopStart.allocations) * 3 / 4,
                 qPrintable(QString("%1 of %2 reused")
                                .arg(loopEnd.reused - loopStart.reused)
                                .arg(loopEnd.allocations - loopStart.allocations)));
        QVERIFY(cpuCacheStats().cachedBytes > 0);
        releaseCachedCpuMemory();
        QCOMPARE(cpuCacheStats().cachedBytes, std::size_t(0));
        QVERIFY(cpuCacheStats().peakBytes >= (std::size_t(4) << 20));
    }

    void schedule() {
        QCOMPARE(train::cosineWarmupLr(1.0, 0, 10, 2), 0.5);
        QCOMPARE(train::cosineWarmupLr(1.0, 1, 10, 2), 1.0);
        QCOMPARE(train::cosineWarmupLr(1.0, 2, 10, 2), 1.0);
        QVERIFY(std::abs(train::cosineWarmupLr(1.0, 6, 10, 2) - 0.5) < 1e-12);
        QVERIFY(train::cosineWarmupLr(1.0, 9, 10, 2) < 0.05);
        QVERIFY(std::abs(train::cosineWarmupLr(2.0, 10, 10, 0, 0.1) - 0.2) < 1e-12);
    }

    void checkpointName() {
        QCOMPARE(train::checkpointName("roi_consistency", 3, "auroc_macro", 0.712345, 42),
                 std::string("roi_consistency_epoch003_auroc_macro0.7123_seed42.pt"));
    }

    void metricsCheckpointsAndDeterminism() {
        QTemporaryDir dir;
        auto a = runOnce(baseOptions(dir, "a"));
        auto b = runOnce(baseOptions(dir, "b"));
        // 28 samples / batch 4 = 7 micro-batches -> groups of 2,2,2,1 -> 4 steps per epoch.
        QCOMPARE(a.result.steps, std::int64_t(12));
        QCOMPARE(a.result.stepLosses.size(), std::size_t(12));
        QCOMPARE(a.result.stepLosses, b.result.stepLosses);
        QVERIFY(sameWeights(a.weights, b.weights));
        auto c = runOnce(baseOptions(dir, "c"), 8);
        QVERIFY(c.result.stepLosses != a.result.stepLosses);

        for (const char* key : {"loss", "loss.bce", "loss.reg", "lr", "grad_norm", "grad_norm.backbone",
                                "grad_norm.head", "samples_per_s", "val.loss", "epoch"})
            QVERIFY2(a.rec->hasKey(key), key);
        QCOMPARE(a.rec->values("epoch"), (std::vector<double>{1, 2, 3}));
        QCOMPARE(a.rec->values("loss").size(), std::size_t(12));
        const auto lrs = a.rec->values("lr");
        QCOMPARE(lrs[0], 0.025);  // warm-up 1/2 of 0.05
        QCOMPARE(lrs[1], 0.05);
        QVERIFY(lrs[11] < lrs[5]);
        // Clipping to 0.05 happened but the reported norm is the one before clipping.
        bool anyAbove = false;
        for (double g : a.rec->values("grad_norm")) anyAbove |= g > 0.05;
        QVERIFY(anyAbove);

        const auto ckpt = std::filesystem::path(dir.filePath("a").toStdString());
        QVERIFY(std::filesystem::exists(ckpt / "last.pt"));
        int named = 0;
        for (const auto& e : std::filesystem::directory_iterator(ckpt)) {
            const auto n = e.path().filename().string();
            if (n == "last.pt") continue;
            QVERIFY2(n.rfind("synthetic_epoch00", 0) == 0 && n.find("_loss") != std::string::npos && n.size() > 9 &&
                         n.substr(n.size() - 9) == "_seed7.pt",
                     n.c_str());
            ++named;
        }
        QCOMPARE(named, 3);
        const auto info = train::readCheckpointInfo(ckpt / "last.pt");
        QCOMPARE(info.epoch, std::int64_t(3));
        QCOMPARE(info.step, std::int64_t(12));
        QCOMPARE(info.seed, std::uint64_t(7));
        QCOMPARE(info.configHash, std::string("hash-a"));
        QCOMPARE(info.taskId, std::string("synthetic"));
        QVERIFY(info.taskMeta.empty());  // the task stored nothing beside the weights

        // What a task stores beside the weights (angio_multiview: its labelled columns) reads back.
        auto withMeta = baseOptions(dir, "meta");
        withMeta.epochs = 1;
        withMeta.taskMeta = R"({"labelled_columns":["a_stenosis"]})";
        runOnce(withMeta);
        QCOMPARE(
            train::readCheckpointInfo(std::filesystem::path(dir.filePath("meta").toStdString()) / "last.pt").taskMeta,
            withMeta.taskMeta);

        // The EMA weights are in the checkpoint and reproduce the last validation loss.
        SyntheticTask probe(99);
        train::loadModelWeights(*probe.net, ckpt / "last.pt");
        probe.net->eval();
        torch::NoGradGuard guard;
        const double v = probe.validate([](const torch::Tensor& t) { return t; }).at("loss");
        QCOMPARE(v, a.result.lastValidation.at("loss"));
    }

    void resumeAfterEpochIsExact() {
        QTemporaryDir dir;
        auto full = runOnce(baseOptions(dir, "full"));
        // Cancel once epoch 1 has been reported: the trainer saves last.pt at (epoch 1, batch 0).
        auto first = runOnce(baseOptions(dir, "part"), 7,
                             [](const std::string& k, std::int64_t, double v) { return k == "epoch" && v == 1; });
        QVERIFY(first.cancelled);
        const auto last = std::filesystem::path(dir.filePath("part").toStdString()) / "last.pt";
        QCOMPARE(train::readCheckpointInfo(last).epoch, std::int64_t(1));
        auto o = baseOptions(dir, "part");
        o.resumeFrom = last;
        auto second = runOnce(o, 7);
        QVERIFY(!second.cancelled);
        std::vector<double> joined = first.rec->values("loss");
        for (double l : second.result.stepLosses) joined.push_back(l);
        QCOMPARE(joined, full.result.stepLosses);
        QVERIFY(sameWeights(second.weights, full.weights));
        QCOMPARE(second.result.lastValidation.at("loss"), full.result.lastValidation.at("loss"));
    }

    void resumeMidEpochIsExact() {
        QTemporaryDir dir;
        auto full = runOnce(baseOptions(dir, "full"));
        // Cancel after optimizer step 6 (inside epoch 2).
        auto first = runOnce(baseOptions(dir, "part"), 7,
                             [](const std::string& k, std::int64_t s, double) { return k == "loss" && s == 6; });
        QVERIFY(first.cancelled);
        const auto last = std::filesystem::path(dir.filePath("part").toStdString()) / "last.pt";
        const auto info = train::readCheckpointInfo(last);
        QCOMPARE(info.step, std::int64_t(6));
        QCOMPARE(info.epoch, std::int64_t(1));
        QCOMPARE(info.batchInEpoch, std::int64_t(4));
        auto o = baseOptions(dir, "part");
        o.resumeFrom = last;
        auto second = runOnce(o, 7);
        std::vector<double> joined = first.rec->values("loss");
        for (double l : second.result.stepLosses) joined.push_back(l);
        QCOMPARE(joined, full.result.stepLosses);
        QVERIFY(sameWeights(second.weights, full.weights));
    }

    void refusesAnotherModelsCheckpoint() {
        QTemporaryDir dir;
        auto o = baseOptions(dir, "a");
        o.epochs = 1;
        runOnce(o);
        auto other = baseOptions(dir, "b");
        other.resumeFrom = std::filesystem::path(dir.filePath("a").toStdString()) / "last.pt";
        other.configYaml = "task: synthetic\nmodel: {width: 8}\nepochs: 3\n";
        SyntheticTask task(7);
        auto rec = std::make_shared<Recorder>();
        jobs::JobContext job(1, rec->token, rec);
        train::Trainer trainer(other, task, job);
        try {
            trainer.run();
            QFAIL("resumed from another model's checkpoint");
        } catch (const train::CheckpointError& e) {
            const std::string what = e.what();
            QVERIFY2(what.find("model.width") != std::string::npos && what.find("last.pt") != std::string::npos,
                     e.what());
        }
        // A missing file is a clear error too.
        other.resumeFrom = "/nonexistent/last.pt";
        train::Trainer t2(other, task, job);
        QVERIFY_THROWS_EXCEPTION(train::CheckpointError, t2.run());
    }

    // The task kit's inference preamble: a checkpoint of another task is refused naming the
    // file and both tasks; the checkpoint's model-shaping keys win over the request's (with a
    // warning); infer.out_dir resolves in the workspace and is created.
    void inferencePreambleChecksTheTask() {
        QTemporaryDir dir;
        auto o = baseOptions(dir, "a");
        o.epochs = 1;
        runOnce(o);
        const std::filesystem::path ws = dir.path().toStdString();
        const auto ckpt = ws / "a" / "last.pt";
        const config::Config request(
            config::parseYaml("task: synthetic\nmodel: {width: 8}\nthreads: 1\n"
                              "precision: fp32\ninfer: {checkpoint: a/last.pt, out_dir: out/x}\n"));
        auto rec = std::make_shared<Recorder>();
        jobs::JobContext job(1, rec->token, rec);
        const plugin::RunContext where{ws, ws / "runs" / "1", nullptr, 1};
        const auto setup = train::prepareInference(request, where, job, "synthetic", {"model.width"});
        QCOMPARE(setup.checkpoint, ckpt);
        QCOMPARE(setup.config.get<int>("model.width"), 4);  // the checkpoint's
        QCOMPARE(setup.outDir, ws / "out" / "x");
        QVERIFY(std::filesystem::is_directory(setup.outDir));
        QCOMPARE(setup.info.taskId, std::string("synthetic"));
        try {
            train::prepareInference(request, where, job, "ct_multilabel", {"model.width"});
            QFAIL("accepted another task's checkpoint");
        } catch (const train::CheckpointError& e) {
            QCOMPARE(std::string(e.what()), ckpt.string() + ": a checkpoint of task \"synthetic\", not ct_multilabel");
        }
        const config::Config none(config::parseYaml("task: synthetic\ninfer: {checkpoint: \"\"}\n"));
        QVERIFY_THROWS_EXCEPTION(config::ConfigError, train::prepareInference(none, where, job, "synthetic", {}));
    }

    // A checkpoint with 8 bytes changed in its weights, or cut in half, is refused naming the
    // file (before checkpoints were sealed, the changed one loaded silently).
    void damagedCheckpointsAreRefused() {
        QTemporaryDir dir;
        auto o = baseOptions(dir, "a");
        o.epochs = 1;
        runOnce(o);
        const auto last = std::filesystem::path(dir.filePath("a").toStdString()) / "last.pt";
        const std::string bytes = readTextFile(last);
        QVERIFY(bytes.size() > 1000);
        for (const std::string kind : {"changed", "truncated"}) {
            std::string broken = bytes;
            if (kind == "changed")
                for (std::size_t i = 0; i < 8; ++i) broken[broken.size() / 3 + i] ^= 0x5a;
            else broken.resize(broken.size() / 2);
            const auto file = std::filesystem::path(dir.path().toStdString()) / (kind + ".pt");
            std::ofstream(file, std::ios::binary) << broken;
            const std::string what = errorOf<train::CheckpointError>([&] { train::readCheckpointInfo(file); });
            QVERIFY2(what.find(file.string()) == 0, what.c_str());
            QVERIFY2(what.find("damaged") != std::string::npos, what.c_str());
            auto r = baseOptions(dir, "b");
            r.resumeFrom = file;
            SyntheticTask task(7);
            auto rec = std::make_shared<Recorder>();
            jobs::JobContext job(1, rec->token, rec);
            train::Trainer trainer(r, task, job);
            QVERIFY_THROWS_EXCEPTION(train::CheckpointError, trainer.run());
        }
        QCOMPARE(train::readCheckpointInfo(last).epoch, std::int64_t(1));  // the intact one loads
    }

    void freezeSchedule() {
        QTemporaryDir dir;
        auto o = baseOptions(dir);
        o.epochs = 2;
        o.freezeEpochs = 1;
        o.emaDecay = 0;
        o.weightDecay = 0.1;
        std::vector<torch::Tensor> before, afterEpoch1;
        auto rec = runOnce(o, 7, [](const std::string& k, std::int64_t, double v) { return k == "epoch" && v == 1; });
        SyntheticTask fresh(7);
        for (auto& p : fresh.net->backbone->parameters()) before.push_back(p.detach().clone());
        // Backbone weights after the frozen epoch equal the initial ones (no weight decay
        // either); the head moved.
        for (std::size_t i = 0; i < 2; ++i) QVERIFY(torch::equal(rec.weights[i], before[i]));
        QVERIFY(!torch::equal(rec.weights[2], fresh.net->head->weight));
        QVERIFY(!rec.rec->hasKey("grad_norm.backbone"));
        auto full = runOnce(o);
        QVERIFY(full.rec->hasKey("grad_norm.backbone"));
        QCOMPARE(full.rec->values("grad_norm.backbone").size(), std::size_t(4));  // epoch 2 only
        QVERIFY(!torch::equal(full.weights[0], before[0]));
    }

    // A NaN loss stops the run before the optimizer step, naming epoch and step; the
    // checkpoints keep the last finite weights and the NaN loss is reported as a metric.
    void nonFiniteLossStopsTheRun() {
        QTemporaryDir dir;
        auto o = baseOptions(dir, "nan");
        SyntheticTask task(7);
        task.nanLossAtCall = 8;  // epoch 2's first group (micro-batches 1-2): step 5
        auto rec = std::make_shared<Recorder>();
        const auto error = nonFiniteErrorOf(o, task, rec);
        QVERIFY2(error, "no NonFiniteError");
        const std::string what = error->what();
        QVERIFY2(what.find("epoch 2, step 5") != std::string::npos && what.find("nan") != std::string::npos &&
                     what.find("train.skip_nonfinite_steps") != std::string::npos,
                 what.c_str());
        QCOMPARE(error->epoch, std::int64_t(2));
        QCOMPARE(error->step, std::int64_t(5));
        const auto losses = rec->values("loss");
        QCOMPARE(losses.size(), std::size_t(5));
        QVERIFY(std::isnan(losses.back()));
        std::vector<torch::Tensor> weights;
        for (auto& p : task.net->parameters()) weights.push_back(p.detach().clone());
        QVERIFY(allFinite(weights));
        const auto last = std::filesystem::path(o.checkpointDir) / "last.pt";
        QCOMPARE(train::readCheckpointInfo(last).epoch, std::int64_t(1));
        SyntheticTask probe(99);
        train::loadModelWeights(*probe.net, last, false);
        QVERIFY(allFinite(probe.net->parameters()));
    }

    // train.skip_nonfinite_steps: the NaN step is dropped and counted, the run goes on.
    void nonFiniteStepSkippedWhenAsked() {
        QTemporaryDir dir;
        auto o = baseOptions(dir, "skip");
        o.skipNonfiniteSteps = true;
        auto r = runOnce(o, 7, {}, [](SyntheticTask& t) { t.nanLossAtCall = 8; });
        QCOMPARE(r.result.skippedSteps, std::int64_t(1));
        QCOMPARE(r.result.steps, std::int64_t(11));
        QCOMPARE(r.result.epochsDone, std::int64_t(3));
        for (double l : r.result.stepLosses) QVERIFY(std::isfinite(l));
        QVERIFY(allFinite(r.weights));
        QCOMPARE(r.rec->values("skipped_steps"), std::vector<double>{1.0});
    }

    // Weights that turned non-finite are never written: no last.pt, no epoch checkpoint.
    void neverWritesNonFiniteWeights() {
        QTemporaryDir dir;
        auto o = baseOptions(dir, "poison");
        o.epochs = 1;
        o.emaDecay = 0;
        SyntheticTask task(7);
        task.poisonWeightsInValidate = true;
        auto rec = std::make_shared<Recorder>();
        const auto error = nonFiniteErrorOf(o, task, rec);
        QVERIFY2(error, "no NonFiniteError");
        const std::string what = error->what();
        QVERIFY2(what.find("head.weight") != std::string::npos && what.find("epoch 1") != std::string::npos,
                 what.c_str());
        QCOMPARE(namesIn(o.checkpointDir), std::vector<std::string>{});
    }

    // A resumed run that never improves keeps the best checkpoint of before the resume.
    void resumeKeepsTheBestCheckpoint() {
        QTemporaryDir dir;
        const auto constant = [](SyntheticTask& t) { t.constantMetric = true; };
        auto first = runOnce(
            baseOptions(dir, "part"), 7,
            [](const std::string& k, std::int64_t, double v) { return k == "epoch" && v == 1; }, constant);
        QVERIFY(first.cancelled);
        const auto partDir = std::filesystem::path(dir.filePath("part").toStdString());
        const auto best = partDir / "synthetic_epoch001_loss1.0000_seed7.pt";
        QVERIFY(std::filesystem::exists(best));
        auto o = baseOptions(dir, "resumed");  // a new run's folder, as lumen-cli train --resume
        o.resumeFrom = partDir / "last.pt";
        auto second = runOnce(o, 7, {}, constant);
        QCOMPARE(second.result.epochsDone, std::int64_t(3));
        QCOMPARE(second.result.bestCheckpoint.string(), best.string());
        // And once more from the resumed run's last.pt.
        o = baseOptions(dir, "again");
        o.epochs = 4;
        o.resumeFrom = std::filesystem::path(dir.filePath("resumed").toStdString()) / "last.pt";
        QCOMPARE(runOnce(o, 7, {}, constant).result.bestCheckpoint.string(), best.string());
    }

    // keep_checkpoints 1: the newest epoch checkpoint, the best and last.pt stay.
    void keepCheckpointsRetention() {
        QTemporaryDir dir;
        auto o = baseOptions(dir, "keep");
        o.epochs = 4;
        o.keepCheckpoints = 1;
        auto r = runOnce(o, 7, {}, [](SyntheticTask& t) { t.constantMetric = true; });
        QCOMPARE(r.result.epochsDone, std::int64_t(4));
        QCOMPARE(namesIn(o.checkpointDir),
                 (std::vector<std::string>{"last.pt", "synthetic_epoch001_loss1.0000_seed7.pt",
                                           "synthetic_epoch004_loss1.0000_seed7.pt"}));
        QCOMPARE(r.result.bestCheckpoint.filename().string(), std::string("synthetic_epoch001_loss1.0000_seed7.pt"));
        // The default keeps every epoch.
        auto all = runOnce(baseOptions(dir, "all"), 7, {}, [](SyntheticTask& t) { t.constantMetric = true; });
        QCOMPARE(namesIn(std::filesystem::path(dir.filePath("all").toStdString())).size(), std::size_t(4));
    }

    // The new common keys reach the trainer; their defaults keep today's behaviour.
    void nothingLostKeysFromConfig() {
        const auto& schema = config::commonSchema();
        auto o = train::TrainerOptions::fromConfig(config::makeConfig(YAML::Load("task: t\n"), schema), "t");
        QCOMPARE(o.keepCheckpoints, std::int64_t(0));
        QVERIFY(!o.skipNonfiniteSteps);
        o = train::TrainerOptions::fromConfig(
            config::makeConfig(YAML::Load("task: t\nkeep_checkpoints: 2\ntrain:\n  skip_nonfinite_steps: true\n"),
                               schema),
            "t");
        QCOMPARE(o.keepCheckpoints, std::int64_t(2));
        QVERIFY(o.skipNonfiniteSteps);
        QVERIFY_THROWS_EXCEPTION(config::ConfigError,
                                 config::makeConfig(YAML::Load("task: t\nkeep_checkpoints: -1\n"), schema));
    }

    void earlyStopping() {
        QTemporaryDir dir;
        auto o = baseOptions(dir);
        o.epochs = 5;
        o.earlyStoppingPatience = 2;
        auto r = runOnce(o, 7, {}, [](SyntheticTask& t) { t.constantMetric = true; });
        QVERIFY(r.result.stoppedEarly);
        QCOMPARE(r.result.epochsDone, std::int64_t(3));
    }

    void bf16Autocast() {
        QTemporaryDir dir;
        auto o = baseOptions(dir);
        o.epochs = 1;
        o.bf16 = true;
        o.channelsLast = true;
        auto r = runOnce(o);
        QCOMPARE(r.result.usedBf16, train::cpuSupportsBf16());
        for (double l : r.result.stepLosses) QVERIFY(std::isfinite(l));
        // Autocast is off again after the run.
        QVERIFY(!at::autocast::is_cpu_enabled());
    }

    void matchesPyTorchReference() {
        // 8 optimizer steps (16 micro-batches, accumulation 2), fp32, no dropout, fixed order:
        // the same AdamW + cosine warm-up + clipping + EMA in Python PyTorch 1.13 from the
        // same initial weights and batches.
        QTemporaryDir dir;
        auto o = baseOptions(dir);
        o.epochs = 1;
        o.warmupSteps = 3;
        o.checkpointDir.clear();
        SyntheticTask task(7, 64, 0.0);
        task.shuffle = false;
        const auto write = [&](const std::string& name, const torch::Tensor& t) {
            auto c = t.contiguous().to(torch::kFloat);
            std::vector<std::size_t> shape(c.sizes().begin(), c.sizes().end());
            const std::string bytes = io::npyBytes(c.data_ptr<float>(), c.numel() * 4, "<f4", shape);
            std::ofstream(dir.filePath(QString::fromStdString(name + ".npy")).toStdString(), std::ios::binary) << bytes;
        };
        nlohmann::json names = nlohmann::json::array();
        for (const auto& p : task.net->named_parameters()) {
            write("param_" + p.key(), p.value().detach());
            names.push_back(p.key());
        }
        write("x", task.x);
        write("y", task.y);
        write("vx", task.vx);
        write("vy", task.vy);
        auto rec = std::make_shared<Recorder>();
        jobs::JobContext job(1, rec->token, rec);
        train::Trainer trainer(o, task, job);
        const auto r = trainer.run();
        QCOMPARE(r.stepLosses.size(), std::size_t(8));

        const std::string script = R"PY(
import torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
d = inp['dir']
ld = lambda n: torch.from_numpy(np.load(d + '/' + n + '.npy'))
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 3)
    def forward(self, x): return self.head(self.backbone(x))
net = Net()
net.load_state_dict({n: ld('param_' + n) for n in inp['names']})
x, y, vx, vy = ld('x'), ld('y'), ld('vx'), ld('vy')
def loss_of(logits, t):
    return F.binary_cross_entropy_with_logits(logits, t) + 0.1 * logits.pow(2).mean()
params = list(net.parameters())
opt = torch.optim.AdamW([{'params': [p for p in params if p.dim() >= 2], 'weight_decay': inp['wd']},
                         {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0}],
                        lr=inp['lr'], betas=(0.9, 0.999), eps=1e-8)
ema = [t.detach().clone() for t in list(net.parameters()) + list(net.buffers())]
accum, bs, total, warm = 2, 4, 8, inp['warmup']
def lr_at(s):
    if s < warm: return inp['lr'] * (s + 1) / warm
    t = min(max((s - warm) / max(1, total - warm), 0.0), 1.0)
    return inp['lr'] * 0.5 * (1 + math.cos(math.pi * t))
losses = []
net.train()
for s in range(total):
    opt.zero_grad(set_to_none=True)
    tot = 0.0
    for i in range(accum):
        b = (s * accum + i) * bs
        l = loss_of(net(x[b:b + bs]), y[b:b + bs])
        (l / accum).backward()
        tot += l.item()
    torch.nn.utils.clip_grad_norm_(net.parameters(), inp['clip'])
    for g in opt.param_groups: g['lr'] = lr_at(s)
    opt.step()
    with torch.no_grad():
        for e, t in zip(ema, list(net.parameters()) + list(net.buffers())):
            e.mul_(inp['ema']).add_(t, alpha=1 - inp['ema'])
    losses.append(tot / accum)
with torch.no_grad():
    for e, t in zip(ema, list(net.parameters()) + list(net.buffers())): t.copy_(e)
    net.eval()
    result['val'] = loss_of(net(vx), vy).item()
result['losses'] = losses
)PY";
        const auto ref = testing::runPythonReference(script, {{"dir", dir.path().toStdString()},
                                                              {"names", names},
                                                              {"lr", o.lr},
                                                              {"wd", o.weightDecay},
                                                              {"warmup", o.warmupSteps},
                                                              {"clip", o.maxGradNorm},
                                                              {"ema", o.emaDecay}});
        const auto losses = ref.at("losses").get<std::vector<double>>();
        QCOMPARE(losses.size(), std::size_t(8));
        double worst = 0;
        for (std::size_t i = 0; i < 8; ++i) worst = std::max(worst, std::abs(losses[i] - r.stepLosses[i]));
        qInfo("largest per-step loss difference vs PyTorch: %.3g (val %.6f vs %.6f)", worst,
              r.lastValidation.at("loss"), ref.at("val").get<double>());
        QVERIFY2(worst < 1e-4, std::to_string(worst).c_str());
        QVERIFY(std::abs(r.lastValidation.at("loss") - ref.at("val").get<double>()) < 1e-4);
        // The losses moved: the comparison is not between two untrained models.
        QVERIFY(std::abs(r.stepLosses.front() - r.stepLosses.back()) > 1e-3);
    }
};

QTEST_GUILESS_MAIN(TestTrainer)
#include "test_trainer.moc"
