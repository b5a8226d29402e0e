#pragma once
// A job: one long piece of work (import, train, infer, audit, ...) run on the worker pool,
// with a cancellation token and an observer that receives everything it reports.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace lumen::jobs {

using JobId = std::uint64_t;

enum class JobState { Queued, Running, Finished, Failed, Cancelled };
std::string jobStateName(JobState state);
bool isTerminal(JobState state);

/// Thrown by CancellationToken::throwIfCancelled(); the pool reports it as `cancelled`.
class Cancelled : public std::runtime_error {
public:
    Cancelled() : std::runtime_error("cancelled") {}
};

/// Shared flag that a job polls. Copies share the same flag.
class CancellationToken {
public:
    CancellationToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
    void cancel() { flag_->store(true, std::memory_order_relaxed); }
    bool isCancelled() const { return flag_->load(std::memory_order_relaxed); }
    void throwIfCancelled() const {
        if (isCancelled()) throw Cancelled();
    }

private:
    std::shared_ptr<std::atomic<bool>> flag_;
};

struct Progress {
    double fraction = 0.0;  ///< 0..1
    std::string message;
    std::optional<double> etaSeconds;  ///< unknown until some progress was made
};

enum class LogLevel { Debug, Info, Warning, Error };
std::string logLevelName(LogLevel level);

/// Receives a job's events. Called from the worker thread that runs the job; for one job
/// the calls are sequential and ordered: started, then any number of progress / metric /
/// log / artifact, then exactly one of finished / failed / cancelled.
class JobObserver {
public:
    virtual ~JobObserver() = default;
    virtual void onStarted(JobId) {}
    virtual void onProgress(JobId, const Progress&) {}
    virtual void onMetric(JobId, const std::string& /*key*/, std::int64_t /*step*/, double /*value*/) {}
    virtual void onLog(JobId, LogLevel, const std::string&) {}
    virtual void onArtifact(JobId, const std::string& /*kind*/, const std::string& /*path*/) {}
    virtual void onFinished(JobId, const std::string& /*result*/) {}
    virtual void onFailed(JobId, const std::string& /*error*/) {}
    virtual void onCancelled(JobId) {}
};

namespace detail {
/// Calls `call(*observer)`; an observer that throws must not take the job, the worker or
/// the app down with it, so its exception is swallowed here.
template <typename F>
void notifyObserver(const std::shared_ptr<JobObserver>& observer, F&& call) noexcept {
    if (!observer) return;
    try {
        call(*observer);
    } catch (...) {
    }
}
}  // namespace detail

/// What a running job sees: its token and the reporting calls. ETA is derived from the
/// elapsed time and the reported fraction.
class JobContext {
public:
    JobContext(JobId id, CancellationToken token, std::shared_ptr<JobObserver> observer);

    JobId id() const { return id_; }
    const CancellationToken& token() const { return token_; }
    bool isCancelled() const { return token_.isCancelled(); }
    void throwIfCancelled() const { token_.throwIfCancelled(); }

    void progress(double fraction, const std::string& message = {});
    void metric(const std::string& key, std::int64_t step, double value);
    void log(LogLevel level, const std::string& message);
    void info(const std::string& message) { log(LogLevel::Info, message); }
    void warning(const std::string& message) { log(LogLevel::Warning, message); }
    void artifact(const std::string& kind, const std::string& path);

private:
    JobId id_;
    CancellationToken token_;
    std::shared_ptr<JobObserver> observer_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace lumen::jobs
