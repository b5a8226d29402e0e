// lumen-cli sweep: an offline hyper-parameter sweep of any task (docs/sweeps.md). Trials run
// as `lumen-cli train` processes, K at a time with the threads divided between them; each is a
// recorded run linked to the sweep (params sweep.name / sweep.trial); the sweep's state file
// lets a killed sweep resume without re-running finished trials.
#include "cli_command.h"
#include "cli_launch.h"

#include "config/config.h"
#include "plugin/registry.h"
#include "runs/run_store.h"
#include "sweep/sweep.h"
#include "util/atomic_file.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <thread>

namespace lumen::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> gSweepInterrupt{false};

struct Options {
    fs::path workspace;
    int parallel = 1, threads = 1;
    bool restart = false, retryFailed = false;
    std::vector<std::string> pluginDirs;
};

struct Child {
    std::size_t slot = 0;  ///< index in SweepState::trials
    pid_t pid = 0;
    fs::path log;
    bool stopRequested = false, cancelRequested = false;
};

std::string paramsText(const sweep::Overrides& params) {
    std::string s;
    for (const auto& [k, v] : params) s += (s.empty() ? "" : ", ") + k + "=" + v;
    return s;
}

/// Every trial's config must validate before anything runs: errors name the trial and key.
void checkTrials(const sweep::SweepSpec& spec, const std::vector<sweep::Trial>& trials,
                 const plugin::Registry& registry) {
    const config::Config base = plugin::loadTaskConfig(spec.base, registry);
    const auto task = registry.require(base.get<std::string>("task"));
    for (const auto& t : trials) {
        try {
            config::makeConfig(sweep::applyOverrides(base.root(), t.params), task->schema(), spec.base.string());
        } catch (const std::exception& e) {
            throw sweep::SweepError(spec.file.string() + ": trial " + std::to_string(t.index) + " (" +
                                    paramsText(t.params) + ") gives an invalid config:\n" + e.what());
        }
    }
}

/// The state to run: a new one, or the saved one when it is this sweep's (finished trials
/// kept; running/cancelled ones, and failed ones with --retry-failed, run again).
sweep::SweepState prepareState(const sweep::SweepSpec& spec, const std::vector<sweep::Trial>& trials,
                               const fs::path& file, const Options& o) {
    sweep::SweepState state;
    state.name = spec.name;
    state.fingerprint = sweep::fingerprint(spec);
    state.metric = spec.metric;
    state.maximize = spec.maximize;
    state.base = spec.base;
    std::map<std::size_t, sweep::TrialRecord> saved;
    if (fs::exists(file) && !o.restart) {
        const sweep::SweepState old = sweep::loadState(file);
        if (old.fingerprint != state.fingerprint)
            throw std::runtime_error(file.string() + ": the sweep (or its base config) changed since these " +
                                     std::to_string(old.trials.size()) +
                                     " trials ran; give it another name, or --restart to start over");
        for (const auto& t : old.trials) saved[t.trial.index] = t;
    }
    for (const auto& t : trials) {
        sweep::TrialRecord r;
        r.trial = t;
        if (auto it = saved.find(t.index); it != saved.end()) {
            const auto s = it->second.status;
            const bool done = s == sweep::TrialStatus::Finished || s == sweep::TrialStatus::Stopped ||
                              (s == sweep::TrialStatus::Failed && !o.retryFailed);
            if (done) r = it->second;
            else r.outcome = it->second.run ? "run " + std::to_string(it->second.run) + " did not finish" : "";
        }
        state.trials.push_back(std::move(r));
    }
    return state;
}

std::int64_t runIdFromLog(const fs::path& log) {
    std::ifstream in(log);
    static const std::regex runLine(R"(run (\d+): )");
    std::smatch m;
    for (std::string line; std::getline(in, line);)
        if (std::regex_search(line, m, runLine)) return std::stoll(m[1]);
    return 0;
}

std::string lastErrorLine(const fs::path& log, int code) {
    std::ifstream in(log);
    std::string last;
    for (std::string line; std::getline(in, line);)
        if (line.find("error") != std::string::npos || line.find("failed") != std::string::npos) last = line;
    return last.empty() ? "exit code " + std::to_string(code) + " (" + log.string() + ")" : last;
}

