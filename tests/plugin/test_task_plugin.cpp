// A small task plugin built by the tests: proves load, refuse (wrong interface version,
// duplicate id, missing entry points) and unload. Its task echoes a config value into a
// predictions CSV.
#include "jobs/job.h"
#include "plugin/plugin_loader.h"

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#ifndef LUMEN_TEST_TASK_ID
#define LUMEN_TEST_TASK_ID "test_echo"
#endif

namespace {

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
        return s;
    }
    std::string defaultConfigYaml() const override {
        return "task: " LUMEN_TEST_TASK_ID "\nmessage: hello\nrows: 3\n";
    }
    std::vector<std::string> predictionColumns(const lumen::config::Config&) const override {
        return {"value"};
    }
    lumen::plugin::TaskGuiHints guiHints() const override {
        lumen::plugin::TaskGuiHints hints;
        hints.idColumn = "image";
        hints.panels = {"loss_curves"};
        return hints;
    }
    std::string run(lumen::plugin::Operation, const lumen::config::Config& config,
                    const lumen::plugin::RunContext& where, lumen::jobs::JobContext& job) override {
        const int rows = config.get<int>("rows");
        std::ofstream out(where.runDir / "predictions.csv");
        out << "image,value,message\n";
        for (int i = 0; i < rows; ++i) {
            job.throwIfCancelled();
            out << "img" << i << "," << i * 0.5 << "," << config.get<std::string>("message") << "\n";
            // A fake loss curve, so run recording and the loss-curve panel can be tested
            // without LibTorch.
            job.metric("loss", i, 1.0 / (i + 1));
            job.metric("lr", i, 1e-3);
            job.progress(double(i + 1) / rows, "row " + std::to_string(i + 1));
            if (config.get<bool>("fail")) throw std::runtime_error("echo task failed on purpose");
            if (const int ms = config.get<int>("delay_ms"); ms > 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        }
        job.artifact("predictions", (where.runDir / "predictions.csv").string());
        return std::to_string(rows) + " rows";
    }
};

void registerTasks(lumen::plugin::Registry& registry) {
    registry.add(std::make_shared<EchoTask>(), "test plugin");
}

}  // namespace

#ifdef LUMEN_TEST_WRONG_VERSION
LUMEN_PLUGIN_EXPORT int lumen_plugin_interface_version() { return lumen::plugin::kInterfaceVersion + 100; }
LUMEN_PLUGIN_EXPORT void lumen_plugin_register(lumen::plugin::Registry* r) { registerTasks(*r); }
#elif defined(LUMEN_TEST_NO_ENTRY_POINTS)
LUMEN_PLUGIN_EXPORT int lumen_some_other_symbol() { return 1; }
#else
LUMEN_DECLARE_PLUGIN(registerTasks)
#endif
