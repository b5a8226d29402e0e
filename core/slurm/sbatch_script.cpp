#include "slurm/sbatch_script.h"

#include "slurm/process.h"

#include <regex>

namespace lumen::slurm {
namespace {

void requireOneLine(const std::string& value, const std::string& option) {
    if (value.find_first_of("\r\n") != std::string::npos)
        throw SubmitError(option + ": a value may not contain a line break");
}

/// sbatch's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or
/// "infinite"/"unlimited".
void requireTime(const std::string& time) {
    static const std::regex format(R"(\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2}|infinite|unlimited|UNLIMITED|INFINITE)");
    if (!std::regex_match(time, format))
        throw SubmitError("--time \"" + time +
                          "\": expected minutes, MM:SS, HH:MM:SS or D-HH[:MM[:SS]] (as sbatch --time takes)");
}

void validate(const SubmitOptions& o) {
    if (o.nodes < 1) throw SubmitError("--nodes must be at least 1, got " + std::to_string(o.nodes));
    if (o.tasksPerNode < 1)
        throw SubmitError("--tasks-per-node must be at least 1, got " + std::to_string(o.tasksPerNode));
    if (o.cpusPerTask < 0)
        throw SubmitError("--cpus-per-task must be at least 1, got " + std::to_string(o.cpusPerTask));
    if (!o.time.empty()) requireTime(o.time);
    for (const auto& [value, option] : {std::pair{o.partition, "--partition"}, std::pair{o.account, "--account"},
                                        std::pair{o.time, "--time"}, std::pair{o.jobName, "job name"}}) {
        requireOneLine(value, option);
        if (value.find_first_of(" \t") != std::string::npos)
            throw SubmitError(std::string(option) + " \"" + value + "\": may not contain spaces");
    }
    for (const auto& line : o.extra) requireOneLine(line, "an extra #SBATCH line");
    for (const auto& [path, what] :
         {std::pair{o.lumenCli, "the lumen-cli path"}, std::pair{o.config, "the config"},
          std::pair{o.workspace, "the workspace"}, std::pair{o.runFolder, "the run folder"}}) {
        if (path.empty() || !path.is_absolute())
            throw SubmitError(std::string(what) + " must be an absolute path, got \"" + path.string() + "\"");
        requireOneLine(path.string(), what);
        if (path.string().find('"') != std::string::npos)
            throw SubmitError(std::string(what) + " \"" + path.string() + "\": may not contain '\"'");
    }
    if (o.runId < 1) throw SubmitError("the run id must be positive, got " + std::to_string(o.runId));
}

/// A value of an #SBATCH line: in double quotes when it holds a blank.
std::string sbatchValue(const std::string& value) {
    return value.find_first_of(" \t") == std::string::npos ? value : "\"" + value + "\"";
}

}  // namespace

std::string outputFileName(std::int64_t jobId) { return "slurm-" + std::to_string(jobId) + ".out"; }

int masterPortForJob(std::int64_t jobId) { return int(20000 + jobId % 20000); }

std::string sbatchScript(const SubmitOptions& o) {
    validate(o);
    const std::string name = o.jobName.empty() ? "lumen-run" + std::to_string(o.runId) : o.jobName;
    std::string s = "#!/bin/bash\n";
    s += "# Lumen run " + std::to_string(o.runId) + ", written by `lumen-cli slurm submit` (docs/slurm.md).\n";
    s += "#SBATCH --job-name=" + name + "\n";
    s += "#SBATCH --nodes=" + std::to_string(o.nodes) + "\n";
    s += "#SBATCH --ntasks-per-node=" + std::to_string(o.tasksPerNode) + "\n";
    if (o.cpusPerTask > 0) s += "#SBATCH --cpus-per-task=" + std::to_string(o.cpusPerTask) + "\n";
    if (!o.partition.empty()) s += "#SBATCH --partition=" + o.partition + "\n";
    if (!o.time.empty()) s += "#SBATCH --time=" + o.time + "\n";
    if (!o.account.empty()) s += "#SBATCH --account=" + o.account + "\n";
    // sbatch splits #SBATCH lines at blanks outside double quotes (no shell): a path with a
    // blank is written in double quotes, which is why validate() refuses '"' and line breaks.
    s += "#SBATCH --output=" + sbatchValue((o.runFolder / "slurm-%j.out").string()) + "\n";
    s += "#SBATCH --chdir=" + sbatchValue(o.workspace.string()) + "\n";
    for (const auto& line : o.extra) s += (line.rfind("#SBATCH", 0) == 0 ? line : "#SBATCH " + line) + "\n";
    s += "\nset -eu\n";
    s += "# The ranks meet at the job's first host (unless MASTER_ADDR is already set) on a port\n"
         "# derived from the job id, so two jobs on one node do not collide.\n";
    s += "export MASTER_ADDR=\"${MASTER_ADDR:-$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n1)}\"\n";
    s += "export MASTER_PORT=\"${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}\"\n";
    s += "echo \"lumen: run " + std::to_string(o.runId) +
         ", job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, $SLURM_NTASKS tasks, master $MASTER_ADDR:$MASTER_PORT\"\n";
    // srun of Slurm 22.05 does not inherit --cpus-per-task from the allocation: say it again.
    std::vector<std::string> srun = {"srun", "--kill-on-bad-exit=1"};
    if (o.cpusPerTask > 0) srun.push_back("--cpus-per-task=" + std::to_string(o.cpusPerTask));
    std::vector<std::string> train = {o.lumenCli.string()};
    for (const auto& dir : o.pluginDirs) train.insert(train.end(), {"--plugin-dir", dir.string()});
    train.insert(train.end(), {"train", "--config", o.config.string(), "--workspace", o.workspace.string(), "--run",
                               std::to_string(o.runId)});
    s += "exec " + commandLine(srun) + " " + commandLine(train) + "\n";
    return s;
}

std::int64_t parseParsableJobId(const std::string& sbatchOutput) {
    static const std::regex line(R"(^\s*(\d+)(;\S*)?\s*$)");
    std::string last;
    std::size_t start = 0;
    while (start < sbatchOutput.size()) {
        auto end = sbatchOutput.find('\n', start);
        if (end == std::string::npos) end = sbatchOutput.size();
        const std::string l = sbatchOutput.substr(start, end - start);
        if (l.find_first_not_of(" \t\r") != std::string::npos) last = l;
        start = end + 1;
    }
    std::smatch m;
    if (!std::regex_match(last, m, line) || m[1].length() > 18)
        throw SubmitError("sbatch --parsable printed no job id: \"" + sbatchOutput + "\"");
    return std::stoll(m[1].str());
}

}  // namespace lumen::slurm
