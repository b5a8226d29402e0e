#pragma once
// Lumen's main window: dockable Jobs, Runs and Log panels around the workspace overview,
// menus, status bar, workspace handling and the job pool. Wiring only: the work lives in
// core, the panels in widgets.

#include "jobs/job_pool.h"
#include "plugin/plugin_loader.h"

#include <QMainWindow>
#include <QStringList>

#include <functional>
#include <memory>

class QLabel;
class QMenu;
class QTabWidget;
class QTimer;

namespace lumen::explain {
struct CamJobOptions;
}
namespace lumen::runs {
class RunStore;
struct RunRecord;
}  // namespace lumen::runs

namespace lumen::widgets {
class JobEventBridge;
class UserGuideDialog;
class JobsPanel;
class LogPanel;
class LossCurvePanel;
class AuditPanel;
class RunLauncher;
class DicomBrowser;
class MetricsPanel;
class PacsPanel;
class RunsPanel;
class StudyBrowser;
class AngioStudyView;
class SweepPanel;
class RetrievalPanel;
class VolumeViewer;
class WorkspaceView;
}  // namespace lumen::widgets

namespace lumen::app {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Loads the plugins from the install's folder and `extraFolders`; refusals go to the log.
    void loadPlugins(const QStringList& extraFolders = {});
    /// Opens (creating if needed) the workspace folder; on failure shows nothing but
    /// returns false with `error` set and logs it.
    bool openWorkspace(const QString& dir, QString* error = nullptr);
    /// Opens the demo workspace in the user's data folder, generating it first (as a job,
    /// whose id is returned; 0 when it exists) when it is missing or incomplete. The Study
    /// page then shows the demo model's predictions with heatmaps and masks; the first time,
    /// prepareDemoModel() makes them.
    jobs::JobId openDemoWorkspace();
    /// Trains the demo's chest X-ray model (the roi_consistency_demo template), runs it on the
    /// test images, explains them and opens them in the Study page: four visible jobs, each
    /// started when the previous one succeeded. Returns the training job (0: not possible,
    /// logged).
    jobs::JobId prepareDemoModel();
    /// Calls `next` on the GUI thread once job `id` finished successfully (never when it failed
    /// or was cancelled; nothing for id 0).
    void afterJobSucceeds(jobs::JobId id, const std::function<void()>& next);
    void addSweepAndRetrievalPages();
    static QString demoWorkspacePath();
    /// share/lumen/<name> beside the executable's bin/ (installed, or the build tree's copy):
    /// "configs" (the Train page's templates), "docs" (the user guide).
    static QString shareFolder(const QString& name);
    /// Help → User guide (F1), at `document` when given (a file name such as "gui.md").
    widgets::UserGuideDialog* showUserGuide(const QString& document = {});

    /// Submits work to the pool and shows it in the Jobs panel.
    jobs::JobId submitJob(const QString& kind, const QString& title, jobs::JobFunction work);

