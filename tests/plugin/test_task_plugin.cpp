// A small task plugin built by the tests: proves load, refuse (wrong interface version,
// duplicate id, missing entry points) and unload. Its task echoes a config value into a
// predictions CSV.
#include "jobs/job.h"
#include "plugin/plugin_loader.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <thread>

#ifndef LUMEN_TEST_TASK_ID
#define LUMEN_TEST_TASK_ID "test_echo"
#endif

namespace {

// Deterministic noise in [-1, 1] from (seed, component, step).
double noise(std::uint64_t seed, std::uint64_t k, std::uint64_t i) {
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (k + 1) * 0xBF58476D1CE4E5B9ull ^ (i + 7) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 29;
    return double(x % 2000001) / 1000000.0 - 1.0;
}

void reportTrainingLike(lumen::jobs::JobContext& job, const lumen::config::Config& config,
                        const std::vector<std::string>& components, int i, int rows) {
    const auto seed = std::uint64_t(config.get<long long>("seed"));
    const double t = double(i) / std::max(1, rows - 1);
    double total = 0;
    for (std::size_t k = 0; k < components.size(); ++k) {
        const double scale = 0.9 / double(k + 1);
        const double floor = 0.12 + 0.02 * double(seed % 5) / double(k + 1);
        const double v = scale * (floor + (1 - floor) * std::exp(-t * (3.5 + double(k)))) *
                         (1 + 0.22 * noise(seed, k, std::uint64_t(i)));
        job.metric("loss." + components[k], i, v);
        total += v;
    }
    job.metric("loss", i, total);
    const double peak = config.get<double>("lr");
    const double warm = 0.05;
    const double lr =
        t < warm ? peak * t / warm : peak * 0.5 * (1 + std::cos(3.14159265358979 * (t - warm) / (1 - warm)));
    job.metric("lr", i, lr);
    job.metric("grad_norm", i,
               (0.4 + 2.2 * std::exp(-t * 4)) * (1 + 0.35 * std::abs(noise(seed, 99, std::uint64_t(i)))));
    const int epochRows = config.get<int>("epoch_rows");
    if (epochRows > 0 && (i + 1) % epochRows == 0) {
        const double e = double((i + 1) / epochRows);
        job.metric("val.loss", i, total * (1.08 + 0.04 * noise(seed, 7, std::uint64_t(e))));
        job.metric("val.auroc_macro", i, 0.93 - 0.35 * std::exp(-e / 2.5) + 0.01 * noise(seed, 8, std::uint64_t(e)));
        job.metric("epoch", i, e);
    }
}

class EchoTask : public lumen::plugin::Task {
public:
    std::string id() const override { return LUMEN_TEST_TASK_ID; }
    std::string displayName() const override { return "Echo (test)"; }
    std::string description() const override { return "Writes its config's message to a CSV."; }
    lumen::config::Schema schema() const override {
        lumen::config::Schema s(id());
        s.merge(lumen::config::commonSchema());
        s.addString("message", "hello", "Text written to every row.");
        s.addInt("rows", 3, "Rows to write.", 1, 100000);
        s.addInt("delay_ms", 0, "Pause after each row (lets GUI tests watch a live run).", 0, 10000);
        s.addBool("fail", false, "Throw after the first row (tests the failure path).");
        // Training-like curves for the loss-curve panel (GUI tests and screenshots): with
        // components, `loss` is their sum, each reported as `loss.<name>`, plus a warm-up +
        // cosine `lr`, a `grad_norm` and per-epoch `val.loss` / `val.auroc_macro` / `epoch`.
        s.addStringList("components", {}, "Loss components to report as loss.<name>.");
        s.addInt("epoch_rows", 0, "Rows per epoch for the val.* metrics; 0 = none.", 0);
        s.addString("resume", "", "Checkpoint to continue from; only recorded (tests the Runs panel's resume).");
        return s;
    }
    std::string defaultConfigYaml() const override { return "task: " LUMEN_TEST_TASK_ID "\nmessage: hello\nrows: 3\n"; }
    std::vector<std::string> predictionColumns(const lumen::config::Config&) const override { return {"value"}; }
    lumen::plugin::TaskGuiHints guiHints() const override {
        lumen::plugin::TaskGuiHints hints;
        hints.idColumn = "image";
        hints.panels = {"loss_curves"};
        return hints;
    }
    std::string run(lumen::plugin::Operation, const lumen::config::Config& config,
                    const lumen::plugin::RunContext& where, lumen::jobs::JobContext& job) override {
        const int rows = config.get<int>("rows");
        const auto components = config.get<std::vector<std::string>>("components");
        std::ofstream out(where.runDir / "predictions.csv");
        out << "image,value,message\n";
        for (int i = 0; i < rows; ++i) {
            job.throwIfCancelled();
            out << "img" << i << "," << i * 0.5 << "," << config.get<std::string>("message") << "\n";
            // A fake loss curve, so run recording and the loss-curve panel can be tested
            // without LibTorch.
            if (components.empty()) {
                job.metric("loss", i, 1.0 / (i + 1));
                job.metric("lr", i, 1e-3);
            } else {
                reportTrainingLike(job, config, components, i, rows);
            }
            job.progress(double(i + 1) / rows, "row " + std::to_string(i + 1));
            if (config.get<bool>("fail")) throw std::runtime_error("echo task failed on purpose");
            if (const int ms = config.get<int>("delay_ms"); ms > 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        }
        job.artifact("predictions", (where.runDir / "predictions.csv").string());
        return std::to_string(rows) + " rows";
    }
};

void registerTasks(lumen::plugin::Registry& registry) { registry.add(std::make_shared<EchoTask>(), "test plugin"); }

}  // namespace

#ifdef LUMEN_TEST_WRONG_VERSION
LUMEN_PLUGIN_EXPORT int lumen_plugin_interface_version() { return lumen::plugin::kInterfaceVersion + 100; }
LUMEN_PLUGIN_EXPORT void lumen_plugin_register(lumen::plugin::Registry* r) { registerTasks(*r); }
#elif defined(LUMEN_TEST_NO_ENTRY_POINTS)
LUMEN_PLUGIN_EXPORT int lumen_some_other_symbol() { return 1; }
#else
LUMEN_DECLARE_PLUGIN(registerTasks)
#endif
