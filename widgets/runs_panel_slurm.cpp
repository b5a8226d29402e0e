// The Runs panel's Slurm part (docs/slurm.md, "In the GUI"): the Slurm column, the jobs the
// monitor follows, the runs whose job ended without a rank recording it, and the Slurm actions
// of the context menu.
#include "runs_panel.h"

#include "runs/run_store.h"
#include "slurm/slurm_run.h"
#include "slurm_monitor.h"

#include <QAction>
#include <QFileInfo>
#include <QHeaderView>
#include <QMenu>
#include <QMetaObject>
#include <QTableWidget>

namespace lumen::widgets {
namespace {

constexpr int kIdColumn = 0, kStatusColumn = 3, kSlurmColumn = 4;  // as in runs_panel.cpp

QString stateText(qint64 job, const slurm::JobState& s) {
    QString text = QObject::tr("job %1").arg(job);
    if (!s.known()) return text;
    text += " " + QString::fromStdString(s.state);
    if (!s.reason.empty() && s.reason != "None") text += " (" + QString::fromStdString(s.reason) + ")";
    return text;
}

}  // namespace

QString RunsPanel::slurmLogFile(qint64 run) const {
    const qint64 job = slurmJob(run);
    const QString folder = runFolder(run);
    if (job <= 0 || folder.isEmpty()) return {};
    return QString::fromStdString(slurm::jobOutputFile(folder.toStdString(), job).string());
}

void RunsPanel::showSlurmLog(qint64 run) {
    const QString file = slurmLogFile(run);
    if (file.isEmpty()) return;
    auto* dialog = new SlurmLogDialog(file, slurmJob(run), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show();
}

void RunsPanel::followSlurmJobs(const std::vector<runs::RunRecord>& records) {
    slurmJobs_.clear();
    try {
        for (const auto& [run, value] : store_->paramOfRuns(slurm::kJobIdParam)) {
            const qint64 job = QString::fromStdString(value).toLongLong();
            if (job > 0) slurmJobs_.insert(run, job);
        }
    } catch (const std::exception&) {
        // No Slurm column this time; the error surfaces when the runs are read again.
    }
    table_->setColumnHidden(kSlurmColumn, slurmJobs_.isEmpty());
    // Follow a job while its run may still change, or Slurm may still say something new: until
    // the run ended and the job's state is final (or, for a run that ended, unknown once asked).
    QList<qint64> follow;
    for (const auto& r : records) {
        const qint64 job = slurmJobs_.value(r.id);
        if (job <= 0) continue;
        const auto state = slurm_->state(job);
        const bool runOver = runs::isTerminal(r.status);
        const bool jobOver = state.known() ? slurm::isFinalState(state.state) : slurm_->asked(job);
        if (!runOver || !jobOver) follow << job;
    }
    slurm_->setJobs(follow);
    showSlurmStates();
}

void RunsPanel::showSlurmStates() {
    bool recorded = false;
    const runs::Workspace ws{store_ ? store_->file().parent_path() : std::filesystem::path()};
    for (int row = 0; row < table_->rowCount(); ++row) {
        QTableWidgetItem* id = table_->item(row, kIdColumn);
        QTableWidgetItem* cell = table_->item(row, kSlurmColumn);
        if (!id || !cell) continue;
        const qint64 run = id->data(Qt::UserRole).toLongLong();
        const qint64 job = slurmJob(run);
        if (job <= 0) continue;
        const auto state = slurm_->state(job);
        cell->setText(stateText(job, state));
        cell->setToolTip(
            state.known()
                ? tr("Slurm job %1: %2 (from %3)")
                      .arg(job)
                      .arg(QString::fromStdString(state.state), QString::fromStdString(state.source))
                : tr("Slurm job %1: state unknown\n%2").arg(job).arg(QString::fromStdString(state.problems).trimmed()));
        const QTableWidgetItem* status = table_->item(row, kStatusColumn);
        if (!store_ || !status || !slurm::isFinalState(state.state)) continue;
        if (runs::isTerminal(runs::runStatusFromName(status->text().toStdString()))) continue;
        try {
            recorded = slurm::recordJobEnd(*store_, ws, run, job, state).has_value() || recorded;
        } catch (const std::exception&) {
            // Read-only workspace or a busy database: shown again at the next poll.
        }
    }
    if (recorded) QMetaObject::invokeMethod(this, &RunsPanel::refresh, Qt::QueuedConnection);
    emit slurmStatesShown();
}

// Cancel Slurm job (a job not known to have ended) and Show Slurm log (once the job wrote it).
void RunsPanel::addSlurmActions(QMenu* menu, qint64 run) {
    const qint64 job = slurmJob(run);
    if (job <= 0) return;
    menu->addSeparator();
    const auto state = slurm_->state(job);
    const auto record = store_ ? store_->run(run) : std::nullopt;
    const bool ended = state.known() ? slurm::isFinalState(state.state) : record && runs::isTerminal(record->status);
    QAction* cancel = menu->addAction(tr("Cancel Slurm job %1").arg(job));
    cancel->setObjectName("runsSlurmCancel");
    cancel->setEnabled(!ended);
    cancel->setToolTip(ended ? tr("The job has ended")
                             : tr("scancel %1: the ranks save last.pt and the run is recorded cancelled").arg(job));
    connect(cancel, &QAction::triggered, this, [this, run] { emit cancelSlurmRequested(run); });
    const QString log = slurmLogFile(run);
    QAction* show = menu->addAction(tr("Show Slurm log"));
    show->setObjectName("runsSlurmLog");
    show->setEnabled(QFileInfo::exists(log));
    show->setToolTip(QFileInfo::exists(log) ? log : tr("%1 is not written yet (the job has not started)").arg(log));
    connect(show, &QAction::triggered, this, [this, run] { showSlurmLog(run); });
}

}  // namespace lumen::widgets
