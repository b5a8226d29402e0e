// lumen-cli slurm submit|status|cancel|logs: a training run executed by a Slurm job
// (docs/slurm.md). submit records the run (queued) with its folder, config.yaml and sbatch
// script, submits the script and records the job id; rank 0 of the job then records into the
// run with `lumen-cli train --run ID`.
#include "cli_command.h"

#include "config/config.h"
#include "plugin/registry.h"
#include "plugin/run_record.h"
#include "runs/run_store.h"
#include "slurm/job_state.h"
#include "slurm/process.h"
#include "slurm/sbatch_script.h"
#include "slurm/slurm_run.h"
#include "util/atomic_file.h"

#include <nlohmann/json.hpp>

#include <QCoreApplication>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

namespace lumen::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNoSbatch =
    "sbatch not found on PATH: install Slurm's client commands (Debian: apt-get install slurm-client) or load "
    "your cluster's Slurm module";

/// The run a status/cancel/logs command names, with its store and Slurm job.
struct SlurmRun {
    runs::Workspace workspace;
    std::unique_ptr<runs::RunStore> store;
    runs::RunRecord record;
    std::int64_t jobId = 0;
    fs::path dir() const { return workspace.runDir(record.id, record.task); }
};

SlurmRun openSlurmRun(const Args& args, const std::string& sub) {
    if (args.words.size() != 3) throw UsageError("slurm " + sub + " takes one RUN_ID");
    const std::string& text = args.words[2];
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("slurm " + sub + ": RUN_ID must be a run number, got \"" + text + "\"");
    const fs::path root = fs::absolute(args.value("workspace").value_or("."));
    if (!runs::Workspace::isWorkspace(root))
        throw std::runtime_error(root.string() + ": not a Lumen workspace (no lumen.db)");
    SlurmRun r{runs::Workspace{root}, std::make_unique<runs::RunStore>(runs::Workspace{root}.database()), {}, 0};
    const auto record = r.store->run(std::stoll(text));
    if (!record) throw std::runtime_error("no run " + text + " in " + r.workspace.database().string());
    r.record = *record;
    const auto job = slurm::jobIdOfRun(*r.store, r.record.id);
    if (!job)
        throw std::runtime_error("run " + text +
                                 " has no Slurm job (it was not submitted with `lumen-cli slurm submit`)");
    r.jobId = *job;
    return r;
}

int intOption(const Args& args, const std::string& name, int fallback) {
    const auto n = args.integer(name);
    if (!n) return fallback;
    if (*n < 1 || *n > 100000) throw UsageError("--" + name + " must be in 1..100000");
    return int(*n);
}

/// The sbatch options of the command line (the run's id and folder come later).
slurm::SubmitOptions submitOptions(const Args& args, const fs::path& workspace) {
    for (const char* required : {"nodes", "tasks-per-node"})
        if (!args.has(required)) throw UsageError(std::string("slurm submit needs --") + required + " N");
    slurm::SubmitOptions o;
    o.nodes = intOption(args, "nodes", 1);
    o.tasksPerNode = intOption(args, "tasks-per-node", 1);
    o.cpusPerTask = args.has("cpus-per-task") ? intOption(args, "cpus-per-task", 1) : 0;
    o.partition = args.value("partition").value_or("");
    o.time = args.value("time").value_or("");
    o.account = args.value("account").value_or("");
    o.extra = args.values("sbatch");
    o.jobName = args.value("job-name").value_or("");
    o.workspace = workspace;
    o.lumenCli = fs::absolute(args.value("lumen-cli").value_or(QCoreApplication::applicationFilePath().toStdString()));
    for (const auto& d : args.values("plugin-dir")) o.pluginDirs.push_back(fs::absolute(d));
    return o;
}

