#include "main_window.h"
#include "util/parallel.h"

#include "cli_job.h"
#include "environment_info.h"

#include "config/config.h"
#include "config/environment.h"
#include "plugin/task_runner.h"
#include "runs/run_lock.h"
#include "runs/run_store.h"
#include "util/atomic_file.h"

#include "audit_panel.h"
#include "dicom_browser.h"
#include "data_panel.h"
#include "job_event_bridge.h"
#include "jobs_panel.h"
#include "log_panel.h"
#include "loss_curve_panel.h"
#include "metrics_panel.h"
#include "pacs_panel.h"
#include "run_launcher.h"
#include "runs_panel.h"
#include "angio_study_view.h"
#include "study_browser.h"
#include "retrieval_panel.h"
#include "sweep_panel.h"
#include "volume_viewer.h"
#include "workspace_view.h"

#include <atomic>
#include <cstdlib>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QDateTime>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include "file_dialogs.h"
#include "user_guide.h"
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QScrollArea>
#include <QTabWidget>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QTimer>

#include <yaml-cpp/yaml.h>
#include <QVBoxLayout>

namespace lumen::app {
namespace {

constexpr int kMaxRecent = 8;
constexpr int kStorePollMs = 1000;  // how soon another process's runs show up
constexpr int kLayoutVersion = 2;   // 2: the Runs dock moved to the bottom
// Jobs run at nice 10: a training job keeps both cores busy (OpenMP + loader threads), and
// at equal priority the GUI thread waited up to ~120 ms for a core (docs/gui.md).
constexpr int kJobNice = 10;

QDockWidget* makeDock(QMainWindow* window, const QString& title, const QString& name, QWidget* content,
                      Qt::DockWidgetArea area) {
    auto* dock = new QDockWidget(title, window);
    dock->setObjectName(name);  // saveState() keys docks by object name
    dock->setWidget(content);
    window->addDockWidget(area, dock);
    return dock;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      bridge_(new widgets::JobEventBridge(this)),
      workspaceView_(new widgets::WorkspaceView),
      auditPanel_(new widgets::AuditPanel),
      metricsPanel_(new widgets::MetricsPanel),
      dicomBrowser_(new widgets::DicomBrowser),
      pacsPanel_(new widgets::PacsPanel),
      volumeViewer_(new widgets::VolumeViewer),
      runLauncher_(new widgets::RunLauncher),
      lossCurvePanel_(new widgets::LossCurvePanel),
      pages_(new QTabWidget),
      jobsPanel_(new widgets::JobsPanel),
      runsPanel_(new widgets::RunsPanel),
      logPanel_(new widgets::LogPanel),
      workspaceLabel_(new QLabel),
      jobsLabel_(new QLabel),
      pool_(std::make_unique<jobs::JobPool>(std::max(2u, util::resolveThreads(0)), kJobNice)) {
    setObjectName("lumenMainWindow");
    setWindowTitle(tr("Lumen"));
    loader_ = std::make_unique<plugin::PluginLoader>(registry_);
    pages_->setObjectName("pages");
    pages_->setDocumentMode(true);
    auto* dataPanel = new widgets::DataPanel;
    addPage(workspaceView_, "workspace", tr("Workspace"));
    addPage(dataPanel, "data", tr("Data"));
    addPage(dicomBrowser_, "dicom", tr("DICOM"));
    addPage(pacsPanel_, "pacs", tr("PACS"));
    addPage(volumeViewer_, "volume", tr("Volume"));
    addPage(buildTrainPage(), "train", tr("Train"));
    addPage(auditPanel_, "audit", tr("Audit"));
    studyBrowser_ = new widgets::StudyBrowser;
    addPage(studyBrowser_, "study", tr("Study"));
    angioView_ = new widgets::AngioStudyView;
    addPage(angioView_, "angio", tr("Angio study"));
    addPage(buildMetricsPage(), "metrics", tr("Metrics"));
    addSweepAndRetrievalPages();
    setCentralWidget(pages_);
    const auto runner = [this](const QString& kind, const QString& title, jobs::JobFunction work) {
        return submitJob(kind, title, std::move(work));
    };
    auditPanel_->setJobRunner(runner, bridge_);
    dataPanel->setJobRunner(runner, bridge_);
    dicomBrowser_->setJobRunner(runner, bridge_);
    volumeViewer_->setJobRunner(runner, bridge_);
    connect(volumeViewer_, &widgets::VolumeViewer::loadFailed, this,
            [this](const QString& e) { logPanel_->append(jobs::LogLevel::Error, tr("volume"), e); });
    connect(volumeViewer_, &widgets::VolumeViewer::overlayLoaded, this, [this](const QString& name) {
        logPanel_->append(jobs::LogLevel::Info, tr("volume"), tr("overlay %1 shown").arg(name));
    });
    pacsPanel_->setJobRunner(
        runner, [this](jobs::JobId id) { return pool_->cancel(id); }, bridge_);
    connect(auditPanel_, &widgets::AuditPanel::studySelected, this, &MainWindow::showAuditStudy);

    // Other processes (lumen-cli, a second window) write to the same workspace: follow them.
    storeTimer_ = new QTimer(this);
    storeTimer_->setInterval(kStorePollMs);
    connect(storeTimer_, &QTimer::timeout, this, &MainWindow::pollStore);
    connect(runsPanel_, &widgets::RunsPanel::resumeRequested, this, &MainWindow::resumeRun);
    connect(runsPanel_, &widgets::RunsPanel::inferRequested, this, [this](qint64 run) { inferFromRun(run); });
    connect(runsPanel_, &widgets::RunsPanel::explainRequested, this, [this](qint64 run) { explainRun(run); });
    connect(runsPanel_, &widgets::RunsPanel::benchmarkRequested, this, [this](qint64 run) { benchmarkRun(run); });
    connect(runsPanel_, &widgets::RunsPanel::openInStudyRequested, this, &MainWindow::openRunInStudy);
    connect(runsPanel_, &widgets::RunsPanel::exportRequested, this, [this](qint64 run) { exportRun(run); });
    connect(runsPanel_, &widgets::RunsPanel::cancelSlurmRequested, this, [this](qint64 run) { cancelSlurmJob(run); });
    connect(runsPanel_, &widgets::RunsPanel::deleteRequested, this,
            [this](const QList<qint64>& runs) { deleteRuns(runs); });

    auto* jobsDock = makeDock(this, tr("Jobs"), "jobsDock", jobsPanel_, Qt::BottomDockWidgetArea);
    auto* runsDock = makeDock(this, tr("Runs"), "runsDock", runsPanel_, Qt::BottomDockWidgetArea);
    auto* logDock = makeDock(this, tr("Log"), "logDock", logPanel_, Qt::BottomDockWidgetArea);
    // All three along the bottom (Jobs | Log tabbed, Runs beside them): the pages keep the
    // window's whole width, which the Study and Train pages need on a 1366x768 screen.
    splitDockWidget(jobsDock, runsDock, Qt::Horizontal);
    tabifyDockWidget(jobsDock, logDock);
    jobsDock->raise();
    resizeDocks({jobsDock, runsDock}, {560, 700}, Qt::Horizontal);
    resizeDocks({jobsDock}, {190}, Qt::Vertical);

    jobsPanel_->attach(bridge_);
    connect(jobsPanel_, &widgets::JobsPanel::cancelRequested, this, [this](quint64 job) {
        if (pool_->cancel(job)) logPanel_->append(jobs::LogLevel::Info, tr("job %1").arg(job), tr("cancel requested"));
    });
    connect(jobsPanel_, &widgets::JobsPanel::runningCountChanged, this, &MainWindow::updateStatus);
    connect(bridge_, &widgets::JobEventBridge::logLine, this,
            [this](quint64 job, int level, const QString& m) { logPanel_->append(level, tr("job %1").arg(job), m); });
    connect(bridge_, &widgets::JobEventBridge::failed, this, [this](quint64 job, const QString& e) {
        logPanel_->append(jobs::LogLevel::Error, tr("job %1").arg(job), tr("failed: %1").arg(e));
    });
    connect(bridge_, &widgets::JobEventBridge::ended, this, [this](quint64 job) {
        runsPanel_->refresh();
        updateSummary();
        emit jobEnded(job);
    });

    statusBar()->addWidget(workspaceLabel_, 1);
    statusBar()->addPermanentWidget(jobsLabel_);
    buildMenus();
    defaultState_ = saveState(kLayoutVersion);
    restoreLayout();
    updateSummary();
    updateStatus();
}

MainWindow::~MainWindow() {
    pool_.reset();  // cancel and join running jobs before anything they report to goes
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&New workspace…"), QKeySequence::New, this, [this] { chooseWorkspace(true); });
    file->addAction(tr("&Open workspace…"), QKeySequence::Open, this, [this] { chooseWorkspace(false); });
    recentMenu_ = file->addMenu(tr("Open &recent"));
    file->addAction(tr("Open &demo workspace"), this, &MainWindow::openDemoWorkspace);
    file->addSeparator();
    file->addAction(tr("Open &volume…"), this, [this] {
        const QString f = widgets::openFileDialog(this, tr("Open volume"), workspacePath_,
                                                  tr("Volumes (*.nii *.nii.gz *.hdr *.dcm);;All files (*)"));
        if (!f.isEmpty()) openVolume(f);
    });
    file->addAction(tr("Open DICOM &series folder…"), this, [this] {
        const QString d = widgets::folderDialog(this, tr("Open DICOM series folder"), workspacePath_);
        if (!d.isEmpty()) openVolume(d);
    });
    file->addAction(tr("Open demo &CT"), this, &MainWindow::openDemoCt);
    file->addAction(tr("Open volume &overlay (heatmap or mask)…"), this, [this] {
        const QString f = widgets::openFileDialog(this, tr("Open overlay on the volume"), workspacePath_,
                                                  tr("NIfTI (*.nii *.nii.gz);;All files (*)"));
        if (!f.isEmpty()) openVolumeOverlay(f);
    });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    viewMenu_ = menuBar()->addMenu(tr("&View"));
    for (auto* dock : findChildren<QDockWidget*>()) viewMenu_->addAction(dock->toggleViewAction());
    viewMenu_->addSeparator();
    viewMenu_->addAction(tr("&Reset layout"), this, &MainWindow::resetLayout);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* guide = help->addAction(tr("&User guide"), QKeySequence::HelpContents, this, [this] { showUserGuide(); });
    guide->setObjectName("helpUserGuide");
    help->addAction(tr("&Environment…"), this, &MainWindow::showEnvironment);
    help->addAction(tr("&About Lumen"), this, [this] {
        QMessageBox::about(this, tr("About Lumen"),
                           tr("<h3>Lumen %1</h3><p>A research workbench for medical-imaging "
                              "deep learning.</p>")
                               .arg(QApplication::applicationVersion()));
    });
    rebuildRecentMenu();
}

QString MainWindow::shareFolder(const QString& name) {
    // bin/../share/lumen/<name>: the installed layout, mirrored in the build tree.
    return QDir(QApplication::applicationDirPath() + "/../share/lumen/" + name).absolutePath();
}

widgets::UserGuideDialog* MainWindow::showUserGuide(const QString& document) {
    if (!userGuide_) userGuide_ = new widgets::UserGuideDialog(shareFolder("docs"), "gui.md", this);
    if (!document.isEmpty()) userGuide_->openDocument(document);
    userGuide_->show();
    userGuide_->raise();
    return userGuide_;
}

void MainWindow::restoreLayout() {
    QSettings settings;
    restoreGeometry(settings.value("window/geometry").toByteArray());
    restoreState(settings.value("window/state").toByteArray(), kLayoutVersion);
}

void MainWindow::resetLayout() {
    restoreState(defaultState_, kLayoutVersion);
    for (auto* dock : findChildren<QDockWidget*>()) dock->show();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (runningJobs() > 0) {
        const auto answer = QMessageBox::question(
            this, tr("Jobs are running"), tr("Jobs still running: %1. Cancel them and quit?").arg(runningJobs()));
        if (answer != QMessageBox::Yes) {
            event->ignore();
            return;
        }
    }
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState(kLayoutVersion));
    event->accept();
}

void MainWindow::loadPlugins(const QStringList& extraFolders) {
    std::vector<std::filesystem::path> user;
    for (const auto& f : extraFolders) user.emplace_back(std::filesystem::absolute(f.toStdString()));
    const auto folders = plugin::pluginSearchPath(QApplication::applicationDirPath().toStdString(), user);
    for (const auto& folder : folders) {
        const auto report = loader_->loadFolder(folder);
        for (const auto& file : report.loaded)
            logPanel_->append(jobs::LogLevel::Info, tr("plugins"), tr("loaded %1").arg(QString::fromStdString(file)));
        for (const auto& message : report.refused) {
            refusedPlugins_ << QString::fromStdString(message);
            logPanel_->append(jobs::LogLevel::Warning, tr("plugins"), QString::fromStdString(message));
        }
    }
    runLauncher_->refreshTasks();
    updateSummary();
    updateStatus();
}

bool MainWindow::openWorkspace(const QString& dir, QString* error) {
    try {
        const auto ws = runs::Workspace::open(dir.toStdString());
        auto store = std::make_unique<runs::RunStore>(ws.database());
        runsPanel_->setStore(nullptr);
        lossCurvePanel_->setStore(nullptr);
        sweepPanel_->setStore(nullptr);
        store_ = std::move(store);
        workspacePath_ = QString::fromStdString(ws.root.string());
        widgets::setDialogStartFolder(workspacePath_);
        runLauncher_->setWorkspace(workspacePath_);
        auditPanel_->setDatabase(QString::fromStdString(ws.database().string()));
        dicomBrowser_->setDatabase(QString::fromStdString(ws.database().string()));
        pacsPanel_->setWorkspace(workspacePath_);
        studyBrowser_->setWorkspace(workspacePath_);
        sweepPanel_->setWorkspace(ws.root);
        retrievalPanel_->setWorkspace(ws.root);
    } catch (const std::exception& e) {
        const QString message = QString::fromUtf8(e.what());
        logPanel_->append(jobs::LogLevel::Error, tr("workspace"), message);
        if (error) *error = message;
        return false;
    }
    runsPanel_->setStore(store_.get());
    lossCurvePanel_->setStore(store_.get());
    sweepPanel_->setStore(store_.get());
    storeVersion_ = -1;
    pollStore();  // runs left `running` by a process that died show as interrupted at once
    storeTimer_->start();
    QSettings settings;
    QStringList recent = settings.value("recentWorkspaces").toStringList();
    recent.removeAll(workspacePath_);
    recent.prepend(workspacePath_);
    while (recent.size() > kMaxRecent) recent.removeLast();
    settings.setValue("recentWorkspaces", recent);
    rebuildRecentMenu();
    setWindowTitle(tr("Lumen — %1").arg(workspacePath_));
    logPanel_->append(jobs::LogLevel::Info, tr("workspace"), tr("opened %1").arg(workspacePath_));
    updateSummary();
    updateStatus();
    emit workspaceOpened(workspacePath_);
    return true;
}

void MainWindow::pollStore() {
    if (!store_) return;
    try {
        const auto marked = runs::markInterruptedRuns(*store_, runs::Workspace{workspacePath_.toStdString()});
        for (const auto run : marked)
            logPanel_->append(jobs::LogLevel::Warning, tr("runs"),
                              tr("run %1 was interrupted (its process stopped); it can be resumed from its "
                                 "last checkpoint (Runs panel, right click)")
                                  .arg(run));
        const auto version = store_->dataVersion();
        if (version == storeVersion_ && marked.empty()) return;
        storeVersion_ = version;
        storeError_.clear();
    } catch (const std::exception& e) {
        const QString message = QString::fromUtf8(e.what());
        if (message != storeError_)
            logPanel_->append(jobs::LogLevel::Error, tr("runs"), message);  // once, not every second
        storeError_ = message;
        return;
    }
    runsPanel_->refresh();
    lossCurvePanel_->followStoredRuns();
    studyBrowser_->refreshCamCache();
    updateSummary();
}

void MainWindow::resumeRun(qint64 run) {
    const QString checkpoint = runsPanel_->resumableCheckpoint(run);
    const auto record = store_ ? store_->run(run) : std::nullopt;
    if (checkpoint.isEmpty() || !record) {
        logPanel_->append(jobs::LogLevel::Error, tr("runs"),
                          tr("run %1 cannot be resumed: it has no checkpoints/last.pt").arg(run));
        return;
    }
    try {
        const auto task = registry_.find(record->task);
        if (!task) throw std::runtime_error("task \"" + record->task + "\" is not loaded");
        YAML::Node root = config::parseYaml(record->configYaml, "run " + std::to_string(run));
        root["resume"] = checkpoint.toStdString();
        launchTraining(QString::fromStdString(record->task),
                       config::makeConfig(root, task->schema(), "run " + std::to_string(run)),
                       QString::fromStdString(record->name) + tr(" (resumed)"));
    } catch (const std::exception& e) {
        logPanel_->append(jobs::LogLevel::Error, tr("runs"),
                          tr("run %1 cannot be resumed: %2").arg(run).arg(QString::fromUtf8(e.what())));
    }
}

jobs::JobId MainWindow::submitJob(const QString& kind, const QString& title, jobs::JobFunction work) {
    const jobs::JobId id = pool_->submit(kind.toStdString(), title.toStdString(), std::move(work), bridge_->observer());
    jobsPanel_->addJob(id, kind, title);
    logPanel_->append(jobs::LogLevel::Info, tr("job %1").arg(id), tr("queued: %1").arg(title));
    return id;
}

void MainWindow::openVolume(const QString& path) {
    logPanel_->append(jobs::LogLevel::Info, tr("volume"), tr("opening %1").arg(path));
    volumeViewer_->openPath(path);
    showPage("volume");
}

void MainWindow::openVolumeOverlay(const QString& path) {
    showPage("volume");
    if (!volumeViewer_->isLoading()) {
        logPanel_->append(jobs::LogLevel::Info, tr("volume"), tr("overlay %1").arg(path));
        volumeViewer_->openOverlayPath(path);
        return;
    }
    // A volume is still loading (e.g. `lumen --volume V --overlay O`): overlay it when it is shown.
    auto* once = new QObject(this);
    const auto done = [this, path, once](bool loaded) {
        once->deleteLater();
        if (loaded) openVolumeOverlay(path);
    };
    connect(volumeViewer_, &widgets::VolumeViewer::volumeLoaded, once, [done] { done(true); });
    connect(volumeViewer_, &widgets::VolumeViewer::loadFailed, once, [done] { done(false); });
}

// Each page sits in a scroll area: when the window is smaller than what a page needs (a
// 1280x720 screen), the page scrolls instead of pushing the window's minimum size up.
void MainWindow::showAuditStudy(const QString& id) {
    logPanel_->append(jobs::LogLevel::Info, tr("audit"), tr("study %1 selected").arg(id));
    const auto result = auditPanel_->result();
    if (!result) return;
    if (angioView_->hasStudy(id)) {
        // An angiography study of the open inference: its views, tree and attention, the
        // audit's baseline beside the new values.
        angioView_->setBaseline(result->baseline);
        angioView_->selectStudy(id);
        showPage("angio");
        return;
    }
    // The same study in the study view, with the audit's tables as new / baseline.
    if (studyBrowser_->predictions() != result->newer || studyBrowser_->baseline() != result->baseline)
        studyBrowser_->setTables(result->newer, result->baseline);
    studyBrowser_->selectStudy(id);
    showPage("study");
}

void MainWindow::addPage(QWidget* page, const QString& key, const QString& title) {
    auto* scroll = new QScrollArea;
    scroll->setObjectName("page_" + key);
    scroll->setWidget(page);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setProperty("lumenPage", key);
    pages_->addTab(scroll, title);
}

QWidget* MainWindow::currentPage() const {
    auto* scroll = qobject_cast<QScrollArea*>(pages_->currentWidget());
    return scroll ? scroll->widget() : pages_->currentWidget();
}

bool MainWindow::showPage(const QString& name) {
    for (int i = 0; i < pages_->count(); ++i) {
        if (pages_->widget(i)->property("lumenPage").toString() == name.toLower()) {
            pages_->setCurrentIndex(i);
            return true;
        }
    }
    return false;
}

QWidget* MainWindow::buildMetricsPage() {
    auto* page = new QWidget;
    auto* layout = new QVBoxLayout(page);
    auto* bar = new QHBoxLayout;
    auto* labels = new QLineEdit;
    labels->setObjectName("metricsLabels");
    labels->setPlaceholderText(tr("labels CSV (id + one 0/1 column per label)"));
    auto* preds = new QLineEdit;
    preds->setObjectName("metricsPredictions");
    preds->setPlaceholderText(tr("predictions CSV (id + one probability column per label)"));
    auto browse = [this](QLineEdit* edit) {
        const QString f = widgets::openFileDialog(this, tr("Choose a CSV file"), edit->text(), tr("CSV files (*.csv)"));
        if (!f.isEmpty()) edit->setText(f);
    };
    auto* browseLabels = new QPushButton(tr("Labels…"));
    auto* browsePreds = new QPushButton(tr("Predictions…"));
    auto* load = new QPushButton(tr("Show metrics"));
    load->setObjectName("metricsLoad");
    connect(browseLabels, &QPushButton::clicked, this, [=, this] { browse(labels); });
    connect(browsePreds, &QPushButton::clicked, this, [=, this] { browse(preds); });
    connect(load, &QPushButton::clicked, this, [=, this] {
        QString error;
        if (!metricsPanel_->loadCsv(labels->text().trimmed(), preds->text().trimmed(), &error)) {
            logPanel_->append(jobs::LogLevel::Error, tr("metrics"), error);
            QMessageBox::warning(this, tr("Metrics"), error);
        }
    });
    bar->addWidget(labels, 1);
    bar->addWidget(browseLabels);
    bar->addWidget(preds, 1);
    bar->addWidget(browsePreds);
    bar->addWidget(load);
    layout->addLayout(bar);
    layout->addWidget(metricsPanel_, 1);
    return page;
}

QWidget* MainWindow::buildTrainPage() {
    // Launcher on the left, live curves on the right; the Runs dock feeds the curves too.
    auto* split = new QSplitter(Qt::Horizontal);
    split->setObjectName("trainPage");
    split->addWidget(runLauncher_);
    split->addWidget(lossCurvePanel_);
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 1);
    split->setSizes({470, 900});
    runLauncher_->setRegistry(&registry_);
    {
        QStringList templates;
        const QDir configs(shareFolder("configs"));
        for (const QString& name : configs.entryList({"*.yaml"}, QDir::Files, QDir::Name))
            templates << configs.filePath(name);
        runLauncher_->setTemplates(templates);
    }
    lossCurvePanel_->attach(bridge_);
    connect(runLauncher_, &widgets::RunLauncher::launchRequested, this,
            [this](const QString& task, const config::Config& config, const QString& name) {
                launchTraining(task, config, name);
            });
    auto showError = [this](const QString& error) {
        logPanel_->append(jobs::LogLevel::Error, tr("curves"), error);
        QMessageBox::warning(this, tr("Loss curves"), error);
    };
    connect(runsPanel_, &widgets::RunsPanel::showCurvesRequested, this, [this, showError](qint64 run) {
        QString error;
        if (!lossCurvePanel_->showRun(run, &error)) showError(error);
        showPage("train");
    });
    connect(runsPanel_, &widgets::RunsPanel::compareRequested, this, [this, showError](const QList<qint64>& runs) {
        QString error;
        if (!lossCurvePanel_->compareRuns(runs, &error)) showError(error);
        showPage("train");
    });
    return split;
}

jobs::JobId MainWindow::launchTraining(const QString& taskId, const config::Config& config, const QString& runName) {
    const auto task = registry_.find(taskId.toStdString());
    QString error;
    if (workspacePath_.isEmpty()) error = tr("Open or create a workspace first: runs are recorded in it.");
    else if (!task) error = tr("Task \"%1\" is not registered.").arg(taskId);
    if (!error.isEmpty()) {
        logPanel_->append(jobs::LogLevel::Error, tr("train"), error);
        QMessageBox::warning(this, tr("Launch"), error);
        return 0;
    }
    const bool inferOnly = task->guiHints().inferenceOnly;  // e.g. torchscript: Launch runs its inference
    if (!inferOnly && runLauncher_->processes() > 1)
        return launchDataParallel(config, runName, runLauncher_->processes());
    plugin::TaskRunRequest request;
    request.operation = inferOnly ? plugin::Operation::Infer : plugin::Operation::Train;
    request.config = config;
    request.workspace = workspacePath_.toStdString();
    request.name = runName.toStdString();
    const QString label = runName.isEmpty() ? taskId + (inferOnly ? " infer" : " train") : runName;
    // The panel outlives every job: the pool is destroyed (jobs joined) before it.
    widgets::RunsPanel* runs = runsPanel_;
    auto created = std::make_shared<std::atomic<std::int64_t>>(0);
    const jobs::JobId id =
        submitJob(inferOnly ? "infer" : "train", (inferOnly ? tr("Infer %1") : tr("Train %1")).arg(label),
                  [task, request, runs, created](jobs::JobContext& job) {
                      // The run row exists from here on: show it (as running) in the Runs table.
                      const auto onRunCreated = [runs, created](std::int64_t run, const std::filesystem::path&) {
                          *created = run;
                          QMetaObject::invokeMethod(
                              runs, [runs] { runs->refresh(); }, Qt::QueuedConnection);
                      };
                      return plugin::runTask(*task, request, job, onRunCreated).summary;
                  });
    if (inferOnly) {  // no curves: its predictions open in the Study view when it is done
        afterJobSucceeds(id, [this, created] {
            runsPanel_->refresh();
            openRunInStudy(*created);
        });
        return id;
    }
    // Events are delivered on this thread after this returns, so no point is missed. Runs
    // still streaming in stay (overlaid); finished ones make room for the new run.
    if (!lossCurvePanel_->hasLiveRuns()) lossCurvePanel_->clearRuns();
    const double clip = config.has("max_grad_norm") ? config.get<double>("max_grad_norm") : 0.0;
    lossCurvePanel_->watchJob(id, label + tr(" (live)"), clip);
    showPage("train");
    return id;
}

jobs::JobId MainWindow::launchDataParallel(const config::Config& config, const QString& runName, int processes) {
    const auto dir = std::filesystem::path(workspacePath_.toStdString()) / "configs";
    const auto stamp = QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss-zzz").toStdString();
    const auto file = dir / ("data-parallel-" + stamp + ".yaml");
    try {
        std::filesystem::create_directories(dir);
        util::writeFileAtomically(file, config.toYaml());
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Launch"), QString::fromStdString(e.what()));
        return 0;
    }
    QStringList args{
        "train",       "--nproc",     QString::number(processes), "--config", QString::fromStdString(file.string()),
        "--workspace", workspacePath_};
    if (!runName.isEmpty()) args << "--name" << runName;
    widgets::RunsPanel* runs = runsPanel_;
    const QString title =
        tr("Train %1 (%2 processes)")
            .arg(runName.isEmpty() ? QString::fromStdString(config.get<std::string>("task")) : runName)
            .arg(processes);
    auto run = std::make_shared<std::atomic<std::int64_t>>(0);
    const auto id = submitJob("train", title, [args, runs, run](jobs::JobContext& job) {
        const std::string result = app::runCliJob(args, job, [runs] {
            QMetaObject::invokeMethod(
                runs, [runs] { runs->refresh(); }, Qt::QueuedConnection);
        });
        if (result.rfind("run ", 0) == 0) *run = std::atoll(result.c_str() + 4);  // "run N: trained ..."
        return result;
    });
    logPanel_->append(jobs::LogLevel::Info, tr("train"), tr("data-parallel: lumen-cli %1").arg(args.join(' ')));
    // Its curves once rank 0 has recorded them all (the ranks are other processes: the Jobs
    // panel follows their progress meanwhile).
    afterJobSucceeds(id, [this, run] {
        runsPanel_->refresh();
        QString error;
        if (*run > 0 && !lossCurvePanel_->showRun(*run, &error))
            logPanel_->append(jobs::LogLevel::Warning, tr("curves"), error);
    });
    showPage("train");
    return id;
}

void MainWindow::addSweepAndRetrievalPages() {
    sweepPanel_ = new widgets::SweepPanel;
    addPage(sweepPanel_, "sweeps", tr("Sweeps"));
    connect(sweepPanel_, &widgets::SweepPanel::runSweepRequested, this, [this](const QString& f) { launchSweep(f); });
    connect(sweepPanel_, &widgets::SweepPanel::runActivated, this, [this](qint64 run) {
        runsPanel_->selectRuns({run});
        QString error;
        if (!lossCurvePanel_->showRun(run, &error)) logPanel_->append(jobs::LogLevel::Warning, tr("curves"), error);
    });
    retrievalPanel_ = new widgets::RetrievalPanel;
    addPage(retrievalPanel_, "retrieval", tr("Retrieval"));
    connect(retrievalPanel_, &widgets::RetrievalPanel::queryRequested, this,
            [this](const QString& dir, const QString& text) { launchRetrieval(dir, text); });
}

jobs::JobId MainWindow::launchRetrieval(const QString& indexDir, const QString& text) {
    const QStringList args{"retrieve",
                           "--index",
                           indexDir,
                           "--text",
                           text,
                           "--workspace",
                           workspacePath_.isEmpty() ? QString(".") : workspacePath_};
    const auto id = submitJob("retrieve", tr("Retrieve \"%1\"").arg(text.left(40)),
                              [args](jobs::JobContext& job) { return app::runCliJob(args, job); });
    afterJobSucceeds(id, [this, indexDir] {
        const QString error = retrievalPanel_->showQueryResult(indexDir);
        if (!error.isEmpty()) logPanel_->append(jobs::LogLevel::Warning, tr("retrieval"), error);
    });
    return id;
}

jobs::JobId MainWindow::launchSweep(const QString& sweepFile) {
    if (workspacePath_.isEmpty()) {
        QMessageBox::information(this, tr("Sweep"), tr("Open a workspace first: the trials are its runs."));
        return 0;
    }
    const QStringList args{"sweep", "--config", sweepFile, "--workspace", workspacePath_};
    widgets::RunsPanel* runs = runsPanel_;
    widgets::SweepPanel* sweeps = sweepPanel_;
    const auto id = submitJob("sweep", tr("Sweep %1").arg(QFileInfo(sweepFile).completeBaseName()),
                              [args, runs, sweeps](jobs::JobContext& job) {
                                  return app::runCliJob(args, job, [runs, sweeps] {
                                      QMetaObject::invokeMethod(
                                          runs,
                                          [runs, sweeps] {
                                              runs->refresh();
                                              sweeps->refresh();
                                          },
                                          Qt::QueuedConnection);
                                  });
                              });
    logPanel_->append(jobs::LogLevel::Info, tr("sweep"), tr("lumen-cli %1").arg(args.join(' ')));
    afterJobSucceeds(id, [this] { sweepPanel_->refresh(); });
    showPage("sweeps");
    return id;
}

int MainWindow::runningJobs() const { return jobsPanel_->runningCount(); }

QStringList MainWindow::recentWorkspaces() const { return QSettings().value("recentWorkspaces").toStringList(); }

void MainWindow::rebuildRecentMenu() {
    recentMenu_->clear();
    const QStringList recent = recentWorkspaces();
    for (const QString& dir : recent)
        recentMenu_->addAction(dir, this, [this, dir] {
            QString error;
            if (!openWorkspace(dir, &error)) QMessageBox::warning(this, tr("Open workspace"), error);
        });
    recentMenu_->setEnabled(!recent.isEmpty());
}

void MainWindow::chooseWorkspace(bool create) {
    const QString dir =
        widgets::folderDialog(this, create ? tr("New workspace: choose an empty folder") : tr("Open workspace"));
    if (dir.isEmpty()) return;
    if (!create && !runs::Workspace::isWorkspace(dir.toStdString())) {
        const auto answer = QMessageBox::question(this, tr("Open workspace"),
                                                  tr("%1 is not a Lumen workspace yet. Make it one?").arg(dir));
        if (answer != QMessageBox::Yes) return;
    }
    QString error;
    if (!openWorkspace(dir, &error)) QMessageBox::warning(this, tr("Open workspace"), error);
}

void MainWindow::updateSummary() {
    widgets::WorkspaceSummary s;
    s.path = workspacePath_;
    if (store_) {
        try {
            s.runs = int(store_->runs().size());
        } catch (const std::exception&) {
        }
    }
    for (const auto& id : registry_.ids()) s.tasks << QString::fromStdString(id);
    s.refusedPlugins = refusedPlugins_;
    s.isDemo = !workspacePath_.isEmpty() && workspacePath_ == demoWorkspacePath();
    workspaceView_->setSummary(s);
}

void MainWindow::updateStatus() {
    workspaceLabel_->setText(workspacePath_.isEmpty() ? tr("No workspace open")
                                                      : tr("Workspace: %1").arg(workspacePath_));
    const int running = runningJobs();
    const int tasks = int(registry_.ids().size());
    jobsLabel_->setText((tasks == 1 ? tr("1 task") : tr("%1 tasks").arg(tasks)) + "  ·  " +
                        (running == 0   ? tr("idle")
                         : running == 1 ? tr("1 job running")
                                        : tr("%1 jobs running").arg(running)));
}

void MainWindow::showEnvironment() {
    QDialog dialog(this);
    dialog.setWindowTitle(tr("Environment"));
    auto* layout = new QVBoxLayout(&dialog);
    auto* text = new QPlainTextEdit(QString::fromStdString(fullEnvironment(&registry_).dump(2)));
    text->setReadOnly(true);
    layout->addWidget(text);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    layout->addWidget(buttons);
    dialog.resize(640, 520);
    dialog.exec();
}

}  // namespace lumen::app