std::vector<double> curveOf(const runs::RunStore& store, std::int64_t run, const std::string& metric) {
    std::vector<double> curve;
    for (const auto& p : store.metrics(run, metric)) curve.push_back(p.value);
    return curve;
}

/// Updates a trial's value and epochs from the run store.
void readCurve(sweep::TrialRecord& t, const runs::RunStore& store, const sweep::SweepState& state) {
    if (!t.run) return;
    const auto curve = curveOf(store, t.run, state.metric);
    t.epochs = static_cast<int>(curve.size());
    t.value = sweep::bestValue(curve, state.maximize);
}

class SweepRunner {
public:
    SweepRunner(const sweep::SweepSpec& spec, sweep::SweepState& state, fs::path stateFile, Options options)
        : spec_(spec), state_(state), stateFile_(std::move(stateFile)), o_(std::move(options)) {}

    /// Runs every trial still to run; returns when all ended or after a cancel.
    void run();

private:
    void start(std::size_t slot);
    void poll(Child& c);
    void finish(Child& c, int code);
    runs::RunStore* store();
    void save() { sweep::saveState(stateFile_, state_); }

    const sweep::SweepSpec& spec_;
    sweep::SweepState& state_;
    fs::path stateFile_;
    Options o_;
    std::vector<Child> children_;
    std::unique_ptr<runs::RunStore> store_;
};

runs::RunStore* SweepRunner::store() {
    if (!store_ && fs::exists(o_.workspace / "lumen.db"))
        store_ = std::make_unique<runs::RunStore>(o_.workspace / "lumen.db");
    return store_.get();
}

void SweepRunner::start(std::size_t slot) {
    sweep::TrialRecord& t = state_.trials[slot];
    const int threads = std::max(1, o_.threads / o_.parallel);
    std::vector<std::string> args = {"train",
                                     "--config",
                                     spec_.base.string(),
                                     "--workspace",
                                     o_.workspace.string(),
                                     "--name",
                                     spec_.name + " #" + std::to_string(t.trial.index)};
    for (const auto& [k, v] : t.trial.params) args.insert(args.end(), {"--set", k + "=" + v});
    args.insert(args.end(), {"--set", "threads=" + std::to_string(threads)});
    for (const auto& d : o_.pluginDirs) args.insert(args.end(), {"--plugin-dir", d});
    Child c;
    c.slot = slot;
    c.log = stateFile_.parent_path() / ("trial-" + std::to_string(t.trial.index) + ".log");
    std::error_code ec;
    fs::remove(c.log, ec);
    c.pid = startChild(args, {}, c.log.string(), true);
    t.status = sweep::TrialStatus::Running;
    t.run = 0;
    t.value.reset();
    t.epochs = 0;
    std::fprintf(stderr, "lumen-cli: trial %zu started (%s), %d threads\n", t.trial.index,
                 paramsText(t.trial.params).c_str(), threads);
    children_.push_back(c);
    save();
}

void SweepRunner::poll(Child& c) {
    sweep::TrialRecord& t = state_.trials[c.slot];
    if (!t.run) {
        t.run = runIdFromLog(c.log);
        if (t.run && store()) {
            store()->setParams(t.run, {{"sweep.name", spec_.name}, {"sweep.trial", std::to_string(t.trial.index)}});
            save();
        }
    }
    if (!t.run || !store() || c.stopRequested || !spec_.earlyStop.enabled) return;
    const auto mine = curveOf(*store(), t.run, spec_.metric);
    std::vector<std::vector<double>> others;
    for (const auto& other : state_.trials)
        if (other.run && other.run != t.run) others.push_back(curveOf(*store(), other.run, spec_.metric));
    if (const auto epoch = sweep::earlyStopEpoch(mine, others, spec_.earlyStop, spec_.maximize)) {
        t.outcome = "stopped after epoch " + std::to_string(*epoch) + " by successive halving (eta " +
                    std::to_string(spec_.earlyStop.eta) + ")";
        std::fprintf(stderr, "lumen-cli: trial %zu %s\n", t.trial.index, t.outcome.c_str());
        ::kill(c.pid, SIGINT);  // it saves last.pt and ends as cancelled
        c.stopRequested = true;
    }
}