    QString workspacePath() const { return workspacePath_; }
    QStringList recentWorkspaces() const;
    int runningJobs() const;
    widgets::JobsPanel* jobsPanel() const { return jobsPanel_; }
    widgets::RunsPanel* runsPanel() const { return runsPanel_; }
    widgets::LogPanel* logPanel() const { return logPanel_; }
    widgets::WorkspaceView* workspaceView() const { return workspaceView_; }
    widgets::AuditPanel* auditPanel() const { return auditPanel_; }
    widgets::MetricsPanel* metricsPanel() const { return metricsPanel_; }
    widgets::RunLauncher* runLauncher() const { return runLauncher_; }
    widgets::LossCurvePanel* lossCurvePanel() const { return lossCurvePanel_; }
    /// Queues a training job for a registered task (plugin::runTask in the open workspace) and
    /// shows its curves live; 0 (and a logged error) without a workspace or with an unknown task.
    jobs::JobId launchTraining(const QString& taskId, const config::Config& config, const QString& runName);
    /// `processes` data-parallel ranks of a training, as lumen-cli processes (the launcher's
    /// "Processes" box above 1): the config is saved under <workspace>/configs/ and the run,
    /// recorded by rank 0, appears in the Runs panel; the job relays progress and cancel.
    jobs::JobId launchDataParallel(const config::Config& config, const QString& runName, int processes);
    widgets::DicomBrowser* dicomBrowser() const { return dicomBrowser_; }
    widgets::PacsPanel* pacsPanel() const { return pacsPanel_; }
    widgets::StudyBrowser* studyBrowser() const { return studyBrowser_; }
    widgets::AngioStudyView* angioView() const { return angioView_; }
    widgets::SweepPanel* sweepPanel() const { return sweepPanel_; }
    /// Runs `lumen-cli sweep --config FILE --workspace <open workspace>` as a job (docs/sweeps.md);
    /// the Sweeps page follows it. Returns the job id (0 when no workspace is open).
    jobs::JobId launchSweep(const QString& sweepFile);
    widgets::RetrievalPanel* retrievalPanel() const { return retrievalPanel_; }
    /// Runs `lumen-cli retrieve --index DIR --text TEXT` as a job; the Retrieval page shows the
    /// images it found (docs/contrastive.md).
    jobs::JobId launchRetrieval(const QString& indexDir, const QString& text);
    widgets::VolumeViewer* volumeViewer() const { return volumeViewer_; }
    /// Loads a NIfTI file, DICOM file or DICOM series folder into the Volume page (as a job)
    /// and brings the page to the front.
    void openVolume(const QString& path);
    /// Overlays a NIfTI heatmap or mask on the Volume page's volume (once a load in progress
    /// has finished); errors go to the log.
    void openVolumeOverlay(const QString& path);
    /// Opens the demo workspace's first CT (generating the demo first when needed).
    void openDemoCt();
    /// Brings a central page to the front by its key ("workspace", "data", "dicom", "pacs",
    /// "volume", "train", "audit", "study", "metrics"); false if unknown.
    bool showPage(const QString& name);
    /// The page in front (the widget added with addPage, not its scroll area).
    QWidget* currentPage() const;
    /// Runs panel actions (docs/gui.md, "From a run"). Infer: the run's config and best
    /// checkpoint on `split` (empty: the user picks test, validation, every row, another
    /// manifest or a folder), or on `manifest`'s rows, as a recorded run.
    jobs::JobId inferFromRun(qint64 run, const QString& split = {}, const QString& manifest = {});
    /// Lists the images of `folder` in <workspace>/manifests/folders/<name>.csv (unlabelled,
    /// for Infer… on a folder); "" with the error logged and shown when it has none.
    QString manifestForFolder(const QString& folder);
    /// Grad-CAM of an inference run's images with the model it used, into the workspace's CAM
    /// cache; `labels` as explain's --labels (empty: the user is asked, top:2 offered).
    jobs::JobId explainRun(qint64 run, const QString& labels = {});
    /// The inference benchmark of a run's TorchScript model (batch 1, 4, 16) as a job; the table
    /// opens in a dialog and goes to <workspace>/bench/bench_infer_run<ID>.json.
    jobs::JobId benchmarkRun(qint64 run);
    /// The run's predictions in the Study page with the workspace's images, the run's masks
    /// and the newest CAM cache; false (logged) when it has none.
    bool openRunInStudy(qint64 run);
    /// Copies the run's config, model, reports and predictions into `folder` (empty: the
    /// user picks one, starting in the workspace); returns the export folder ("" on failure,
    /// logged and shown).
    QString exportRun(qint64 run, const QString& folder = {});
    /// Deletes the runs (rows and folders) after the user confirms ("deleteRunsDialog");
    /// `confirmed` skips the question. Returns how many were deleted; refusals are logged.
    int deleteRuns(const QList<qint64>& runs, bool confirmed = false);
    /// "Cancel Slurm job" (docs/slurm.md): after the user confirms ("slurmCancelDialog";
    /// `confirmed` skips the question) runs `scancel JOB` without blocking; the outcome goes to
    /// the log and the Runs panel shows the run cancelled once the ranks or the poll record it.
    /// False when the run has no Slurm job or the user said no.
    bool cancelSlurmJob(qint64 run, bool confirmed = false);
    jobs::JobPool& pool() { return *pool_; }
    const plugin::Registry& registry() const { return registry_; }

signals:
    void workspaceOpened(const QString& dir);
    void jobEnded(quint64 job);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    /// A study picked in the audit: the Angio study page when the open angio inference has it,
    /// else the Study page with the audit's tables as new / baseline.
    void showAuditStudy(const QString& id);
    void buildMenus();
    void rebuildRecentMenu();
    void updateSummary();
    void updateStatus();
    void chooseWorkspace(bool create);
    /// Every second: runs another process wrote, interrupted runs, new CAM caches.
    void pollStore();
    /// Trains the run's task again from its checkpoints/last.pt (Runs panel action).
    void resumeRun(qint64 run);
    void logRunError(qint64 run, const QString& action, const QString& why);
    void showDemoStudies();
    struct InferChoice {
        QString split;     ///< a split name; "*" = every row
        QString manifest;  ///< another manifest CSV ("" = the run's own data)
    };
    bool askInferInput(const plugin::Task& task, const runs::RunRecord& record, InferChoice& chosen);
    bool askExplainOptions(explain::CamJobOptions& o);
    void showEnvironment();
    QWidget* buildMetricsPage();
    QWidget* buildTrainPage();
    /// Adds a page that showPage(key) (and `lumen --show key`) can bring to the front.
    void addPage(QWidget* page, const QString& key, const QString& title);
    void restoreLayout();
    void resetLayout();

    plugin::Registry registry_;
    std::unique_ptr<plugin::PluginLoader> loader_;
    QStringList refusedPlugins_;
    std::unique_ptr<runs::RunStore> store_;
    QTimer* storeTimer_ = nullptr;
    std::int64_t storeVersion_ = -1;  // PRAGMA data_version at the last refresh
    QString storeError_;              // the last poll error logged
    QString workspacePath_;
    widgets::UserGuideDialog* userGuide_ = nullptr;

    widgets::JobEventBridge* bridge_;
    widgets::WorkspaceView* workspaceView_;
    widgets::AuditPanel* auditPanel_;
    widgets::MetricsPanel* metricsPanel_;
    widgets::DicomBrowser* dicomBrowser_;
    widgets::PacsPanel* pacsPanel_;
    widgets::StudyBrowser* studyBrowser_ = nullptr;
    widgets::AngioStudyView* angioView_ = nullptr;
    widgets::SweepPanel* sweepPanel_ = nullptr;
    widgets::RetrievalPanel* retrievalPanel_ = nullptr;
    widgets::VolumeViewer* volumeViewer_ = nullptr;
    widgets::RunLauncher* runLauncher_;
    widgets::LossCurvePanel* lossCurvePanel_;
    QTabWidget* pages_;
    widgets::JobsPanel* jobsPanel_;
    widgets::RunsPanel* runsPanel_;
    widgets::LogPanel* logPanel_;
    QMenu* recentMenu_ = nullptr;
    QMenu* viewMenu_ = nullptr;
    QLabel* workspaceLabel_;
    QLabel* jobsLabel_;
    QByteArray defaultState_;
    // Last member: destroyed first, so running jobs are cancelled and joined while the
    // bridge, store and panels they report to still exist.
    std::unique_ptr<jobs::JobPool> pool_;
};

}  // namespace lumen::app
