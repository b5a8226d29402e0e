// lumen-cli runs: the workspace's runs (what the GUI's Runs panel shows), newest first.
#include "cli_command.h"

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

}  // namespace

Command runsCommand() {
    Command c;
    c.name = "runs";
    c.summary = "runs [--workspace DIR]: list the workspace's runs and their status";
    c.usage = R"(Usage: lumen-cli runs [--workspace DIR] [--run ID] [--json]

Lists the runs recorded in the workspace (default: the current folder), newest first: id,
status, task, name, start time and outcome. A run whose process died while it was running
(kill -9, power loss) is marked `interrupted` here first, as the GUI does; continue it with
`lumen-cli train --resume ID --workspace DIR`.
  --run ID   only this run
  --json     one JSON array (id, task, name, status, outcome, times, folder, last_checkpoint)
Exit codes: 0 listed, 2 not a workspace or no such run.
)";
    c.valueOptions = {"workspace", "run"};
    c.flags = {"json"};
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