/// The next run id of the workspace as far as the store shows (for --dry-run, which records nothing).
std::int64_t likelyNextRunId(const fs::path& workspace) {
    if (!runs::Workspace::isWorkspace(workspace)) return 1;
    runs::RunStore store(runs::Workspace{workspace}.database());
    const auto all = store.runs();
    std::int64_t top = 0;
    for (const auto& r : all) top = std::max(top, r.id);
    return top + 1;
}

/// sbatch --parsable SCRIPT: the job id, or the run marked failed with sbatch's error.
std::optional<std::int64_t> submitScript(runs::RunStore& store, std::int64_t run, const fs::path& script) {
    const std::vector<std::string> argv = {"sbatch", "--parsable", script.string()};
    std::string error;
    try {
        const auto result = slurm::runProcess(argv);
        if (result.ok()) return slurm::parseParsableJobId(result.out);
        error = slurm::failureText(argv, result);
    } catch (const slurm::ProcessError& e) {
        error = e.notFound() ? kNoSbatch : e.what();
    } catch (const slurm::SubmitError& e) {
        error = e.what();
    }
    store.setStatus(run, runs::RunStatus::Failed, "not submitted: " + error);
    std::cerr << "lumen-cli: run " << run << " not submitted (marked failed): " << error << "\n";
    return std::nullopt;
}

int submit(const Args& args, const plugin::Registry& registry) {
    if (args.words.size() != 2) throw UsageError("slurm submit takes no positional arguments");
    const auto configFile = args.value("config");
    if (!configFile) throw UsageError("slurm submit needs --config C.yaml");
    const fs::path workspace = fs::absolute(args.value("workspace").value_or("."));
    auto options = submitOptions(args, workspace);
    const bool dryRun = args.has("dry-run");
    if (!dryRun && !slurm::programExists("sbatch")) throw std::runtime_error(kNoSbatch);
    if (!fs::is_regular_file(*configFile)) throw std::runtime_error(*configFile + ": no such file");
    plugin::TaskRunRequest request;
    std::shared_ptr<plugin::Task> task;
    try {
        request.config = plugin::loadTaskConfig(*configFile, registry);  // names the task's problems
        task = registry.require(request.config.get<std::string>("task"));
    } catch (const config::ConfigError& e) {
        std::cerr << e.what() << "\n";
        return kCheckFailed;
    }
    request.workspace = workspace;
    request.name = args.value("name").value_or(task->id() + " train (slurm)");
    const runs::Workspace ws{workspace};
    options.runId = dryRun ? likelyNextRunId(workspace) : 1;
    options.runFolder = ws.runDir(options.runId, task->id());
    options.config = options.runFolder / "config.yaml";
    if (dryRun) {
        std::cout << "# dry run: nothing recorded or submitted; run " << options.runId << " is the next free id now\n"
                  << slurm::sbatchScript(options);
        return kOk;
    }
    slurm::sbatchScript(options);  // refuses bad options before a run is recorded
    const auto opened = runs::Workspace::open(workspace);
    runs::RunStore store(opened.database());
    const auto run = plugin::recordRun(store, opened, task->id(), request,
                                       {{slurm::kNodesParam, std::to_string(options.nodes)},
                                        {slurm::kTasksPerNodeParam, std::to_string(options.tasksPerNode)}});
    options.runId = run.id;
    options.runFolder = run.dir;
    options.config = run.dir / "config.yaml";
    const fs::path script = run.dir / slurm::kScriptFile;
    try {
        util::writeFileAtomically(script, slurm::sbatchScript(options));
    } catch (const std::exception& e) {
        store.setStatus(run.id, runs::RunStatus::Failed, e.what());
        throw;
    }
    const auto job = submitScript(store, run.id, script);
    if (!job) return kError;
    store.setParams(run.id, {{slurm::kJobIdParam, std::to_string(*job)}});
    std::cout << "run " << run.id << ": Slurm job " << *job << " (" << options.nodes << " node(s) x "
              << options.tasksPerNode << " task(s)); output " << slurm::jobOutputFile(run.dir, *job).string() << "\n";
    return kOk;
}

