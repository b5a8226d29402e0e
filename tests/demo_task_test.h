#pragma once
// Base of the in-process task suites that train on the demo workspace: the workspace (only the
// parts a suite asks for) in a temporary folder, the task's plugin loaded from the build
// (PLUGIN_FILE, a compile definition of the suite), the committed demo config with optional edits,
// a run through plugin::runTask, and a run's metrics read back from the store.

#include "config/config.h"
#include "demo/demo_workspace.h"
#include "jobs/job.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_runner.h"
#include "runs/run_store.h"
#include "test_support.h"

#include <QObject>
#include <QTemporaryDir>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

class DemoTaskTest : public QObject {
protected:
    /// `task`: the plugin's task id; `config`: the demo config, relative to the source tree.
    DemoTaskTest(std::string task, std::string config) : task_(std::move(task)), config_(std::move(config)) {}

    QTemporaryDir dir_;
    std::filesystem::path ws_;
    lumen::plugin::Registry registry_;
    std::unique_ptr<lumen::plugin::PluginLoader> loader_;

    /// A demo with nothing in it; a suite sets the counts it needs.
    static lumen::demo::DemoOptions emptyDemo() { return lumen::demo::DemoOptions::only(0, 0, 0); }

    /// Writes the workspace and loads the plugin; false when the folder is unusable.
    bool setUpDemo(const lumen::demo::DemoOptions& o) {
        if (!dir_.isValid()) return false;
        ws_ = std::filesystem::path(dir_.path().toStdString()) / "ws";
        lumen::demo::createDemoWorkspace(ws_, o);
        loader_ = std::make_unique<lumen::plugin::PluginLoader>(registry_);
        loader_->load(PLUGIN_FILE);
        return true;
    }

    lumen::config::Config demoConfig(const std::function<void(YAML::Node&)>& edit = {}) {
        auto root = lumen::config::parseYaml(readTextFile(std::filesystem::path(LUMEN_SOURCE_DIR) / config_));
        if (edit) edit(root);
        return lumen::config::makeConfig(root, registry_.require(task_)->schema());
    }

    lumen::plugin::TaskRunResult run(lumen::plugin::Operation op, const lumen::config::Config& c) {
        lumen::jobs::CancellationToken token;
        lumen::jobs::JobContext job(1, token, nullptr);
        lumen::plugin::TaskRunRequest req;
        req.operation = op;
        req.config = c;
        req.workspace = ws_;
        return lumen::plugin::runTask(*registry_.require(task_), req, job);
    }

    /// Every metric of run `run`: key -> values in step order.
    std::map<std::string, std::vector<double>> metricsOf(std::int64_t run) {
        lumen::runs::RunStore store(lumen::runs::Workspace::open(ws_).database());
        std::map<std::string, std::vector<double>> out;
        for (const auto& p : store.metrics(run)) out[p.key].push_back(p.value);
        return out;
    }

private:
    std::string task_, config_;
};
