#pragma once
// Slurm jobs seen from the GUI (docs/slurm.md, "In the GUI"): SlurmMonitor polls the jobs'
// states every few seconds with QProcess (one squeue for all of them, then scontrol and sacct
// for jobs squeue no longer knows), never blocking the GUI thread; SlurmLogDialog shows a
// job's slurm-<id>.out and follows it while it grows.

#include "slurm/job_state.h"

#include <QDialog>
#include <QHash>
#include <QList>
#include <QObject>
#include <QSet>
#include <QStringList>
#include <QTimer>

class QLabel;
class QPlainTextEdit;
class QProcess;

namespace lumen::widgets {

class SlurmMonitor : public QObject {
    Q_OBJECT
public:
    explicit SlurmMonitor(QObject* parent = nullptr, int intervalMs = 4000);
    ~SlurmMonitor() override;

    /// The jobs to follow; polled at once when new ones appear, then every interval. Empty
    /// stops polling.
    void setJobs(const QList<qint64>& jobs);
    QList<qint64> jobs() const { return jobs_; }
    /// The last state known of a job (state "" while unknown; `problems` then says why).
    slurm::JobState state(qint64 job) const { return states_.value(job); }
    /// True once a poll has finished with an answer, or no answer, for the job.
    bool asked(qint64 job) const { return asked_.contains(job); }
    /// Starts a poll now unless one is running.
    void pollNow();

signals:
    /// After a poll that changed any job's state.
    void statesChanged();

private:
    void runNext();
    void finishStep(int exitCode, bool started);
    void finishPoll();

    QTimer timer_;
    QList<qint64> jobs_;
    QHash<qint64, slurm::JobState> states_;
    QSet<qint64> asked_;
    // The poll in progress: the commands still to run and what has been learnt so far.
    QProcess* process_ = nullptr;
    QList<QStringList> steps_;
    QList<qint64> stepJobs_;  // the job each step asks about (0: the squeue for all)
    QHash<qint64, slurm::JobState> answers_;
    QHash<qint64, QString> problems_;
    bool changed_ = false;
};

/// A job's output file, re-read every 2 s while the dialog is open (appended text only).
class SlurmLogDialog : public QDialog {
    Q_OBJECT
public:
    SlurmLogDialog(const QString& file, qint64 job, QWidget* parent = nullptr);
    QString text() const;
    /// Reads what the file gained since the last read.
    void reload();

private:
    QString file_;
    qint64 offset_ = 0;
    QLabel* where_;
    QPlainTextEdit* text_;
    QTimer timer_;
};

}  // namespace lumen::widgets