void SweepRunner::finish(Child& c, int code) {
    sweep::TrialRecord& t = state_.trials[c.slot];
    if (!t.run) t.run = runIdFromLog(c.log);
    if (store()) readCurve(t, *store(), state_);
    if (code == 0) {
        t.status = sweep::TrialStatus::Finished;
        t.outcome.clear();
    } else if (c.stopRequested) {
        t.status = sweep::TrialStatus::Stopped;
    } else if (c.cancelRequested) {
        t.status = sweep::TrialStatus::Cancelled;
        t.outcome = "cancelled with the sweep";
    } else {
        t.status = sweep::TrialStatus::Failed;
        t.outcome = lastErrorLine(c.log, code);
    }
    std::fprintf(stderr, "lumen-cli: trial %zu %s (run %lld)%s%s\n", t.trial.index, statusName(t.status).c_str(),
                 static_cast<long long>(t.run),
                 t.value ? (": " + spec_.metric + " " + std::to_string(*t.value)).c_str() : "",
                 t.status == sweep::TrialStatus::Failed ? (": " + t.outcome).c_str() : "");
    std::size_t ended = 0;
    for (const auto& other : state_.trials)
        ended += other.status == sweep::TrialStatus::Finished || other.status == sweep::TrialStatus::Stopped ||
                         other.status == sweep::TrialStatus::Failed
                     ? 1
                     : 0;
    // A progress line the GUI's job relays (app/cli_job.h).
    std::fprintf(stderr, "[%3d%%] %zu of %zu trials done\n", static_cast<int>(100 * ended / state_.trials.size()),
                 ended, state_.trials.size());
    save();
}

