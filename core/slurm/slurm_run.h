#pragma once
// A Lumen run that a Slurm job executes (docs/slurm.md): its job id in the run store
// (param `slurm.job_id`), Slurm's output in its folder, and the run's end recorded from
// Slurm's state when no rank could record it (a job cancelled while pending, a node that
// died, a time limit that killed rank 0 before it wrote anything).

#include "runs/run_store.h"
#include "slurm/job_state.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lumen::slurm {

inline constexpr const char* kJobIdParam = "slurm.job_id";
inline constexpr const char* kNodesParam = "slurm.nodes";
inline constexpr const char* kTasksPerNodeParam = "slurm.tasks_per_node";
inline constexpr const char* kScriptFile = "slurm.sbatch";

/// The run's Slurm job id (param slurm.job_id), nullopt when it has none.
std::optional<std::int64_t> jobIdOfRun(const runs::RunStore& store, std::int64_t run);

/// <run folder>/slurm-<job>.out.
std::filesystem::path jobOutputFile(const std::filesystem::path& runDir, std::int64_t jobId);

/// `scancel ID`: ends the job (pending or running; the ranks get SIGTERM, which lumen-cli
/// takes as a cancel request, then SIGKILL after the cluster's KillWait).
std::vector<std::string> scancelCommand(std::int64_t jobId);

/// When Slurm says the job is over and the run is still queued or running with no process
/// holding its run lock, records the end in the store: the status runStatusForState gives
/// (a COMPLETED job whose run never ended is failed: rank 0 did not record it) and an outcome
/// naming the job and its state. Returns the status recorded; nullopt when nothing changed.
std::optional<runs::RunStatus> recordJobEnd(runs::RunStore& store, const runs::Workspace& workspace, std::int64_t run,
                                            std::int64_t jobId, const JobState& state);

}  // namespace lumen::slurm