/// The job's state, with the run's end recorded when Slurm knows it and no rank did.
slurm::JobState refreshState(SlurmRun& r) {
    const auto state = slurm::queryJobState(r.jobId);
    if (slurm::recordJobEnd(*r.store, r.workspace, r.record.id, r.jobId, state)) r.record = *r.store->run(r.record.id);
    else if (auto now = r.store->run(r.record.id)) r.record = *now;
    return state;
}

int status(const Args& args) {
    auto r = openSlurmRun(args, "status");
    const auto state = refreshState(r);
    const auto output = slurm::jobOutputFile(r.dir(), r.jobId);
    if (args.has("json")) {
        std::cout << nlohmann::json{{"run", r.record.id},           {"status", runs::runStatusName(r.record.status)},
                                    {"outcome", r.record.outcome},  {"job_id", r.jobId},
                                    {"slurm_state", state.state},   {"slurm_reason", state.reason},
                                    {"slurm_source", state.source}, {"slurm_problems", state.problems},
                                    {"output", output.string()}}
                         .dump(2)
                  << "\n";
        return kOk;
    }
    std::cout << "run " << r.record.id << ": " << runs::runStatusName(r.record.status) << " (" << r.record.name << ")";
    if (!r.record.outcome.empty()) std::cout << ": " << r.record.outcome;
    std::cout << "\nSlurm job " << r.jobId << ": ";
    if (state.known()) {
        std::cout << state.state;
        if (!state.reason.empty() && state.reason != "None") std::cout << " (" << state.reason << ")";
        std::cout << " [" << state.source << "]\n";
    } else {
        std::cout << "unknown to Slurm now (ended more than MinJobAge ago, or Slurm unreachable):\n" << state.problems;
    }
    std::cout << "output: " << output.string() << (fs::exists(output) ? "" : " (not written yet)") << "\n";
    return kOk;
}

int cancel(const Args& args) {
    auto r = openSlurmRun(args, "cancel");
    auto state = refreshState(r);
    if (state.known() && slurm::isFinalState(state.state)) {
        std::cout << "run " << r.record.id << ": Slurm job " << r.jobId << " already ended (" << state.state
                  << "); run " << runs::runStatusName(r.record.status) << "\n";
        return kOk;
    }
    const auto argv = slurm::scancelCommand(r.jobId);
    try {
        const auto result = slurm::runProcess(argv);
        if (!result.ok()) throw std::runtime_error(slurm::failureText(argv, result));
    } catch (const slurm::ProcessError& e) {
        throw std::runtime_error(e.notFound() ? "scancel not found on PATH (Debian: apt-get install slurm-client)"
                                              : e.what());
    }
    // The ranks get SIGTERM (lumen-cli cancels: last.pt, run cancelled), SIGKILL after KillWait;
    // a job that never started is recorded here once Slurm says CANCELLED.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(intOption(args, "wait", 120));
    while (!runs::isTerminal(r.record.status) && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        state = refreshState(r);
    }
    std::cout << "run " << r.record.id << ": " << runs::runStatusName(r.record.status) << " (Slurm job " << r.jobId
              << " " << (state.known() ? state.state : std::string("gone")) << ")\n";
    return runs::isTerminal(r.record.status) ? kOk : kError;
}

/// Prints what `file` holds from `offset` on; returns the new offset.
std::streamoff printFrom(const fs::path& file, std::streamoff offset) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return offset;
    in.seekg(offset);
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::cout << chunk << std::flush;
    return offset + std::streamoff(chunk.size());
}

