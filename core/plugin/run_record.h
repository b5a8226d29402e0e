#pragma once
// Recording a run before anything executes it: the step plugin::runTask takes first, as a
// function of its own so that a run can be made now and executed elsewhere later
// (`lumen-cli slurm submit` records a queued run that rank 0 of the Slurm job fills in with
// `lumen-cli train --run ID`; docs/slurm.md).

#include "plugin/task_runner.h"
#include "runs/run_store.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace lumen::plugin {

struct RecordedRun {
    std::int64_t id = 0;
    std::filesystem::path dir;  ///< <workspace>/runs/<id>_<task>, holding config.yaml
};

/// Records a run of task `taskId` in `store` with status queued: name (request.name, else
/// "<task> train|infer"), the config's YAML and hash, this machine's environment record, the
/// params (flattenConfig, `operation`, then `extraParams`), and creates its folder with
/// `config.yaml` written atomically. When the folder or file cannot be made the run is marked
/// failed with the error, which is rethrown.
RecordedRun recordRun(runs::RunStore& store, const runs::Workspace& workspace, const std::string& taskId,
                      const TaskRunRequest& request,
                      const std::vector<std::pair<std::string, std::string>>& extraParams = {});

}  // namespace lumen::plugin
