#include "slurm/job_state.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

namespace lumen::slurm {
namespace {

std::string firstNonEmptyLine(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
    return {};
}

std::string trimmed(std::string s) {
    s.erase(0, std::min(s.find_first_not_of(" \t\r\n"), s.size()));
    s.erase(s.find_last_not_of(" \t\r\n") + 1);
    return s;
}

/// `key=value` of scontrol's one-line output (values end at the next blank).
std::string scontrolField(const std::string& line, const std::string& key) {
    std::size_t at = 0;
    while ((at = line.find(key + "=", at)) != std::string::npos) {
        if (at == 0 || line[at - 1] == ' ') {
            const auto start = at + key.size() + 1;
            return line.substr(start, line.find(' ', start) - start);
        }
        at += key.size();
    }
    return {};
}

const std::map<std::string, runs::RunStatus>& stateTable() {
    using S = runs::RunStatus;
    static const std::map<std::string, runs::RunStatus> table = {
        {"PENDING", S::Queued},      {"CONFIGURING", S::Queued},   {"REQUEUED", S::Queued},
        {"REQUEUE_HOLD", S::Queued}, {"REQUEUE_FED", S::Queued},   {"RESV_DEL_HOLD", S::Queued},
        {"RUNNING", S::Running},     {"COMPLETING", S::Running},   {"SUSPENDED", S::Running},
        {"STOPPED", S::Running},     {"SIGNALING", S::Running},    {"STAGE_OUT", S::Running},
        {"RESIZING", S::Running},    {"COMPLETED", S::Finished},   {"CANCELLED", S::Cancelled},
        {"REVOKED", S::Cancelled},   {"FAILED", S::Failed},        {"TIMEOUT", S::Failed},
        {"NODE_FAIL", S::Failed},    {"OUT_OF_MEMORY", S::Failed}, {"PREEMPTED", S::Failed},
        {"BOOT_FAIL", S::Failed},    {"DEADLINE", S::Failed},      {"SPECIAL_EXIT", S::Failed}};
    return table;
}

}  // namespace

std::vector<std::string> squeueCommand(std::int64_t jobId) {
    return {"squeue", "-h", "-t", "all", "-j", std::to_string(jobId), "-o", "%T|%r"};
}

std::vector<std::string> squeueJobsCommand(const std::vector<std::int64_t>& jobIds) {
    std::string list;
    for (auto id : jobIds) list += (list.empty() ? "" : ",") + std::to_string(id);
    return {"squeue", "-h", "-t", "all", "-j", list, "-o", "%i|%T|%r"};
}

std::map<std::int64_t, JobState> parseSqueueJobs(const std::string& out) {
    std::map<std::int64_t, JobState> jobs;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        const auto bar = line.find('|');
        if (bar == std::string::npos) continue;
        const std::string id = trimmed(line.substr(0, bar));
        if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos) continue;
        if (auto state = parseSqueue(line.substr(bar + 1))) jobs[std::stoll(id)] = *state;
    }
    return jobs;
}

std::vector<std::string> scontrolCommand(std::int64_t jobId) {
    return {"scontrol", "show", "job", "-o", std::to_string(jobId)};
}

std::vector<std::string> sacctCommand(std::int64_t jobId) {
    return {"sacct", "-n", "-P", "-X", "-j", std::to_string(jobId), "-o", "State,Reason"};
}

std::string baseState(const std::string& text) {
    std::string s = trimmed(text);
    if (const auto eq = s.find('='); eq != std::string::npos) s = s.substr(eq + 1);
    s = s.substr(0, s.find_first_of(" \t+"));
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::toupper(c)); });
    return s;
}

std::optional<JobState> parseSqueue(const std::string& out) {
    const std::string line = firstNonEmptyLine(out);
    if (line.empty()) return std::nullopt;
    const auto bar = line.find('|');
    JobState s{
        baseState(line.substr(0, bar)), bar == std::string::npos ? "" : trimmed(line.substr(bar + 1)), "squeue", {}};
    return s.state.empty() ? std::nullopt : std::optional(s);
}

std::optional<JobState> parseScontrol(const std::string& out) {
    const std::string line = firstNonEmptyLine(out);
    const std::string state = scontrolField(line, "JobState");
    if (state.empty()) return std::nullopt;
    return JobState{baseState(state), scontrolField(line, "Reason"), "scontrol", {}};
}

std::optional<JobState> parseSacct(const std::string& out) {
    const std::string line = firstNonEmptyLine(out);
    const auto bar = line.find('|');
    JobState s{
        baseState(line.substr(0, bar)), bar == std::string::npos ? "" : trimmed(line.substr(bar + 1)), "sacct", {}};
    return s.state.empty() ? std::nullopt : std::optional(s);
}

JobState queryJobState(std::int64_t jobId, const CommandRunner& run) {
    const CommandRunner runner =
        run ? run : [](const std::vector<std::string>& argv) { return runProcess(argv, std::chrono::seconds(30)); };
    using Parser = std::optional<JobState> (*)(const std::string&);
    const std::pair<std::vector<std::string>, Parser> questions[] = {{squeueCommand(jobId), parseSqueue},
                                                                     {scontrolCommand(jobId), parseScontrol},
                                                                     {sacctCommand(jobId), parseSacct}};
    std::string problems;
    for (const auto& [argv, parse] : questions) {
        try {
            const auto result = runner(argv);
            if (result.ok()) {
                if (auto state = parse(result.out)) {
                    state->problems = problems;
                    return *state;
                }
                problems += argv[0] + ": no state for job " + std::to_string(jobId) + "\n";
            } else {
                problems += failureText(argv, result) + "\n";
            }
        } catch (const ProcessError& e) {
            problems += std::string(e.what()) + "\n";
        }
    }
    JobState unknown;
    unknown.problems = problems;
    return unknown;
}

std::optional<runs::RunStatus> runStatusForState(const std::string& slurmState) {
    const auto it = stateTable().find(baseState(slurmState));
    if (it == stateTable().end()) return std::nullopt;
    return it->second;
}

bool isFinalState(const std::string& slurmState) {
    const auto status = runStatusForState(slurmState);
    return status && runs::isTerminal(*status);
}

}  // namespace lumen::slurm