int logs(const Args& args) {
    auto r = openSlurmRun(args, "logs");
    const auto file = slurm::jobOutputFile(r.dir(), r.jobId);
    if (!args.has("follow")) {
        if (!fs::exists(file)) {
            const auto state = refreshState(r);
            throw std::runtime_error(file.string() + ": not written yet (Slurm job " + std::to_string(r.jobId) + " " +
                                     (state.known() ? state.state : std::string("unknown to Slurm")) + ")");
        }
        printFrom(file, 0);
        return kOk;
    }
    std::streamoff offset = 0;
    for (;;) {  // until the job has ended and everything it wrote is printed
        const auto state = refreshState(r);
        const bool over = !state.known() || slurm::isFinalState(state.state);
        offset = printFrom(file, offset);
        if (over) return kOk;
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
}

}  // namespace

Command slurmCommand() {
    Command c;
    c.name = "slurm";
    c.summary = "slurm submit|status|cancel|logs: train as a Slurm job";
    c.usage = R"(Usage: lumen-cli slurm submit --config C.yaml --nodes N --tasks-per-node T [--cpus-per-task C]
                [--partition P] [--time T] [--account A] [--sbatch LINE]... [--job-name J]
                [--name NAME] [--workspace DIR] [--lumen-cli PATH] [--dry-run]
       lumen-cli slurm status RUN_ID [--workspace DIR] [--json]
       lumen-cli slurm cancel RUN_ID [--workspace DIR] [--wait S]
       lumen-cli slurm logs RUN_ID [--workspace DIR] [--follow]

submit validates the config (as `lumen-cli train` does), records a run in the workspace with
status queued and its folder DIR/runs/<id>_<task>/ (config.yaml, slurm.sbatch), submits
slurm.sbatch with sbatch and records the job id (param slurm.job_id). The job runs N x T
ranks of `lumen-cli train --config <run>/config.yaml --workspace DIR --run <id>` with srun;
rank 0 records metrics and checkpoints into the run. Slurm's output: <run>/slurm-<job>.out.
  --nodes N, --tasks-per-node T, --cpus-per-task C, --partition P, --time T, --account A
                     as sbatch takes them (--time: minutes, HH:MM:SS or D-HH:MM:SS)
  --sbatch LINE      one more #SBATCH line (e.g. --sbatch "--gres=gpu:1"); repeatable
  --job-name J       Slurm's job name (default lumen-run<id>); --name NAME: the run's name
  --workspace DIR    the workspace (default: the current folder); compute nodes must see
                     it, and the lumen-cli, at the same paths
  --lumen-cli PATH   the lumen-cli the ranks run (default: this one)
  --dry-run          print the script; record and submit nothing
status     the run's status in the store and the job's state (squeue, else scontrol, else
           sacct); a job that ended without a rank recording it (cancelled while pending,
           node failure) gets its end recorded. --json: one object
cancel     scancel the job; the ranks save last.pt and the run shows cancelled (waits up to
           --wait S seconds, default 120, for that)
logs       print <run>/slurm-<job>.out; --follow: keep printing until the job ends
Exit codes: 0 done, 1 invalid config, 2 error (no such run, run has no Slurm job, sbatch
failed or not found: the run is then marked failed with sbatch's error).
)";
    c.valueOptions = {"config", "nodes",    "tasks-per-node", "cpus-per-task", "partition", "time", "account",
                      "sbatch", "job-name", "name",           "workspace",     "lumen-cli", "wait"};
    c.flags = {"dry-run", "json", "follow"};
    c.needsPlugins = true;  // submit validates the config against its task's schema
    c.pluginFreeSubcommands = {"status", "cancel", "logs"};
    c.run = [](const Args& args, const plugin::Registry& registry) {
        const std::string sub = args.words.size() > 1 ? args.words[1] : "";
        if (sub == "submit") return submit(args, registry);
        if (sub == "status") return status(args);
        if (sub == "cancel") return cancel(args);
        if (sub == "logs") return logs(args);
        throw UsageError(sub.empty() ? "slurm needs submit, status, cancel or logs"
                                     : "slurm: unknown subcommand \"" + sub + "\" (submit, status, cancel, logs)");
    };
    return c;
}

}  // namespace lumen::cli