void SweepRunner::run() {
    std::size_t next = 0;
    bool forwarded = false;
    auto pending = [&](std::size_t i) {
        const auto s = state_.trials[i].status;
        return s == sweep::TrialStatus::Pending || s == sweep::TrialStatus::Running ||
               s == sweep::TrialStatus::Cancelled || (s == sweep::TrialStatus::Failed && o_.retryFailed);
    };
    for (;;) {
        while (!gSweepInterrupt && static_cast<int>(children_.size()) < o_.parallel && next < state_.trials.size()) {
            if (pending(next)) start(next);
            ++next;
        }
        if (children_.empty()) return;
        if (gSweepInterrupt && !forwarded) {
            for (auto& c : children_) {
                ::kill(c.pid, SIGINT);
                c.cancelRequested = true;
            }
            forwarded = true;
        }
        for (std::size_t i = 0; i < children_.size();) {
            int status = 0;
            if (::waitpid(children_[i].pid, &status, WNOHANG) == children_[i].pid) {
                finish(children_[i], exitCodeOf(status));
                children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
                continue;
            }
            poll(children_[i]);
            ++i;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
}

void printTable(const sweep::SweepState& state) {
    std::printf("%-6s %-10s %-8s %-14s %s\n", "trial", "status", "run", state.metric.c_str(), "parameters");
    for (const auto& t : state.trials)
        std::printf("%-6zu %-10s %-8lld %-14s %s\n", t.trial.index, statusName(t.status).c_str(),
                    static_cast<long long>(t.run), t.value ? std::to_string(*t.value).c_str() : "-",
                    paramsText(t.trial.params).c_str());
}

/// sweeps/<name>/best.yaml: the base config with the best trial's parameters.
void writeBest(const sweep::SweepSpec& spec, const sweep::SweepState& state, const fs::path& folder) {
    const sweep::TrialRecord* best = state.best();
    if (!best) return;
    YAML::Emitter out;
    out << sweep::applyOverrides(config::loadYamlFile(spec.base), best->trial.params);
    const fs::path file = folder / "best.yaml";
    util::writeFileAtomically(file, "# best trial " + std::to_string(best->trial.index) + " of sweep " + spec.name +
                                        " (run " + std::to_string(best->run) + ", " + state.metric + " " +
                                        std::to_string(*best->value) + ")\n" + std::string(out.c_str()) + "\n");
    std::printf("best: trial %zu (run %lld), %s %g; its config: %s\n", best->trial.index,
                static_cast<long long>(best->run), state.metric.c_str(), *best->value, file.string().c_str());
}

/// One sweep process per sweep folder: an exclusive lock held while it runs.
int lockSweep(const fs::path& folder) {
    fs::create_directories(folder);
    const int fd = ::open((folder / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0)
        throw std::runtime_error("another lumen-cli sweep is running this sweep (" + (folder / "lock").string() + ")");
    return fd;
}

int runSweepCommand(const Args& args, const plugin::Registry& registry) {
    const auto file = args.value("config");
    if (!file) throw UsageError("sweep needs --config SWEEP.yaml");
    const sweep::SweepSpec spec = sweep::loadSweep(*file);
    const std::vector<sweep::Trial> trials = sweep::drawTrials(spec);
    Options o;
    o.workspace = fs::absolute(args.value("workspace").value_or(".")).lexically_normal();
    o.parallel = static_cast<int>(args.integer("parallel").value_or(spec.parallel));
    if (o.parallel < 1 || o.parallel > 64) throw UsageError("--parallel: expected 1 to 64");
    o.threads = static_cast<int>(args.integer("threads").value_or(std::max(1u, std::thread::hardware_concurrency())));
    if (o.threads < 1) throw UsageError("--threads: expected at least 1");
    o.restart = args.has("restart");
    o.retryFailed = args.has("retry-failed");
    for (const auto& d : args.values("plugin-dir")) o.pluginDirs.push_back(fs::absolute(d).string());
    checkTrials(spec, trials, registry);
    if (args.has("dry-run")) {
        for (const auto& t : trials) std::printf("trial %zu: %s\n", t.index, paramsText(t.params).c_str());
        return kOk;
    }
    const fs::path stateFile = sweep::stateFile(o.workspace, spec.name);
    const int lock = lockSweep(stateFile.parent_path());
    sweep::SweepState state = prepareState(spec, trials, stateFile, o);
    gSweepInterrupt = false;
    auto previous = std::signal(SIGINT, [](int) { gSweepInterrupt = true; });
    auto previousTerm = std::signal(SIGTERM, [](int) { gSweepInterrupt = true; });
    SweepRunner(spec, state, stateFile, o).run();
    std::signal(SIGINT, previous);
    std::signal(SIGTERM, previousTerm);
    sweep::saveState(stateFile, state);
    printTable(state);
    writeBest(spec, state, stateFile.parent_path());
    ::close(lock);
    if (gSweepInterrupt) {
        std::cerr << "lumen-cli: sweep cancelled; run the same command again to resume it\n";
        return kError;
    }
    for (const auto& t : state.trials)
        if (t.status == sweep::TrialStatus::Failed) return kCheckFailed;
    return kOk;
}

}  // namespace

Command sweepCommand() {
    Command c;
    c.name = "sweep";
    c.summary = "sweep --config SWEEP.yaml: a hyper-parameter sweep of any task, offline";
    c.usage = R"(Usage: lumen-cli sweep --config SWEEP.yaml [--workspace DIR] [--parallel K] [--threads N]
                       [--dry-run] [--restart] [--retry-failed]

Runs the trials of a sweep file (docs/sweeps.md): `base` (a task config), `method` (grid or
random), `metric` {name, goal}, `count`, `seed`, `parameters` by dotted config key (values:
[...], value: X, or min/max with distribution uniform, log_uniform or int_uniform) and
optionally `early_terminate: {type: hyperband, min_iter, eta}` (successive halving).
Each trial is a `lumen-cli train` run of the workspace (named "<sweep> #i", params sweep.name
and sweep.trial), K at a time, the N threads divided between them. Its log is
DIR/sweeps/<name>/trial-<i>.log, the sweep's state DIR/sweeps/<name>/state.json.
  --parallel K     trials at a time (default: the file's `parallel`, else 1)
  --threads N      threads in all (default: the machine's cores)
  --dry-run        check every trial's config and list the trials; run nothing
  --restart        forget the saved state and run every trial again
  --retry-failed   run failed trials again when resuming
Run again after a kill or Ctrl-C, it resumes: finished and stopped trials are kept, the rest
run. At the end it prints the trials table and writes the best trial's config to
DIR/sweeps/<name>/best.yaml for a full run.
Exit codes: 0 every trial finished or stopped early, 1 a trial failed or a config is invalid,
2 error or cancelled.
)";
    c.valueOptions = {"config", "workspace", "parallel", "threads"};
    c.flags = {"dry-run", "restart", "retry-failed"};
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        if (args.words.size() != 1) throw UsageError("sweep takes no positional arguments");
        try {
            return runSweepCommand(args, registry);
        } catch (const sweep::SweepError& e) {
            std::cerr << "lumen-cli: " << e.what() << "\n";
            return kCheckFailed;
        }
    };
    return c;
}

}  // namespace lumen::cli
