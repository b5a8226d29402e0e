// lumen-cli runs: the workspace's runs (what the GUI's Runs panel shows), newest first.
#include "cli_command.h"

#include "runs/run_files.h"
#include "runs/run_lock.h"
#include "runs/run_store.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

namespace lumen::cli {
namespace {

namespace fs = std::filesystem;

std::string formatTime(std::int64_t ms) {
    char text[32];
    const std::time_t t = std::time_t(ms / 1000);
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
    return text;
}

nlohmann::json runJson(const runs::RunRecord& r, const runs::Workspace& ws) {
    const auto dir = ws.runDir(r.id, r.task);
    const auto last = dir / "checkpoints" / "last.pt";
    return {{"id", r.id},
            {"task", r.task},
            {"name", r.name},
            {"status", runs::runStatusName(r.status)},
            {"outcome", r.outcome},
            {"created_at_ms", r.createdAtMs},
            {"finished_at_ms", r.finishedAtMs},
            {"folder", dir.string()},
            {"last_checkpoint", fs::exists(last) ? last.string() : std::string()}};
}

int changeRun(const Args& args, runs::RunStore& store, const runs::Workspace& ws) {
    if (const auto id = args.integer("export")) {
        const auto to = args.value("to");
        if (!to) throw UsageError("--export needs --to DIR (the folder to export into)");
        for (const auto& file : runs::exportRun(store, *id, fs::absolute(*to))) std::cout << file.string() << "\n";
        return kOk;
    }
    const long long id = *args.integer("delete");
    if (!args.has("yes"))
        throw UsageError("--delete removes run " + std::to_string(id) +
                         "'s rows and folder for good: add --yes to confirm");
    runs::deleteRun(store, ws, id);
    std::cout << "deleted run " << id << "\n";
    return kOk;
}

}  // namespace

Command runsCommand() {
    Command c;
    c.name = "runs";
    c.summary = "runs [--workspace DIR]: list the workspace's runs; export or delete one";
    c.usage = R"(Usage: lumen-cli runs [--workspace DIR] [--run ID] [--json]
       lumen-cli runs [--workspace DIR] --export ID --to DIR
       lumen-cli runs [--workspace DIR] --delete ID --yes

Lists the runs recorded in the workspace (default: the current folder), newest first: id,
status, task, name, start time and outcome. A run whose process died while it was running
(kill -9, power loss) is marked `interrupted` here first, as the GUI does; continue it with
`lumen-cli train --resume ID --workspace DIR`.
  --run ID   only this run
  --json     one JSON array (id, task, name, status, outcome, times, folder, last_checkpoint)
  --export ID --to DIR   copy the run's config.yaml, TorchScript model, best checkpoint,
             reports, predictions and thresholds into DIR/run_<ID>_<task>/ (never over an
             existing export); prints the files written
  --delete ID --yes   delete the run: its rows in lumen.db and its folder runs/<ID>_<task>
             (refused while it runs; files it wrote elsewhere stay)
Exit codes: 0 done, 2 not a workspace, no such run, or the export/delete was refused.
)";
    c.valueOptions = {"workspace", "run", "export", "to", "delete"};
    c.flags = {"json", "yes"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() != 1) throw UsageError("runs takes no positional arguments");
        const fs::path root = fs::absolute(args.value("workspace").value_or("."));
        if (!runs::Workspace::isWorkspace(root)) {
            std::cerr << "lumen-cli: " << root.string() << ": not a Lumen workspace (no lumen.db)\n";
            return kError;
        }
        const runs::Workspace ws{root};
        runs::RunStore store(ws.database());
        runs::markInterruptedRuns(store, ws);
        if (args.has("export") || args.has("delete")) return changeRun(args, store, ws);
        auto records = store.runs();
        if (const auto id = args.integer("run")) {
            std::erase_if(records, [&](const runs::RunRecord& r) { return r.id != *id; });
            if (records.empty()) {
                std::cerr << "lumen-cli: no run " << *id << " in " << ws.database().string() << "\n";
                return kError;
            }
        }
        if (args.has("json")) {
            nlohmann::json all = nlohmann::json::array();
            for (const auto& r : records) all.push_back(runJson(r, ws));
            std::cout << all.dump(2) << "\n";
            return kOk;
        }
        std::printf("%-5s %-12s %-16s %-24s %-19s %s\n", "id", "status", "task", "name", "started", "outcome");
        for (const auto& r : records)
            std::printf("%-5lld %-12s %-16s %-24s %-19s %s\n", static_cast<long long>(r.id),
                        runs::runStatusName(r.status).c_str(), r.task.c_str(), r.name.c_str(),
                        formatTime(r.createdAtMs).c_str(), r.outcome.substr(0, 80).c_str());
        if (records.empty()) std::printf("(no run recorded in this workspace yet)\n");
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
