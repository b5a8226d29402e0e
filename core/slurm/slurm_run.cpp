#include "slurm/slurm_run.h"

#include "runs/run_lock.h"

namespace lumen::slurm {

std::optional<std::int64_t> jobIdOfRun(const runs::RunStore& store, std::int64_t run) {
    for (const auto& [key, value] : store.params(run)) {
        if (key != kJobIdParam) continue;
        try {
            std::size_t used = 0;
            const long long id = std::stoll(value, &used);
            if (used == value.size() && id > 0) return id;
        } catch (const std::exception&) {
        }
        return std::nullopt;
    }
    return std::nullopt;
}

std::filesystem::path jobOutputFile(const std::filesystem::path& runDir, std::int64_t jobId) {
    return runDir / ("slurm-" + std::to_string(jobId) + ".out");
}

std::vector<std::string> scancelCommand(std::int64_t jobId) { return {"scancel", std::to_string(jobId)}; }

std::optional<runs::RunStatus> recordJobEnd(runs::RunStore& store, const runs::Workspace& workspace, std::int64_t run,
                                            std::int64_t jobId, const JobState& state) {
    if (!state.known() || !isFinalState(state.state)) return std::nullopt;
    const auto record = store.run(run);
    if (!record || runs::isTerminal(record->status)) return std::nullopt;
    if (runs::RunLock::isHeld(workspace.runDir(run, record->task))) return std::nullopt;  // still writing
    auto status = *runStatusForState(state.state);
    std::string outcome = "Slurm job " + std::to_string(jobId) + " ended " + state.state;
    if (!state.reason.empty() && state.reason != "None") outcome += " (" + state.reason + ")";
    if (status == runs::RunStatus::Finished) {
        status = runs::RunStatus::Failed;
        outcome += ", but no rank recorded the run's end (see " +
                   jobOutputFile(workspace.runDir(run, record->task), jobId).filename().string() + ")";
    } else {
        outcome += record->status == runs::RunStatus::Queued ? " before the run started" : " while the run was running";
    }
    store.setStatus(run, status, outcome);
    return status;
}

}  // namespace lumen::slurm
