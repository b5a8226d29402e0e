#pragma once
// A Slurm job's state, asked of squeue, else `scontrol show job`, else sacct (each may be
// missing or fail: squeue and scontrol forget a job MinJobAge seconds after it ended, and sacct
// needs accounting, which small clusters often leave off), and what it means for the Lumen run
// (docs/slurm.md, "States").

#include "runs/run_store.h"
#include "slurm/process.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lumen::slurm {

struct JobState {
    std::string state;     ///< Slurm's base state ("PENDING", "RUNNING", "CANCELLED", …); "" when unknown
    std::string reason;    ///< why it pends or ended ("Resources", "None", …) when the source says
    std::string source;    ///< "squeue", "scontrol" or "sacct": who answered
    std::string problems;  ///< what the sources that did not answer said, one per line
    bool known() const { return !state.empty(); }
};

/// How a command is run: runProcess, or a fake in tests.
using CommandRunner = std::function<ProcessResult(const std::vector<std::string>&)>;

/// The three questions, in the order they are asked. squeue with `-t all`: without it a job
/// that ended is left out even while slurmctld still knows it.
std::vector<std::string> squeueCommand(std::int64_t jobId);    ///< squeue -h -t all -j ID -o %T|%r
std::vector<std::string> scontrolCommand(std::int64_t jobId);  ///< scontrol show job -o ID
std::vector<std::string> sacctCommand(std::int64_t jobId);     ///< sacct -n -P -X -j ID -o State,Reason

/// The answers: nullopt when the output names no state (squeue prints nothing for a job that
/// ended; an unknown job is an error exit, handled by queryJobState).
std::optional<JobState> parseSqueue(const std::string& out);
std::optional<JobState> parseScontrol(const std::string& out);
std::optional<JobState> parseSacct(const std::string& out);

/// Several jobs in one squeue (the GUI's poll): `squeue -h -t all -j A,B,… -o %i|%T|%r`, and
/// its answer by job id. Jobs squeue no longer knows are absent (ask scontrol, then sacct).
std::vector<std::string> squeueJobsCommand(const std::vector<std::int64_t>& jobIds);
std::map<std::int64_t, JobState> parseSqueueJobs(const std::string& out);

/// "CANCELLED by 0" → "CANCELLED", "completed+" → "COMPLETED", "JobState=RUNNING" → "RUNNING".
std::string baseState(const std::string& text);

/// Asks squeue, then scontrol, then sacct, until one names the job's state. Never throws for
/// a missing or failing program: the result is then unknown and `problems` says why.
JobState queryJobState(std::int64_t jobId, const CommandRunner& run = {});

/// The run status a Slurm state means: PENDING/CONFIGURING/REQUEUED… → queued;
/// RUNNING/COMPLETING/SUSPENDED… → running; COMPLETED → finished; CANCELLED → cancelled;
/// FAILED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, BOOT_FAIL, DEADLINE → failed.
/// nullopt for a state it does not know.
std::optional<runs::RunStatus> runStatusForState(const std::string& slurmState);

/// True when the state is an end (the job's processes are gone): its run status is terminal.
bool isFinalState(const std::string& slurmState);

}  // namespace lumen::slurm
