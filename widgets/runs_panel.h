#pragma once
// The Runs panel: the workspace's runs from the run store, newest first, sortable: status,
// task, short config hash, best metric, duration. Context menu: open the run's folder, show
// its curves, compare the selected runs, resume, infer, explain, open its predictions in the
// Study view, export and delete (the main window carries them out). Runs submitted to Slurm
// (param slurm.job_id) show their job's state in the Slurm column (SlurmMonitor, docs/slurm.md)
// and offer "Cancel Slurm job" and "Show Slurm log".

#include "report/card_document.h"

#include <QHash>
#include <QList>
#include <QWidget>

#include <vector>

class QMenu;
class QTableWidget;

namespace lumen::runs {
class RunStore;
struct RunRecord;
}  // namespace lumen::runs

namespace lumen::widgets {

class SlurmMonitor;

class RunsPanel : public QWidget {
    Q_OBJECT
public:
    explicit RunsPanel(QWidget* parent = nullptr);

    /// The store to read (not owned; null shows nothing). Reads happen on the GUI thread
    /// through the store's own connection; writers elsewhere do not block it (WAL).
    void setStore(runs::RunStore* store);
    /// Re-reads the runs; keeps the selection. Errors are shown in the panel, not thrown.
    void refresh();

    int rowCount() const;
    QString cellText(int row, const QString& column) const;
    QTableWidget* table() const { return table_; }
    /// Run ids of the selected rows, in table order.
    QList<qint64> selectedRunIds() const;
    /// Selects the rows of these runs.
    void selectRuns(const QList<qint64>& ids);
    /// The run's folder `<workspace>/runs/<id>_<task>` ("" when unknown).
    QString runFolder(qint64 run) const;
    /// The run's checkpoints/last.pt when it can be resumed (interrupted, failed or cancelled,
    /// with that file), else "".
    QString resumableCheckpoint(qint64 run) const;
    /// A finished run's artifact of `kind` ("best_checkpoint", "predictions", "roi_vis", …)
    /// when its file or folder exists, else "" (the newest when a run recorded several).
    QString artifact(qint64 run, const QString& kind) const;
    /// The context menu for the current selection (caller owns it); built, not shown.
    QMenu* makeContextMenu();
    /// Writes run `run`'s model card (.pdf/.html/.md by extension, report/model_card.h) from
    /// the open workspace; "" on success, else the error naming the run or file.
    QString exportModelCard(qint64 run, const QString& file);

    /// The "best metric" of a run as shown: the largest `val.auroc*`/`val.acc*`/`val.f1*`/
    /// `val.dice*`, else the smallest `val.loss`, else the smallest `loss` ("" when none).
    static QString bestMetricText(runs::RunStore& store, qint64 run);

    /// The run's Slurm job id (0: none).
    qint64 slurmJob(qint64 run) const { return slurmJobs_.value(run); }
    /// <run folder>/slurm-<job>.out of a Slurm run ("" when it has no job).
    QString slurmLogFile(qint64 run) const;
    SlurmMonitor* slurmMonitor() const { return slurm_; }
    /// Opens the dialog following the run's Slurm output (objectName "slurmLogDialog").
    void showSlurmLog(qint64 run);

signals:
    void runActivated(qint64 run);
    void showCurvesRequested(qint64 run);
    void compareRequested(const QList<qint64>& runs);
    /// "Resume from last checkpoint" on a run resumableCheckpoint() accepts.
    void resumeRequested(qint64 run);
    /// "Infer…" on a finished training run (it has a best checkpoint).
    void inferRequested(qint64 run);
    /// "Explain…" on a finished inference run (it has predictions).
    void explainRequested(qint64 run);
    /// "Open in Study view" on a run with predictions.
    void openInStudyRequested(qint64 run);
    /// "Benchmark inference…" on a run with a TorchScript model (a training run's export, or a
    /// torchscript-task run's model).
    void benchmarkRequested(qint64 run);
    /// "Export…" on one run.
    void exportRequested(qint64 run);
    /// "Delete…" on the selected runs (not yet confirmed).
    void deleteRequested(const QList<qint64>& runs);
    /// After the Best column was filled in (it is read off the GUI thread).
    void bestMetricsRead();
    /// "Cancel Slurm job" on a run whose job has not ended.
    void cancelSlurmRequested(qint64 run);
    /// After the Slurm column was updated from a poll.
    void slurmStatesShown();

private:
    void addModelActions(QMenu* menu, qint64 run);
    void addFileActions(QMenu* menu, const QList<qint64>& ids);
    void addSlurmActions(QMenu* menu, qint64 run);
    report::CardDocument buildCard(qint64 run) const;
    /// Reads the runs' job ids and tells the monitor which jobs to follow.
    void followSlurmJobs(const std::vector<runs::RunRecord>& records);
    /// Fills the Slurm column from the monitor; records the end of runs whose job ended
    /// without a rank recording it (slurm::recordJobEnd).
    void showSlurmStates();

    QTableWidget* table_;
    runs::RunStore* store_ = nullptr;
    QHash<qint64, QString> bestCache_;  // finished runs only: their metrics no longer change
    QHash<qint64, qint64> slurmJobs_;   // run → Slurm job
    SlurmMonitor* slurm_;
};

}  // namespace lumen::widgets
