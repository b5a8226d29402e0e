#pragma once
// The run store: one SQLite database per workspace (WAL mode) holding runs, their params,
// metrics by step and artifacts. Each RunStore owns one connection and may be shared by
// threads (calls are serialised); separate RunStores on the same file (a job writing, the
// GUI reading) work side by side thanks to WAL.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace lumen::runs {

/// Interrupted: the process running it died (kill -9, power loss) while it was `running`;
/// found by markInterruptedRuns (run_lock.h) and resumable from its last checkpoint.
enum class RunStatus { Queued, Running, Finished, Failed, Cancelled, Interrupted };
std::string runStatusName(RunStatus status);
RunStatus runStatusFromName(const std::string& name);
/// Finished, failed, cancelled or interrupted: the run's numbers no longer change.
bool isTerminal(RunStatus status);

struct RunRecord {
    std::int64_t id = 0;
    std::string task;
    std::string name;
    RunStatus status = RunStatus::Queued;
    std::string configYaml;
    std::string configHash;
    std::string environmentJson;
    std::string outcome;            ///< result summary or error text
    std::int64_t createdAtMs = 0;   ///< Unix time, milliseconds
    std::int64_t finishedAtMs = 0;  ///< 0 while not finished
};

struct MetricPoint {
    std::string key;
    std::int64_t step = 0;
    double value = 0;     ///< NaN is stored (as SQL NULL) and read back as a quiet NaN
    double wallTime = 0;  ///< Unix time, seconds
};

/// One metric key of a run at a glance (for tables: best value without reading every point).
struct MetricSummary {
    std::string key;
    std::int64_t count = 0;
    double min = 0;  ///< over the values that are not NaN; NaN when all are
    double max = 0;
    std::int64_t lastStep = 0;
    double last = 0;  ///< value at the largest step
};

struct Artifact {
    std::string kind;  ///< "checkpoint", "predictions", "report", ...
    std::string path;
};

/// Errors name the database file and what SQLite said.
class RunStoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class RunStore {
public:
    /// Opens (creating if needed) the database at `file` and brings its schema up to date.
    explicit RunStore(const std::filesystem::path& file);
    ~RunStore();
    RunStore(const RunStore&) = delete;
    RunStore& operator=(const RunStore&) = delete;

    const std::filesystem::path& file() const { return file_; }

    std::int64_t createRun(const std::string& task, const std::string& name, const std::string& configYaml,
                           const std::string& configHash, const std::string& environmentJson);
    /// Terminal statuses also stamp finished_at.
    void setStatus(std::int64_t run, RunStatus status, const std::string& outcome = {});
    /// Deletes the run's row with its params, metrics and artifacts; throws when there is no
    /// such run. Only the rows: runs::deleteRun (run_files.h) removes the folder too.
    void removeRun(std::int64_t run);
    void setParams(std::int64_t run, const std::vector<std::pair<std::string, std::string>>& params);
    void logMetric(std::int64_t run, const std::string& key, std::int64_t step, double value);
    /// Many points in one transaction (much faster than one call each).
    void logMetrics(std::int64_t run, const std::vector<MetricPoint>& points);
    void addArtifact(std::int64_t run, const std::string& kind, const std::string& path);

    /// Newest first; with `only`, just the runs in that status (the GUI's once-a-second check
    /// for interrupted runs reads the running ones, not every run's config).
    std::vector<RunRecord> runs(std::optional<RunStatus> only = std::nullopt) const;
    std::optional<RunRecord> run(std::int64_t id) const;
    std::vector<std::pair<std::string, std::string>> params(std::int64_t run) const;
    /// (run, value) of every run that has the param `key`, by run id: one query for a table
    /// (the Runs panel's Slurm job ids).
    std::vector<std::pair<std::int64_t, std::string>> paramOfRuns(const std::string& key) const;
    std::vector<MetricPoint> metrics(std::int64_t run, const std::string& key = {}) const;
    /// The points logged after the row `afterRow` (0: from the start), in the order they were
    /// logged; `lastRow` receives the last row read (unchanged when none). For following a
    /// run that another process is writing without re-reading it whole.
    std::vector<MetricPoint> metricsAfter(std::int64_t run, std::int64_t afterRow, std::int64_t& lastRow) const;
    std::vector<std::string> metricKeys(std::int64_t run) const;
    /// Per key: count, min, max and the value at the last step (one aggregate query).
    std::vector<MetricSummary> metricSummaries(std::int64_t run) const;
    std::vector<Artifact> artifacts(std::int64_t run) const;

    /// Sets `interrupted` (with `outcome`) only if the run is still `running`: a run that
    /// finished meanwhile keeps its status. True when it changed.
    bool markInterrupted(std::int64_t run, const std::string& outcome);
    /// Changes whenever another connection (another process, or a job's own RunStore)
    /// commits to the database (PRAGMA data_version): cheap to poll.
    std::int64_t dataVersion() const;

    /// Schema version stored in the database (PRAGMA user_version).
    int schemaVersion() const;

private:
    void exec(const std::string& sql) const;
    /// Runs `work` inside BEGIN IMMEDIATE … COMMIT, rolling back if it throws.
    void inTransaction(const std::function<void()>& work);
    [[noreturn]] void fail(const std::string& what) const;

    std::filesystem::path file_;
    sqlite3* db_ = nullptr;
    mutable std::mutex mutex_;
};

/// A workspace is a folder the user opens: the run database plus the runs' files.
struct Workspace {
    std::filesystem::path root;
    std::filesystem::path database() const { return root / "lumen.db"; }
    std::filesystem::path runsDir() const { return root / "runs"; }
    /// A run's folder: runs/<id>_<task>.
    std::filesystem::path runDir(std::int64_t run, const std::string& task) const {
        return runsDir() / (std::to_string(run) + "_" + task);
    }

    /// Creates the folder layout if missing; throws naming the folder if it cannot.
    static Workspace open(const std::filesystem::path& root);
    static bool isWorkspace(const std::filesystem::path& root);
};

}  // namespace lumen::runs
