// The Runs panel's model actions, carried out by the main window (docs/gui.md, "From a run"):
// Infer… a trained model on a split, Explain (Grad-CAM) an inference's images, Open an
// inference's predictions in the Study view. Each runs as a job and is recorded like the CLI's.
#include "main_window.h"

#include "config/config.h"
#include "data/manifest.h"
#include "explain/cam_job.h"
#include "infer/inference_bench.h"
#include "infer/torchscript_config.h"
#include "util/atomic_file.h"
#include "plugin/task_kit.h"
#include "plugin/task_runner.h"
#include "runs/run_files.h"
#include "runs/run_store.h"
#include "slurm/slurm_run.h"

#include "file_dialogs.h"
#include "log_panel.h"
#include "loss_curve_panel.h"
#include "runs_panel.h"
#include "slurm_monitor.h"
#include "angio_study_view.h"
#include "study_browser.h"

#include <QApplication>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFormLayout>
#include <QLineEdit>
#include <QFileInfo>
#include <QInputDialog>
#include <QLabel>
#include <QHeaderView>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QMessageBox>
#include <QProcess>
#include <QPushButton>
#include <QStatusBar>
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

// Asks what to infer on: the test split, the validation split, every row, or (for a task
// reading a manifest CSV) another manifest. False when the user cancels.
bool MainWindow::askInferInput(const plugin::Task& task, const runs::RunRecord& record, InferChoice& chosen) {
    const auto config = runConfig(task, record);
    const QString val = QString::fromStdString(config.get<std::string>("data.val_split"));
    const QString test = QString::fromStdString(config.get<std::string>("data.infer_split"));
    // The task's own split names; a split the manifest does not hold means every row
    // (data.infer_split's rule), which the third choice asks for explicitly.
    QStringList items = {tr("the test split (%1)").arg(test), tr("the validation split (%1)").arg(val),
                         tr("every row of the manifest")};
    const bool manifests = task.schema().find("data.manifest") != nullptr;
    if (manifests) items << tr("another manifest (CSV)…") << tr("a folder of images…");
    QInputDialog dialog(this);
    dialog.setObjectName("inferDialog");
    dialog.setWindowTitle(tr("Infer"));
    dialog.setLabelText(tr("Predictions of run %1 (%2) on:").arg(record.id).arg(QString::fromStdString(record.name)));
    dialog.setComboBoxItems(items);
    if (dialog.exec() != QDialog::Accepted) return false;
    const int choice = int(items.indexOf(dialog.textValue()));
    chosen.split = choice == 0 ? test : choice == 1 ? val : QStringLiteral("*");
    if (choice == 3) chosen.manifest = widgets::openFileDialog(this, tr("Manifest to infer on"), {}, tr("CSV (*.csv)"));
    if (choice == 4) {
        const QString folder = widgets::folderDialog(this, tr("Folder of images to infer on"));
        if (folder.isEmpty()) return false;
        chosen.manifest = manifestForFolder(folder);
    }
    return choice < 3 || !chosen.manifest.isEmpty();
}

// Asks which outputs (top:N, all, names), which layer (empty: the model's last feature map)
// and which CAM method to explain. False when the user cancels.
bool MainWindow::askExplainOptions(explain::CamJobOptions& o) {
    QDialog dialog(this);
    dialog.setObjectName("explainDialog");
    dialog.setWindowTitle(tr("Explain (Grad-CAM)"));
    auto* outputs = new QLineEdit("top:2");
    outputs->setObjectName("explainLabels");
    outputs->setToolTip(tr("top:N (the N highest outputs of each image), all, or names separated by commas"));
    // The layers the model has (lumen-cli explain --list-layers), probed at the input it takes.
    auto* layer = new QComboBox;
    layer->setObjectName("explainLayer");
    layer->setEditable(true);
    layer->setToolTip(tr("A submodule by its path, e.g. layer4 or features.5 (lumen-cli explain --list-layers)"));
    layer->addItem(QString());
    try {
        QApplication::setOverrideCursor(Qt::WaitCursor);
        const auto listing = explain::listLayers(o.model, o.inputShape, o.channels);
        QApplication::restoreOverrideCursor();
        layer->lineEdit()->setPlaceholderText(
            listing.defaultLayer.empty() ? tr("the model's last feature map")
                                         : tr("default: %1").arg(QString::fromStdString(listing.defaultLayer)));
        for (const auto& l : listing.layers) {
            if (!l.explainable) continue;
            const QString shape = QString::fromStdString(infer::shapeText(l.shape));
            layer->addItem(QString::fromStdString(l.path));
            layer->setItemData(layer->count() - 1, tr("output %1 %2").arg(shape, QString::fromStdString(l.note)),
                               Qt::ToolTipRole);
        }
    } catch (const std::exception& e) {
        QApplication::restoreOverrideCursor();
        layer->lineEdit()->setPlaceholderText(tr("the model's last feature map"));
        logPanel_->append(jobs::LogLevel::Warning, tr("explain"),
                          tr("layers not listed: %1").arg(QString::fromUtf8(e.what())));
    }
    auto* method = new QComboBox;
    method->setObjectName("explainMethod");
    method->addItems({"gradcam", "gradcam++", "hirescam"});
    auto* form = new QFormLayout(&dialog);
    form->addRow(tr("Outputs"), outputs);
    form->addRow(tr("Layer"), layer);
    form->addRow(tr("Method"), method);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    if (dialog.exec() != QDialog::Accepted) return false;
    o.labels = outputs->text().trimmed().isEmpty() ? "top:2" : outputs->text().trimmed().toStdString();
    o.layer = layer->currentText().trimmed().toStdString();
    o.method = method->currentText().toStdString();
    return true;
}

