#pragma once
// Carries a job's events from the worker thread that runs it to the GUI thread: the
// observer it hands out posts each event to the bridge's thread, where it is re-emitted as
// a signal. Panels connect to the signals and never see a worker thread.

#include "jobs/job.h"
#include "jobs/job_pool.h"

#include <QObject>
#include <QString>

#include <functional>
#include <memory>

namespace lumen::widgets {

/// How a panel starts work without owning a pool: the main window passes its submitJob.
using JobSubmitter = std::function<jobs::JobId(const QString& kind, const QString& title, jobs::JobFunction)>;

class JobEventBridge : public QObject {
    Q_OBJECT
public:
    explicit JobEventBridge(QObject* parent = nullptr);
    ~JobEventBridge() override;

    /// The observer to pass to JobPool::submit. It may outlive the bridge: events that
    /// arrive after the bridge is gone are dropped.
    std::shared_ptr<jobs::JobObserver> observer() const { return observer_; }

signals:
    void started(quint64 job);
    /// `etaSeconds` < 0 when no estimate exists yet.
    void progress(quint64 job, double fraction, const QString& message, double etaSeconds);
    void metric(quint64 job, const QString& key, qint64 step, double value);
    void logLine(quint64 job, int level, const QString& message);
    void artifact(quint64 job, const QString& kind, const QString& path);
    void finished(quint64 job, const QString& result);
    void failed(quint64 job, const QString& error);
    void cancelled(quint64 job);
    /// After any of finished / failed / cancelled.
    void ended(quint64 job);

private:
    /// Delivers queued events in order, for at most a few milliseconds per call.
    void drain();

    struct Shared;
    class Observer;
    std::shared_ptr<Shared> shared_;
    std::shared_ptr<jobs::JobObserver> observer_;
};

}  // namespace lumen::widgets
