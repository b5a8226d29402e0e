#pragma once
// The sbatch script of a Lumen run and what sbatch answers (docs/slurm.md). The script asks
// for nodes × tasks per node, writes Slurm's output into the run folder, sets MASTER_ADDR (the
// job's first host) and MASTER_PORT (from the job id) for the ranks' rendezvous, and starts
// one `lumen-cli train … --run ID` per task with srun; rank 0 records into the run.

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::slurm {

struct SubmitOptions {
    int nodes = 1;
    int tasksPerNode = 1;
    int cpusPerTask = 0;             ///< 0: not asked (Slurm's default, 1)
    std::string partition;           ///< "" : the cluster's default partition
    std::string time;                ///< sbatch --time ("30", "2:00:00", "1-0"); "" : the partition's limit
    std::string account;             ///< "" : the user's default account
    std::vector<std::string> extra;  ///< more `#SBATCH` lines, with or without the "#SBATCH " prefix
    std::filesystem::path lumenCli;  ///< absolute path of the lumen-cli the ranks run
    std::vector<std::filesystem::path> pluginDirs;  ///< passed on as --plugin-dir (absolute)
    std::filesystem::path config;                   ///< the run's config.yaml
    std::filesystem::path workspace;
    std::int64_t runId = 0;
    std::filesystem::path runFolder;  ///< <workspace>/runs/<id>_<task>: Slurm's output goes there
    std::string jobName;              ///< "" : lumen-run<id>
};

/// Bad options (0 nodes, a time sbatch would refuse, a line break in a value, …); the message
/// names the option.
class SubmitError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The sbatch script text for `o`; throws SubmitError naming the first bad option.
std::string sbatchScript(const SubmitOptions& o);

/// The file name of the job's output in the run folder: "slurm-<job>.out".
std::string outputFileName(std::int64_t jobId);

/// The job id from `sbatch --parsable` output ("123" or "123;cluster", the last non-empty
/// line: warnings may come before it); throws SubmitError quoting the text when there is none.
std::int64_t parseParsableJobId(const std::string& sbatchOutput);

/// The MASTER_PORT the script derives from a job id (20000 + id mod 20000), for messages and
/// tests: the script computes the same in the shell.
int masterPortForJob(std::int64_t jobId);

}  // namespace lumen::slurm
