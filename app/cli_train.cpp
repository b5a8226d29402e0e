// lumen-cli train: trains a task from a YAML config as a recorded run.
#include "cli_task_run.h"

#include "cli_launch.h"
#include "cli_progress.h"

#include "config/config.h"
#include "dist/world.h"
#include "plugin/registry.h"
#include "plugin/task_runner.h"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <iostream>
#include <optional>

namespace lumen::cli {

namespace fs = std::filesystem;

int runTaskCommand(bool train, const fs::path& configFile, const fs::path& workspace,
                   const std::vector<std::pair<std::string, std::string>>& overrides, const plugin::Registry& registry,
                   const RunPlacement& placement, const sweep::Overrides& settings) {
    std::error_code ec;
    if (!fs::is_regular_file(configFile, ec)) {
        std::cerr << "lumen-cli: " << configFile.string() << ": no such file\n";
        return kError;
    }
    config::Config effective;
    std::shared_ptr<plugin::Task> task;
    try {
        const auto checked = plugin::loadTaskConfig(configFile, registry);  // names the task's problems
        task = registry.require(checked.get<std::string>("task"));
        YAML::Node root = YAML::Clone(checked.root());
        for (const auto& [key, value] : overrides) {
            const auto dot = key.find('.');
            if (dot == std::string::npos) root[key] = value;
            else root[key.substr(0, dot)][key.substr(dot + 1)] = value;
        }
        root = sweep::applyOverrides(root, settings);
        effective = config::makeConfig(root, task->schema(), configFile.string());
    } catch (const config::ConfigError& e) {
        std::cerr << e.what() << "\n";
        return kCheckFailed;
    } catch (const sweep::SweepError& e) {
        std::cerr << "lumen-cli: --set " << e.what() << "\n";
        return kCheckFailed;
    }
    plugin::TaskRunRequest request;
    request.operation = train ? plugin::Operation::Train : plugin::Operation::Infer;
    request.config = effective;
    request.workspace = fs::absolute(workspace);
    request.existingRun = placement.existingRun;
    request.name = placement.name;
    request.rank = placement.rank;
    request.worldSize = placement.worldSize;
    std::int64_t runId = 0;
    const std::string kind = plugin::operationName(request.operation);
    const auto info = runWithProgress(
        kind, task->id() + " " + kind,
        [&](jobs::JobContext& job) {
            const auto result = plugin::runTask(*task, request, job, [&](std::int64_t id, const fs::path& dir) {
                runId = id;
                job.info("run " + std::to_string(id) + ": " + dir.string());
            });
            return result.summary;
        },
        placement.rank > 0);
    const std::string rankText = placement.worldSize > 1 ? " (rank " + std::to_string(placement.rank) + ")" : "";
    switch (info.state) {
    case jobs::JobState::Finished:
        if (placement.rank == 0) std::cout << "run " << runId << ": " << info.outcome << "\n";
        return kOk;
    case jobs::JobState::Cancelled:
        std::cerr << "lumen-cli: " << kind << " cancelled (run " << runId << ")";
        if (train) std::cerr << "; continue with --resume " << runId;
        std::cerr << "\n";
        return kError;
    default:
        std::cerr << "lumen-cli: " << kind << " failed" << rankText << " (run " << runId << "): " << info.outcome
                  << "\n";
        return kError;
    }
}

sweep::Overrides settingsFrom(const Args& args) {
    sweep::Overrides settings;
    for (const std::string& s : args.values("set")) {
        const auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0) throw UsageError("--set " + s + ": expected KEY=VALUE");
        settings.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
    return settings;
}

namespace {

/// What --resume names: the checkpoint, and for a run id the run's folder (its config.yaml
/// is the config when --config is not given).
struct ResumeFrom {
    fs::path checkpoint;
    std::optional<fs::path> runDir;
};

/// --resume RUN_ID (a run of this workspace: its checkpoints/last.pt) or a checkpoint file.
ResumeFrom resolveResume(const std::string& value, const fs::path& workspace) {
    const bool numeric = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
    if (numeric && !fs::exists(value)) {
        std::error_code ec;
        const fs::path runs = fs::absolute(workspace) / "runs";
        for (const auto& e : fs::directory_iterator(runs, ec)) {
            const auto name = e.path().filename().string();
            if (name.rfind(value + "_", 0) != 0) continue;
            const auto last = e.path() / "checkpoints" / "last.pt";
            if (!fs::exists(last))
                throw UsageError("--resume " + value + ": run " + value + " has no checkpoint (" + last.string() + ")");
            return {last, e.path()};
        }
        throw UsageError("--resume " + value + ": no run " + value + " in " + runs.string());
    }
    if (!fs::is_regular_file(value)) throw UsageError("--resume " + value + ": no such checkpoint file");
    return {fs::absolute(value), std::nullopt};
}

/// The training of one process: alone, or as one rank of the world its launcher described.
int trainAsRank(const Args& args, const plugin::Registry& registry, const fs::path& config, const fs::path& workspace,
                const std::vector<std::pair<std::string, std::string>>& overrides) {
    const auto world = dist::worldFromEnvironment();
    RunPlacement placement;
    placement.rank = world.rank;
    placement.worldSize = world.worldSize;
    if (auto name = args.value("name")) placement.name = *name;
    if (auto run = args.integer("run")) {
        if (*run < 1) throw UsageError("--run " + std::to_string(*run) + ": not a run id");
        placement.existingRun = *run;
    }
    const sweep::Overrides settings = settingsFrom(args);
    if (!world.distributed()) return runTaskCommand(true, config, workspace, overrides, registry, placement, settings);
    const double timeout = args.number("dist-timeout").value_or(300.0);
    if (timeout <= 0) throw UsageError("--dist-timeout must be positive");
    try {
        dist::joinWorld(world, std::chrono::milliseconds(static_cast<long long>(timeout * 1000)));
    } catch (const std::exception& e) {
        std::cerr << "lumen-cli: " << e.what() << "\n";
        return kError;
    }
    const int code = runTaskCommand(true, config, workspace, overrides, registry, placement, settings);
    dist::leaveWorld(code == kOk);
    return code;
}

}  // namespace

Command trainCommand() {
    Command c;
    c.name = "train";
    c.summary = "train --config C.yaml: train a task as a recorded run";
    c.usage = R"(Usage: lumen-cli train --config C.yaml [--workspace DIR] [--resume RUN_ID|CHECKPOINT]
                       [--nproc N] [--dist-timeout S] [--run RUN_ID]
       lumen-cli train --resume RUN_ID [--workspace DIR]

Trains the task named by the config's `task:` key. The run is recorded in the workspace's
lumen.db and gets the folder DIR/runs/<id>_<task>/ (config.yaml, checkpoints/). Relative data
paths in the config are relative to the workspace.
  --config C.yaml    the task config (`lumen-cli config check` validates it)
  --workspace DIR    the workspace (default: the current folder)
  --resume X         continue from run X's checkpoints/last.pt, or from the checkpoint file X;
                     the model-shaping keys of the config must match the checkpoint's. With a
                     run id and no --config, the run's own config.yaml is used
                     (`lumen-cli runs` lists the runs; an interrupted one says so)
Data-parallel training (docs/distributed.md): every rank trains on its share of each batch
(batch_size per rank), gradients are averaged, rank 0 validates and records the run.
  --nproc N          start N ranks on this machine (the config's `threads` are shared)
  --dist-timeout S   seconds a rank waits for the others to join or for one collective
                     (default 300); a rank that dies is named by the others at once
  --run RUN_ID       record into this queued run (made by `lumen-cli slurm submit`)
  --name NAME        the run's name (default "<task> train")
  --set KEY=VALUE    set a config key (dotted, e.g. --set loss_weights.contrastive=2.5; the
                     value is YAML: 0.1 a number, [1, 2] a list); repeatable
Launched by torchrun (`torchrun --nproc_per_node N --no_python lumen-cli train ...`) or by
Slurm's srun, each process reads its rank from the environment.
Progress goes to stderr; Ctrl-C cancels after saving last.pt.
Exit codes: 0 trained, 1 invalid config, 2 error or cancelled.
)";
    c.valueOptions = {"config", "workspace", "resume", "nproc", "dist-timeout", "run", "name", "set"};
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        if (args.words.size() != 1) throw UsageError("train takes no positional arguments");
        const fs::path workspace = args.value("workspace").value_or(".");
        std::optional<fs::path> config;
        if (auto c = args.value("config")) config = *c;
        std::vector<std::pair<std::string, std::string>> overrides;
        if (auto r = args.value("resume")) {
            const auto from = resolveResume(*r, workspace);
            overrides.emplace_back("resume", from.checkpoint.string());
            if (!config && from.runDir) config = *from.runDir / "config.yaml";  // the run's own config
        }
        if (!config)
            throw UsageError("train needs --config C.yaml (or --resume RUN_ID, which reuses the run's config)");
        if (const auto n = args.integer("nproc"); n && *n != 1) {
            if (*n < 1 || *n > 256) throw UsageError("--nproc " + std::to_string(*n) + ": expected 1 to 256");
            if (dist::worldFromEnvironment().distributed())
                throw UsageError("--nproc inside a launched rank (RANK/WORLD_SIZE or SLURM_PROCID are set)");
            std::vector<std::string> argv{"train"};
            for (const auto& [key, values] : args.options)
                if (key != "nproc")
                    for (const auto& v : values) argv.insert(argv.end(), {"--" + key, v});
            return runLocalRanks(static_cast<int>(*n), argv, args.number("dist-timeout").value_or(300.0) + 10);
        }
        return trainAsRank(args, registry, *config, workspace, overrides);
    };
    return c;
}

}  // namespace lumen::cli
