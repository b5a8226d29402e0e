#include "jobs/job_pool.h"
#include "util/parallel.h"

#include <algorithm>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace lumen::jobs {

JobPool::JobPool(unsigned threads, int workerNice) {
    if (threads == 0) threads = util::resolveThreads(0);
    workers_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i)
        workers_.emplace_back([this, workerNice] {
#if defined(__linux__)
            // Per thread on Linux (PRIO_PROCESS with a thread id); raising nice needs no privilege.
            if (workerNice > 0)
                setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), std::min(workerNice, 19));
#endif
            workerLoop();
        });
}

JobPool::~JobPool() {
    cancelAll();
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queueChanged_.notify_all();
    for (auto& worker : workers_) worker.join();
}

JobId JobPool::submit(std::string kind, std::string title, JobFunction work, std::shared_ptr<JobObserver> observer) {
    auto entry = std::make_shared<Entry>();
    entry->info.kind = std::move(kind);
    entry->info.title = std::move(title);
    entry->work = std::move(work);
    entry->observer = std::move(observer);
    JobId id;
    {
        std::lock_guard lock(mutex_);
        id = nextId_++;
        entry->info.id = id;
        entries_[id] = entry;
        queue_.push_back(id);
    }
    queueChanged_.notify_one();
    return id;
}

bool JobPool::cancel(JobId id) {
    std::shared_ptr<Entry> entry;
    bool wasQueued = false;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(id);
        if (it == entries_.end() || it->second->ending) return false;
        entry = it->second;
        entry->token.cancel();
        if (entry->info.state == JobState::Queued) {
            queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
            wasQueued = true;
        }
    }
    // A queued job never starts: it is reported cancelled right away, on this thread.
    if (wasQueued) finish(id, JobState::Cancelled, "cancelled before it started");
    return true;
}

void JobPool::cancelAll() {
    std::vector<JobId> ids;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, entry] : entries_)
            if (!entry->ending) ids.push_back(id);
    }
    for (JobId id : ids) cancel(id);
}

void JobPool::waitAll() {
    std::unique_lock lock(mutex_);
    jobEnded_.wait(lock, [this] {
        return std::all_of(entries_.begin(), entries_.end(),
                           [](const auto& kv) { return isTerminal(kv.second->info.state); });
    });
}

bool JobPool::wait(JobId id, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    auto done = [&] {
        auto it = entries_.find(id);
        return it == entries_.end() || isTerminal(it->second->info.state);
    };
    if (!entries_.count(id)) return false;
    if (timeout == std::chrono::milliseconds::max()) {
        jobEnded_.wait(lock, done);
        return true;
    }
    return jobEnded_.wait_for(lock, timeout, done);
}

std::optional<JobInfo> JobPool::info(JobId id) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;
    return it->second->info;
}

std::vector<JobInfo> JobPool::jobs() const {
    std::lock_guard lock(mutex_);
    std::vector<JobInfo> out;
    out.reserve(entries_.size());
    for (const auto& [id, entry] : entries_) out.push_back(entry->info);
    return out;
}

void JobPool::workerLoop() {
    for (;;) {
        std::shared_ptr<Entry> entry;
        {
            std::unique_lock lock(mutex_);
            queueChanged_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping and nothing left
            const JobId id = queue_.front();
            queue_.pop_front();
            entry = entries_.at(id);
            entry->info.state = JobState::Running;
        }
        run(*entry);
    }
}

void JobPool::run(Entry& entry) {
    const JobId id = entry.info.id;
    detail::notifyObserver(entry.observer, [&](JobObserver& o) { o.onStarted(id); });
    JobContext context(id, entry.token, entry.observer);
    JobState state = JobState::Finished;
    std::string outcome;
    try {
        outcome = entry.work(context);
        if (entry.token.isCancelled()) state = JobState::Cancelled;
    } catch (const Cancelled&) {
        state = JobState::Cancelled;
    } catch (const std::exception& e) {
        state = JobState::Failed;
        outcome = e.what();
    } catch (...) {
        state = JobState::Failed;
        outcome = "unknown error (a non-standard exception was thrown)";
    }
    if (state == JobState::Cancelled && outcome.empty()) outcome = "cancelled";
    entry.work = nullptr;  // release whatever the work captured (models, buffers)
    finish(id, state, outcome);
}

void JobPool::finish(JobId id, JobState state, const std::string& outcome) {
    std::shared_ptr<Entry> entry;
    {
        std::lock_guard lock(mutex_);
        entry = entries_.at(id);
        if (entry->ending) return;
        entry->ending = true;
    }
    // The observer hears the end before waiters see a terminal state, so whoever waited
    // on the pool can rely on the observer having been told.
    switch (state) {
    case JobState::Finished:
        detail::notifyObserver(entry->observer, [&](JobObserver& o) { o.onFinished(id, outcome); });
        break;
    case JobState::Failed:
        detail::notifyObserver(entry->observer, [&](JobObserver& o) { o.onFailed(id, outcome); });
        break;
    default: detail::notifyObserver(entry->observer, [&](JobObserver& o) { o.onCancelled(id); }); break;
    }
    {
        std::lock_guard lock(mutex_);
        entry->info.state = state;
        entry->info.outcome = outcome;
    }
    jobEnded_.notify_all();
}

}  // namespace lumen::jobs
