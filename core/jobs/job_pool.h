#pragma once
// A fixed pool of worker threads running jobs in submission order.

#include "jobs/job.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace lumen::jobs {

/// The work itself: returns a short result text (shown as the job's outcome). Throwing
/// `Cancelled` (or returning after the token was cancelled) ends the job as cancelled;
/// any other exception ends it as failed with the exception's text.
using JobFunction = std::function<std::string(JobContext&)>;

struct JobInfo {
    JobId id = 0;
    std::string kind;   ///< "train", "infer", "audit", "demo", ...
    std::string title;  ///< human-readable
    JobState state = JobState::Queued;
    std::string outcome;  ///< result text or error text
};

class JobPool {
public:
    /// `threads` == 0 picks std::thread::hardware_concurrency() (at least 1).
    /// `workerNice` > 0 lowers the workers' scheduling priority (Linux nice, per thread; the
    /// threads a job starts — OpenMP, loaders — inherit it), so that a GUI thread at nice 0
    /// wins the cores back at once when it wakes while jobs keep every core busy.
    explicit JobPool(unsigned threads = 0, int workerNice = 0);
    /// Cancels every job still queued or running and waits for the workers.
    ~JobPool();
    JobPool(const JobPool&) = delete;
    JobPool& operator=(const JobPool&) = delete;

    JobId submit(std::string kind, std::string title, JobFunction work,
                 std::shared_ptr<JobObserver> observer = nullptr);

    /// Requests cancellation; a queued job is cancelled without running. False for an
    /// unknown or already finished job.
    bool cancel(JobId id);
    void cancelAll();

    /// Blocks until every submitted job reached a terminal state.
    void waitAll();
    /// Blocks until the job reached a terminal state; false on timeout or unknown id.
    bool wait(JobId id, std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

    std::optional<JobInfo> info(JobId id) const;
    std::vector<JobInfo> jobs() const;
    unsigned threadCount() const { return static_cast<unsigned>(workers_.size()); }

private:
    struct Entry {
        JobInfo info;
        JobFunction work;
        std::shared_ptr<JobObserver> observer;
        CancellationToken token;
        bool ending = false;  ///< the terminal event is being (or was) reported
    };

    void workerLoop();
    void run(Entry& entry);
    void finish(JobId id, JobState state, const std::string& outcome);

    mutable std::mutex mutex_;
    std::condition_variable queueChanged_;
    std::condition_variable jobEnded_;
    std::deque<JobId> queue_;
    std::map<JobId, std::shared_ptr<Entry>> entries_;
    std::vector<std::thread> workers_;
    JobId nextId_ = 1;
    bool stopping_ = false;
};

}  // namespace lumen::jobs
