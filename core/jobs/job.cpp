#include "jobs/job.h"

#include <algorithm>

namespace lumen::jobs {

std::string jobStateName(JobState state) {
    switch (state) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Finished: return "finished";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
    }
    return "unknown";
}

bool isTerminal(JobState state) {
    return state == JobState::Finished || state == JobState::Failed || state == JobState::Cancelled;
}

std::string logLevelName(LogLevel level) {
    switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warning: return "warning";
    case LogLevel::Error: return "error";
    }
    return "info";
}

JobContext::JobContext(JobId id, CancellationToken token, std::shared_ptr<JobObserver> observer)
    : id_(id), token_(std::move(token)), observer_(std::move(observer)), start_(std::chrono::steady_clock::now()) {}

void JobContext::progress(double fraction, const std::string& message) {
    Progress p;
    p.fraction = std::clamp(fraction, 0.0, 1.0);
    p.message = message;
    // Linear extrapolation of the elapsed time; unknown before the first real progress.
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (p.fraction > 0.0) p.etaSeconds = elapsed * (1.0 - p.fraction) / p.fraction;
    detail::notifyObserver(observer_, [&](JobObserver& o) { o.onProgress(id_, p); });
}

void JobContext::metric(const std::string& key, std::int64_t step, double value) {
    detail::notifyObserver(observer_, [&](JobObserver& o) { o.onMetric(id_, key, step, value); });
}

void JobContext::log(LogLevel level, const std::string& message) {
    detail::notifyObserver(observer_, [&](JobObserver& o) { o.onLog(id_, level, message); });
}

void JobContext::artifact(const std::string& kind, const std::string& path) {
    detail::notifyObserver(observer_, [&](JobObserver& o) { o.onArtifact(id_, kind, path); });
}

}  // namespace lumen::jobs