void MainWindow::logRunError(qint64 run, const QString& action, const QString& why) {
    logPanel_->append(jobs::LogLevel::Error, tr("runs"), tr("run %1: cannot %2: %3").arg(run).arg(action, why));
}

QString MainWindow::manifestForFolder(const QString& folder) {
    try {
        const auto manifest = data::manifestOfFolder(folder.toStdString());
        const QString file =
            QDir(workspacePath_).filePath("manifests/folders/" + QFileInfo(folder).fileName() + ".csv");
        QDir().mkpath(QFileInfo(file).absolutePath());
        data::writeManifest(manifest, file.toStdString());
        logPanel_->append(jobs::LogLevel::Info, tr("infer"),
                          tr("%1 images of %2 listed in %3").arg(manifest.rows.size()).arg(folder, file));
        return file;
    } catch (const std::exception& e) {
        logPanel_->append(jobs::LogLevel::Error, tr("infer"), QString::fromUtf8(e.what()));
        QMessageBox::warning(this, tr("Infer"), QString::fromUtf8(e.what()));
        return {};
    }
}

jobs::JobId MainWindow::inferFromRun(qint64 run, const QString& split, const QString& manifest) {
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
        InferChoice chosen{split, manifest};
        if (chosen.split.isEmpty() && !askInferInput(*task, *record, chosen)) return 0;
        const auto config = runConfig(*task, *record, [&](YAML::Node& root) {
            root["infer"]["checkpoint"] = best.toStdString();
            root["infer"]["out_dir"] = "";                             // the inference run's own folder
            root["data"]["infer_split"] = chosen.split.toStdString();  // "*": no split has that name, every row
            if (!chosen.manifest.isEmpty()) root["data"]["manifest"] = chosen.manifest.toStdString();
        });
        plugin::TaskRunRequest request;
        request.operation = plugin::Operation::Infer;
        request.config = config;
        request.workspace = workspacePath_.toStdString();
        request.name =
            record->name + " infer (" +
            (chosen.manifest.isEmpty() ? chosen.split : QFileInfo(chosen.manifest).fileName()).toStdString() + ")";
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
        const auto config = runConfig(*task, *record);
        explain::CamJobOptions o;
        o.model = plugin::inWorkspace(workspacePath_.toStdString(), config.get<std::string>("infer.checkpoint"));
        if (record->task == "torchscript") {  // the model's input as its config states it
            for (double v : config.get<std::vector<double>>("input.size")) o.inputShape.push_back(std::size_t(v));
            o.channels = config.get<int>("input.channels");
            for (double v : config.get<std::vector<double>>("input.mean")) o.mean.push_back(float(v));
            for (double v : config.get<std::vector<double>>("input.std")) o.stdev.push_back(float(v));
            o.noNormalisation = o.mean.empty();
            o.labelNames = config.get<std::vector<std::string>>("outputs.names");
        }
        o.images = predictions.toStdString();
        o.workspace = workspacePath_.toStdString();
        o.labels = labels.toStdString();
        if (labels.isEmpty() && !askExplainOptions(o)) return 0;
        return submitJob("explain", tr("Grad-CAM of run %1").arg(run),
                         [o](jobs::JobContext& job) { return explain::generateCams(o, job).text(); });
    } catch (const std::exception& e) {
        logRunError(run, tr("explain"), QString::fromUtf8(e.what()));
        return 0;
    }
}

