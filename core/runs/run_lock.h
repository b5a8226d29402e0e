#pragma once
// Which `running` runs are really running. The process that runs a task holds an exclusive
// flock(2) on <run folder>/run.lock for the whole run; the kernel releases it when the
// process dies, however it dies (kill -9 included). A run whose status says `running` but
// whose lock nobody holds was interrupted. flock locks belong to the open file description,
// so unlike POSIX record locks they are not dropped when the process closes another
// descriptor of the file, and two holders in one process exclude each other too.

#include "runs/run_store.h"

#include <cstdint>
#include <filesystem>
#include <vector>

namespace lumen::runs {

class RunLock {
public:
    /// Creates the lock file in `runDir` (which must exist) and locks it; throws
    /// RunStoreError naming the file when it cannot, or when another process holds it.
    explicit RunLock(const std::filesystem::path& runDir);
    ~RunLock();
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;

    static std::filesystem::path fileIn(const std::filesystem::path& runDir) { return runDir / "run.lock"; }
    /// True while some process (this one included) holds the run's lock.
    static bool isHeld(const std::filesystem::path& runDir);

private:
    int fd_ = -1;
};

/// Marks every `running` run of the workspace whose lock nobody holds as `interrupted`
/// (a run with no lock file — made by a Lumen before run locks — counts as unheld).
/// Returns the ids marked.
std::vector<std::int64_t> markInterruptedRuns(RunStore& store, const Workspace& workspace);

}  // namespace lumen::runs
