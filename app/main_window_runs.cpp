// The Runs panel's model actions, carried out by the main window (docs/gui.md, "From a run"):
// Infer… a trained model on a split, Explain (Grad-CAM) an inference's images, Open an
// inference's predictions in the Study view. Each runs as a job and is recorded like the CLI's.
#include "main_window.h"

#include "config/config.h"
#include "explain/cam_job.h"
#include "plugin/task_runner.h"
#include "runs/run_store.h"

#include "log_panel.h"
#include "runs_panel.h"
#include "study_browser.h"

#include <QInputDialog>
#include <QMetaObject>

namespace lumen::app {

namespace {

// A config of the run's task from the YAML it was run with, `edit` applied to the tree first.
config::Config runConfig(const plugin::Task& task, const runs::RunRecord& record,
                         const std::function<void(YAML::Node&)>& edit = {}) {
    const std::string where = "run " + std::to_string(record.id);
    YAML::Node root = config::parseYaml(record.configYaml, where);
    if (edit) edit(root);
    return config::makeConfig(root, task.schema(), where);
}

}  // namespace

void MainWindow::logRunError(qint64 run, const QString& action, const QString& why) {
    logPanel_->append(jobs::LogLevel::Error, tr("runs"), tr("run %1: cannot %2: %3").arg(run).arg(action, why));
}

jobs::JobId MainWindow::inferFromRun(qint64 run, const QString& split) {
    const QString best = runsPanel_->artifact(run, "best_checkpoint");
    const auto record = store_ ? store_->run(run) : std::nullopt;
    const auto task = record ? registry_.find(record->task) : nullptr;
    if (best.isEmpty() || !record || !task) {
        logRunError(run, tr("infer"),
                    !task && record ? tr("task \"%1\" is not loaded").arg(QString::fromStdString(record->task))
                                    : tr("it is not a finished training run with a best checkpoint"));
        return 0;
    }
    try {
        QString chosen = split;
        if (chosen.isEmpty()) {
            const auto config = runConfig(*task, *record);
            const QString val = QString::fromStdString(config.get<std::string>("data.val_split"));
            const QString test = QString::fromStdString(config.get<std::string>("data.infer_split"));
            // The task's own split names; a split the manifest does not hold means every row
            // (data.infer_split's rule), which the third choice asks for explicitly.
            const QStringList items = {tr("the test split (%1)").arg(test), tr("the validation split (%1)").arg(val),
                                       tr("every row of the manifest")};
            QInputDialog dialog(this);
            dialog.setObjectName("inferDialog");
            dialog.setWindowTitle(tr("Infer"));
            dialog.setLabelText(
                tr("Predictions of run %1 (%2) on:").arg(run).arg(QString::fromStdString(record->name)));
            dialog.setComboBoxItems(items);
            if (dialog.exec() != QDialog::Accepted) return 0;
            const int choice = int(items.indexOf(dialog.textValue()));
            chosen = choice == 0 ? test : choice == 1 ? val : QStringLiteral("*");
        }
        const auto config = runConfig(*task, *record, [&](YAML::Node& root) {
            root["infer"]["checkpoint"] = best.toStdString();
            root["infer"]["out_dir"] = "";                       // the inference run's own folder
            root["data"]["infer_split"] = chosen.toStdString();  // "*": no split has that name, every row
        });
        plugin::TaskRunRequest request;
        request.operation = plugin::Operation::Infer;
        request.config = config;
        request.workspace = workspacePath_.toStdString();
        request.name = record->name + " infer (" + chosen.toStdString() + ")";
        widgets::RunsPanel* runs = runsPanel_;
        return submitJob("infer", tr("Infer %1").arg(QString::fromStdString(request.name)),
                         [task, request, runs](jobs::JobContext& job) {
                             const auto shown = [runs](std::int64_t, const std::filesystem::path&) {
                                 QMetaObject::invokeMethod(
                                     runs, [runs] { runs->refresh(); }, Qt::QueuedConnection);
                             };
                             return plugin::runTask(*task, request, job, shown).summary;
                         });
    } catch (const std::exception& e) {
        logRunError(run, tr("infer"), QString::fromUtf8(e.what()));
        return 0;
    }
}

jobs::JobId MainWindow::explainRun(qint64 run, const QString& labels) {
    const QString predictions = runsPanel_->artifact(run, "predictions");
    const auto record = store_ ? store_->run(run) : std::nullopt;
    const auto task = record ? registry_.find(record->task) : nullptr;
    if (predictions.isEmpty() || !record || !task) {
        logRunError(run, tr("explain"), tr("it is not a finished inference run with predictions"));
        return 0;
    }
    try {
        const auto model = runConfig(*task, *record).get<std::string>("infer.checkpoint");
        QString spec = labels;
        if (spec.isEmpty()) {
            QInputDialog dialog(this);
            dialog.setObjectName("explainDialog");
            dialog.setWindowTitle(tr("Explain (Grad-CAM)"));
            dialog.setLabelText(
                tr("Outputs to explain per image: top:N (the N highest), all, or names "
                   "separated by commas"));
            dialog.setTextValue("top:2");
            if (dialog.exec() != QDialog::Accepted) return 0;
            spec = dialog.textValue().trimmed();
        }
        explain::CamJobOptions o;
        o.model = model;
        o.images = predictions.toStdString();
        o.workspace = workspacePath_.toStdString();
        o.labels = spec.isEmpty() ? "top:2" : spec.toStdString();
        return submitJob("explain", tr("Grad-CAM of run %1").arg(run),
                         [o](jobs::JobContext& job) { return explain::generateCams(o, job).text(); });
    } catch (const std::exception& e) {
        logRunError(run, tr("explain"), QString::fromUtf8(e.what()));
        return 0;
    }
}

bool MainWindow::openRunInStudy(qint64 run) {
    const QString predictions = runsPanel_->artifact(run, "predictions");
    if (predictions.isEmpty()) {
        logRunError(run, tr("open it in the Study view"), tr("it has no predictions"));
        return false;
    }
    // Images from the workspace, the run's masks (none: no stale masks of another run), the
    // workspace's newest CAM cache (Explain writes there).
    studyBrowser_->setMediaRoot(workspacePath_);
    studyBrowser_->setRoiFolder(runsPanel_->artifact(run, "roi_vis"));
    studyBrowser_->refreshCamCache();
    studyBrowser_->openTables(predictions);
    showPage("study");
    return true;
}

}  // namespace lumen::app