namespace {

/// The benchmark's table in a dialog (CPU and threads in its title line).
void showBenchmark(QWidget* parent, qint64 run, const infer::InferenceBenchResult& r) {
    auto* dialog = new QDialog(parent);
    dialog->setObjectName("benchResultDialog");
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(QObject::tr("Inference benchmark of run %1").arg(run));
    auto* layout = new QVBoxLayout(dialog);
    layout->addWidget(new QLabel(QObject::tr("%1\n%2, %3 threads, load %4 s")
                                     .arg(QString::fromStdString(r.model), QString::fromStdString(r.cpu))
                                     .arg(r.threads)
                                     .arg(r.loadSeconds, 0, 'f', 2)));
    auto* table = new QTableWidget(static_cast<int>(r.rows.size()), 7, dialog);
    table->setObjectName("benchTable");
    table->setHorizontalHeaderLabels({QObject::tr("batch"), QObject::tr("mean ms"), QObject::tr("p50 ms"),
                                      QObject::tr("p95 ms"), QObject::tr("p99 ms"), QObject::tr("samples/s"),
                                      QObject::tr("peak RSS MB")});
    for (int i = 0; i < table->rowCount(); ++i) {
        const auto& b = r.rows[static_cast<std::size_t>(i)];
        const double values[] = {double(b.batch), b.meanMs, b.p50Ms, b.p95Ms, b.p99Ms, b.samplesPerSecond, b.peakRssMb};
        for (int c = 0; c < 7; ++c)
            table->setItem(i, c, new QTableWidgetItem(QString::number(values[c], 'f', c == 0 || c == 6 ? 0 : 2)));
    }
    table->verticalHeader()->hide();
    table->resizeColumnsToContents();
    layout->addWidget(table);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
    QObject::connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    layout->addWidget(buttons);
    dialog->resize(640, 260);
    dialog->show();
}

}  // namespace

jobs::JobId MainWindow::benchmarkRun(qint64 run) {
    const auto record = store_ ? store_->run(run) : std::nullopt;
    if (!record) return 0;
    try {
        const auto target =
            infer::benchTargetFromConfig(config::parseYaml(record->configYaml), workspacePath_.toStdString(),
                                         runsPanel_->artifact(run, "torchscript").toStdString());
        infer::InferenceBenchOptions o;
        o.model = target.model;
        o.inputShape = target.inputShape;
        o.channels = target.channels;
        auto result = std::make_shared<infer::InferenceBenchResult>();
        const std::filesystem::path out = std::filesystem::path(workspacePath_.toStdString()) / "bench" /
                                          ("bench_infer_run" + std::to_string(run) + ".json");
        const auto id = submitJob("bench-infer", tr("Benchmark inference of run %1").arg(run),
                                  [o, result, out](jobs::JobContext& job) {
                                      *result = infer::benchInference(o, job);
                                      std::filesystem::create_directories(out.parent_path());
                                      util::writeFileAtomically(out, result->toJson().dump(1) + "\n");
                                      job.artifact("benchmark", out.string());
                                      return result->table();
                                  });
        afterJobSucceeds(id, [this, run, result] { showBenchmark(this, run, *result); });
        return id;
    } catch (const std::exception& e) {
        logRunError(run, tr("benchmark"), QString::fromUtf8(e.what()));
        return 0;
    }
}

