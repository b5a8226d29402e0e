// The demo workspace in the GUI (docs/gui.md, "The demo opens ready"): generated as a job on
// first use; then the tiny chest X-ray model is trained, run on the test images and explained
// as visible jobs (every output explained), and the Study page opens on its predictions with
// heatmaps and masks.
#include "main_window.h"

#include "config/config.h"
#include "config/environment.h"
#include "demo/demo_workspace.h"
#include "runs/run_lock.h"
#include "runs/run_store.h"
#include "util/sha256.h"

#include "audit_panel.h"
#include "data_panel.h"
#include "dicom_browser.h"
#include "job_event_bridge.h"
#include "log_panel.h"
#include "runs_panel.h"
#include "study_browser.h"

#include <QFile>
#include <QFileInfo>
#include <QMessageBox>
#include <QStandardPaths>

namespace lumen::app {
namespace {

constexpr const char* kDemoModel = "demo model";

// The newest finished run named `name` (or, with `prefix`, whose name starts with it); 0 if none.
qint64 newestFinishedRun(const runs::RunStore& store, const std::string& name, bool prefix = false) {
    for (const auto& r : store.runs())  // newest first
        if (r.status == runs::RunStatus::Finished && (prefix ? r.name.rfind(name, 0) == 0 : r.name == name))
            return r.id;
    return 0;
}

std::string demoResult(const demo::DemoSummary& summary) {
    return std::to_string(summary.chestImages) + " X-rays, " + std::to_string(summary.ctVolumes) + " CT volumes, " +
           std::to_string(summary.angioCines) + " cines, " + std::to_string(summary.predictionRows) +
           " prediction rows";
}

}  // namespace

QString MainWindow::demoWorkspacePath() {
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/demo";
}

void MainWindow::afterJobSucceeds(jobs::JobId id, const std::function<void()>& next) {
    if (id == 0) return;
    auto* once = new QObject(this);
    connect(bridge_, &widgets::JobEventBridge::finished, once, [id, next, once](quint64 job, const QString&) {
        if (job != id) return;
        once->deleteLater();
        next();
    });
    connect(bridge_, &widgets::JobEventBridge::ended, once, [id, once](quint64 job) {
        if (job == id) once->deleteLater();  // failed or cancelled: the chain stops (the job says why)
    });
}

jobs::JobId MainWindow::openDemoWorkspace() {
    const QString dir = demoWorkspacePath();
    QString error;
    if (!openWorkspace(dir, &error)) {
        QMessageBox::warning(this, tr("Demo workspace"), error);
        return 0;
    }
    // The demo's predictions pair is ready to audit.
    auditPanel_->setInputs(dir + "/predictions/baseline.csv", dir + "/predictions/new.csv",
                           dir + "/predictions/categories.yaml");
    if (demo::isDemoWorkspace(dir.toStdString())) {
        showDemoStudies();
        return 0;
    }
    // Generate it as a job, recorded as a run like any other work in the workspace.
    const std::filesystem::path root = dir.toStdString();
    const auto database = runs::Workspace{root}.database();
    const jobs::JobId id = submitJob("demo", tr("Create demo workspace"), [root, database](jobs::JobContext& job) {
        runs::RunStore store(database);
        const demo::DemoOptions options;
        const std::string recipe = "seed: " + std::to_string(options.seed) + "\n";
        const auto run = store.createRun("demo", "demo workspace", recipe, util::sha256Hex(recipe),
                                         config::captureEnvironment().dump());
        // Like every run: a folder holding its lock while it runs (run_lock.h).
        const auto runDir = runs::Workspace{root}.runDir(run, "demo");
        std::filesystem::create_directories(runDir);
        const runs::RunLock lock(runDir);
        store.setStatus(run, runs::RunStatus::Running);
        try {
            job.info("generating the demo workspace in " + root.string());
            const std::string result = demoResult(demo::createDemoWorkspace(root, options, &job));
            store.setStatus(run, runs::RunStatus::Finished, result);
            job.info("demo workspace ready: " + result);
            return result;
        } catch (const jobs::Cancelled&) {
            store.setStatus(run, runs::RunStatus::Cancelled, "cancelled");
            throw;
        } catch (const std::exception& e) {
            store.setStatus(run, runs::RunStatus::Failed, e.what());
            throw;
        }
    });
    runsPanel_->refresh();
    afterJobSucceeds(id, [this, dir] {
        if (workspacePath_ != dir) return;
        dicomBrowser_->scanFolder(dir);  // the DICOM page lists the demo's cines and CT series
        showDemoStudies();
    });
    return id;
}

// What the Study page shows on the demo: the demo model's predictions with their heatmaps and
// masks once they exist; before that the angiography predictions (and the model is prepared,
// once per workspace, unless the task plugin is missing).
void MainWindow::showDemoStudies() {
    const QString dir = workspacePath_;
    studyBrowser_->setMediaRoot(dir);  // the images exist now: index them again
    const qint64 inferred = store_ ? newestFinishedRun(*store_, std::string(kDemoModel) + " infer", true) : 0;
    if (inferred > 0 && !runsPanel_->artifact(inferred, "predictions").isEmpty()) {
        // The Data page on the manifest the model was trained from (imported from chest_xray/).
        const QString manifest = dir + "/manifests/nih/all.csv";
        auto* data = findChild<widgets::DataPanel*>("dataPanel");
        if (data && QFileInfo::exists(manifest)) data->open(manifest);
        openRunInStudy(inferred);
        return;
    }
    studyBrowser_->openTables(dir + "/predictions/new.csv", dir + "/predictions/baseline.csv");
    bool tried = false;
    if (store_)
        for (const auto& r : store_->runs()) tried = tried || r.name == kDemoModel;
    if (!tried) prepareDemoModel();
}

jobs::JobId MainWindow::prepareDemoModel() {
    const QString recipe = shareFolder("configs") + "/roi_consistency_demo.yaml";
    const auto task = registry_.find("roi_consistency");
    QFile file(recipe);
    if (!task || !file.open(QIODevice::ReadOnly)) {
        logPanel_->append(jobs::LogLevel::Warning, tr("demo"),
                          !task ? tr("the roi_consistency task is not loaded: the demo has no model to explain")
                                : tr("%1: cannot be read: the demo has no model to explain").arg(recipe));
        return 0;
    }
    jobs::JobId train = 0;
    std::string split;
    try {
        const auto config = config::makeConfig(config::parseYaml(file.readAll().toStdString(), recipe.toStdString()),
                                               task->schema(), recipe.toStdString());
        split = config.get<std::string>("data.infer_split");
        train = launchTraining("roi_consistency", config, kDemoModel);
    } catch (const std::exception& e) {
        logPanel_->append(jobs::LogLevel::Error, tr("demo"), QString::fromUtf8(e.what()));
        return 0;
    }
    logPanel_->append(jobs::LogLevel::Info, tr("demo"),
                      tr("training the demo model; its predictions, heatmaps and masks open in the Study page"));
    // Train → infer on the test images → explain them → show them, each a job of its own.
    afterJobSucceeds(train, [this, split] {
        const qint64 trained = store_ ? newestFinishedRun(*store_, kDemoModel) : 0;
        afterJobSucceeds(inferFromRun(trained, QString::fromStdString(split)), [this] {
            const qint64 inferred = store_ ? newestFinishedRun(*store_, std::string(kDemoModel) + " infer", true) : 0;
            afterJobSucceeds(explainRun(inferred, "all"), [this] { showDemoStudies(); });
        });
    });
    return train;
}

void MainWindow::openDemoCt() {
    const QString ct = demoWorkspacePath() + "/ct/volumes/ct_0001.nii.gz";
    const jobs::JobId creating = openDemoWorkspace();
    if (creating == 0) {
        if (demo::isDemoWorkspace(demoWorkspacePath().toStdString())) openVolume(ct);
        return;
    }
    afterJobSucceeds(creating, [this, ct] { openVolume(ct); });  // once the demo exists
}

}  // namespace lumen::app
