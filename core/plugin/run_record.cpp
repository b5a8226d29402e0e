#include "plugin/run_record.h"

#include "config/environment.h"
#include "util/atomic_file.h"

namespace lumen::plugin {

RecordedRun recordRun(runs::RunStore& store, const runs::Workspace& workspace, const std::string& taskId,
                      const TaskRunRequest& request,
                      const std::vector<std::pair<std::string, std::string>>& extraParams) {
    const std::string name = request.name.empty() ? taskId + " " + operationName(request.operation) : request.name;
    const std::string yaml = request.config.toYaml();
    RecordedRun run;
    run.id = store.createRun(taskId, name, yaml, request.config.hash(), config::captureEnvironment().dump());
    auto params = flattenConfig(request.config);
    params.emplace_back("operation", operationName(request.operation));
    params.insert(params.end(), extraParams.begin(), extraParams.end());
    run.dir = workspace.runDir(run.id, taskId);
    try {
        store.setParams(run.id, params);
        std::filesystem::create_directories(run.dir);
        util::writeFileAtomically(run.dir / "config.yaml", yaml);
    } catch (const std::exception& e) {
        store.setStatus(run.id, runs::RunStatus::Failed, e.what());
        throw;
    }
    return run;
}

}  // namespace lumen::plugin
