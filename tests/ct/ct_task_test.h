#pragma once
// Base of the in-process ct_multilabel suites: a demo workspace with `ctVolumes` synthetic CTs
// in a temporary folder, the plugin loaded from the build, and the committed demo config
// (resources/configs/ct_multilabel_demo.yaml) with optional edits.

#include "config/config.h"
#include "demo/demo_workspace.h"
#include "jobs/job.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_runner.h"
#include "test_support.h"

#include <QObject>
#include <QTemporaryDir>

#include <array>
#include <cctype>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

/// The findings the demo plants clearly and often (docs/demo-workspace.md).
inline const std::vector<std::string> kPlantedFindings = {
    "Lung nodule", "Pleural effusion", "Cardiomegaly", "Emphysema", "Consolidation", "Lung opacity", "Atelectasis"};

/// A label as the task writes it into metric keys and file names ("Lung nodule" -> "Lung_nodule").
inline std::string safeLabel(std::string s) {
    for (char& c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) c = '_';
    return s;
}

/// World millimetres of voxel (i, j, k) through a 4 x 4 row-major affine (io::rasAffine).
inline std::array<double, 3> worldPoint(const std::array<double, 16>& a, double i, double j, double k) {
    return {a[0] * i + a[1] * j + a[2] * k + a[3], a[4] * i + a[5] * j + a[6] * k + a[7],
            a[8] * i + a[9] * j + a[10] * k + a[11]};
}

class CtTaskTest : public QObject {
protected:
    QTemporaryDir dir_;
    std::filesystem::path ws_;
    lumen::plugin::Registry registry_;
    std::unique_ptr<lumen::plugin::PluginLoader> loader_;

    /// Writes the workspace (CT only) and loads the plugin; false when the folder is unusable.
    bool setUpWorkspace(int ctVolumes) {
        if (!dir_.isValid()) return false;
        ws_ = std::filesystem::path(dir_.path().toStdString()) / "ws";
        lumen::demo::DemoOptions o;
        o.chestImages = 0;
        o.ctVolumes = ctVolumes;
        o.angioStudies = 0;
        o.predictionStudies = 0;
        lumen::demo::createDemoWorkspace(ws_, o);
        loader_ = std::make_unique<lumen::plugin::PluginLoader>(registry_);
        loader_->load(PLUGIN_FILE);
        return true;
    }

    lumen::config::Config demoConfig(const std::function<void(YAML::Node&)>& edit = {}) {
        auto root = lumen::config::parseYaml(
            readTextFile(std::filesystem::path(LUMEN_SOURCE_DIR) / "resources/configs/ct_multilabel_demo.yaml"));
        if (edit) edit(root);
        return lumen::config::makeConfig(root, registry_.require("ct_multilabel")->schema());
    }

    lumen::plugin::TaskRunResult run(lumen::plugin::Operation op, const lumen::config::Config& c) {
        lumen::jobs::CancellationToken token;
        lumen::jobs::JobContext job(1, token, nullptr);
        lumen::plugin::TaskRunRequest req;
        req.operation = op;
        req.config = c;
        req.workspace = ws_;
        return lumen::plugin::runTask(*registry_.require("ct_multilabel"), req, job);
    }
};
