#pragma once
// Running a task as a recorded run: the one path the GUI launcher and `lumen-cli train/infer`
// share, so a run started from either looks the same in the run store and on disk.

#include "plugin/task.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lumen::plugin {

struct TaskRunRequest {
    Operation operation = Operation::Train;
    config::Config config;            ///< already validated against the task's schema
    std::filesystem::path workspace;  ///< opened (and created) with runs::Workspace::open
    std::string name;                 ///< run name; "<task> train|infer" when empty
    /// Record into this already-created run (status queued, e.g. one submitted to Slurm)
    /// instead of creating one; 0 = create.
    std::int64_t existingRun = 0;
    /// One rank of a data-parallel run: ranks above 0 record nothing (no run, no folder).
    int rank = 0, worldSize = 1;
};

struct TaskRunResult {
    std::int64_t runId = 0;
    std::filesystem::path runDir;
    std::string summary;  ///< what Task::run returned
};

/// Records a run in the workspace's store (task, name, config YAML and hash, environment,
/// flattened params), creates its folder `runs/<id>_<task>/` holding `config.yaml`, runs the
/// task with a job context whose metrics and artifacts are also written to the store
/// (metrics in batches), and always leaves the run Finished, Failed or Cancelled. Exceptions
/// from the task (including jobs::Cancelled) propagate after the status is recorded.
/// `onRunCreated`, when given, is called with the run's id and folder before the task starts.
/// With `existingRun`, that run (queued, of this task) is used and its folder must exist; a
/// rank above 0 runs the task with no store and no folder and returns runId 0.
TaskRunResult runTask(Task& task, const TaskRunRequest& request, jobs::JobContext& job,
                      const std::function<void(std::int64_t, const std::filesystem::path&)>& onRunCreated = {});

/// "train" / "infer".
std::string operationName(Operation op);

/// The config's leaves as (dotted key, scalar text) pairs, sorted by key; sequences are
/// written as flow YAML (`[a, b]`).
std::vector<std::pair<std::string, std::string>> flattenConfig(const config::Config& config);

}  // namespace lumen::plugin