bool MainWindow::openRunInStudy(qint64 run) {
    // An angio_multiview inference opens in the angiography view (views, tree, attention).
    const auto record = store_ ? store_->run(run) : std::nullopt;
    if (const QString json = runsPanel_->artifact(run, "predictions_json");
        !json.isEmpty() && record && record->task == "angio_multiview") {
        if (!angioView_->openPredictions(json)) {
            logRunError(run, tr("open it in the Angio study view"), angioView_->statusText());
            return false;
        }
        showPage("angio");
        return true;
    }
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

QString MainWindow::exportRun(qint64 run, const QString& folder) {
    if (!store_) return {};
    QString into = folder;
    if (into.isEmpty()) into = widgets::folderDialog(this, tr("Export run %1 into").arg(run), workspacePath_);
    if (into.isEmpty()) return {};
    try {
        const auto written = runs::exportRun(*store_, run, into.toStdString());
        const auto record = store_->run(run);
        const QString out =
            QDir(into).filePath(QString("run_%1_%2").arg(run).arg(QString::fromStdString(record->task)));
        logPanel_->append(jobs::LogLevel::Info, tr("runs"),
                          tr("run %1: exported %2 files to %3").arg(run).arg(written.size()).arg(out));
        statusBar()->showMessage(tr("Run %1 exported to %2").arg(run).arg(out), 10000);
        return out;
    } catch (const std::exception& e) {
        logRunError(run, tr("export"), QString::fromUtf8(e.what()));
        QMessageBox::warning(this, tr("Export"), QString::fromUtf8(e.what()));
        return {};
    }
}

int MainWindow::deleteRuns(const QList<qint64>& ids, bool confirmed) {
    if (!store_ || ids.isEmpty()) return 0;
    if (!confirmed) {
        QStringList names;
        for (qint64 id : ids) names << QString::number(id);
        QMessageBox box(QMessageBox::Warning, tr("Delete runs"),
                        tr("Delete run %1 for good? Its metrics, checkpoints, predictions and folder are removed; "
                           "files it wrote outside its folder stay.")
                            .arg(names.join(", ")),
                        QMessageBox::Cancel, this);
        box.setObjectName("deleteRunsDialog");
        QPushButton* yes = box.addButton(tr("Delete"), QMessageBox::DestructiveRole);
        yes->setObjectName("confirmDelete");
        box.setDefaultButton(QMessageBox::Cancel);
        box.exec();
        if (box.clickedButton() != yes) return 0;
    }
    int deleted = 0;
    const runs::Workspace ws{workspacePath_.toStdString()};
    for (qint64 id : ids) {
        try {
            runs::deleteRun(*store_, ws, id);
            lossCurvePanel_->removeRun(id);
            logPanel_->append(jobs::LogLevel::Info, tr("runs"), tr("run %1 deleted").arg(id));
            ++deleted;
        } catch (const std::exception& e) {
            logRunError(id, tr("delete"), QString::fromUtf8(e.what()));
        }
    }
    runsPanel_->refresh();
    updateSummary();
    return deleted;
}

bool MainWindow::cancelSlurmJob(qint64 run, bool confirmed) {
    const qint64 job = runsPanel_->slurmJob(run);
    if (job <= 0) {
        logRunError(run, tr("cancel its Slurm job"), tr("it has no Slurm job"));
        return false;
    }
    if (!confirmed) {
        QMessageBox box(
            QMessageBox::Question, tr("Cancel Slurm job"),
            tr("Cancel Slurm job %1 of run %2? Its ranks save last.pt (it can be resumed) and stop.").arg(job).arg(run),
            QMessageBox::No, this);
        box.setObjectName("slurmCancelDialog");
        QPushButton* yes = box.addButton(tr("Cancel job"), QMessageBox::DestructiveRole);
        box.setDefaultButton(QMessageBox::No);
        box.exec();
        if (box.clickedButton() != yes) return false;
    }
    auto* scancel = new QProcess(this);
    const QString command = QString("scancel %1").arg(job);
    connect(scancel, &QProcess::finished, this, [this, scancel, run, command](int code, QProcess::ExitStatus status) {
        scancel->deleteLater();
        const QString said = QString::fromUtf8(scancel->readAllStandardError()).trimmed();
        if (status == QProcess::NormalExit && code == 0)
            logPanel_->append(jobs::LogLevel::Info, tr("runs"), tr("run %1: %2 sent").arg(run).arg(command));
        else logRunError(run, tr("cancel its Slurm job"), tr("%1 exited with %2: %3").arg(command).arg(code).arg(said));
        runsPanel_->slurmMonitor()->pollNow();
    });
    connect(scancel, &QProcess::errorOccurred, this, [this, scancel, run](QProcess::ProcessError e) {
        if (e != QProcess::FailedToStart) return;
        scancel->deleteLater();
        logRunError(
            run, tr("cancel its Slurm job"),
            tr("scancel could not be started (%1; Debian: apt-get install slurm-client)").arg(scancel->errorString()));
    });
    const auto argv = slurm::scancelCommand(job);
    scancel->start(QString::fromStdString(argv[0]), {QString::fromStdString(argv[1])});
    return true;
}

}  // namespace lumen::app
