#pragma once
// Base of the in-process clip_contrastive suites: a demo workspace (chest X-rays with their
// reports and vocabulary) in a temporary folder, the plugin loaded from the build, the committed
// demo config (resources/configs/clip_contrastive_demo.yaml) with optional edits, and the run's
// last validation metrics read back from the store.

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

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

class ClipTaskTest : public QObject {
protected:
    QTemporaryDir dir_;
    std::filesystem::path ws_;
    lumen::plugin::Registry registry_;
    std::unique_ptr<lumen::plugin::PluginLoader> loader_;

    /// Writes the workspace (chest X-rays only) and loads the plugin; false when the folder is unusable.
    bool setUpWorkspace(int chestImages) {
        if (!dir_.isValid()) return false;
        ws_ = std::filesystem::path(dir_.path().toStdString()) / "ws";
        lumen::demo::DemoOptions o;
        o.chestImages = chestImages;
        o.ctVolumes = 0;
        o.angioStudies = 0;
        o.predictionStudies = 0;
        lumen::demo::createDemoWorkspace(ws_, o);
        loader_ = std::make_unique<lumen::plugin::PluginLoader>(registry_);
        loader_->load(PLUGIN_FILE);
        return true;
    }

    lumen::config::Config demoConfig(const std::function<void(YAML::Node&)>& edit = {}) {
        auto root = lumen::config::parseYaml(
            readTextFile(std::filesystem::path(LUMEN_SOURCE_DIR) / "resources/configs/clip_contrastive_demo.yaml"));
        if (edit) edit(root);
        return lumen::config::makeConfig(root, registry_.require("clip_contrastive")->schema());
    }

    lumen::plugin::TaskRunResult run(lumen::plugin::Operation op, const lumen::config::Config& c) {
        lumen::jobs::CancellationToken token;
        lumen::jobs::JobContext job(1, token, nullptr);
        lumen::plugin::TaskRunRequest req;
        req.operation = op;
        req.config = c;
        req.workspace = ws_;
        return lumen::plugin::runTask(*registry_.require("clip_contrastive"), req, job);
    }

    /// Every metric of run `run`: key -> values in step order.
    std::map<std::string, std::vector<double>> metricsOf(std::int64_t run) {
        lumen::runs::RunStore store(lumen::runs::Workspace::open(ws_).database());
        std::map<std::string, std::vector<double>> out;
        for (const auto& p : store.metrics(run)) out[p.key].push_back(p.value);
        return out;
    }
};
