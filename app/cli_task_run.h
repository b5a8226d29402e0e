#pragma once
// What `lumen-cli train` and `lumen-cli infer` share: read a task config, apply the command
// line's overrides, and run the task through plugin::runTask (so the run is recorded in the
// workspace) with progress on stderr.

#include "cli_command.h"
#include "sweep/sweep.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace lumen::cli {

/// Where the run is recorded and which rank this process is (docs/distributed.md).
struct RunPlacement {
    std::int64_t existingRun = 0;  ///< record into this queued run (lumen-cli train --run)
    int rank = 0, worldSize = 1;   ///< ranks above 0 record nothing and print errors only
    std::string name;              ///< the run's name (default "<task> train")
};

/// Runs the task named by the config's `task:` key. `overrides` are (key, string value)
/// pairs and `settings` (dotted key, YAML text) pairs (train --set) set on the config before it
/// is validated. Returns the exit code.
int runTaskCommand(bool train, const std::filesystem::path& configFile, const std::filesystem::path& workspace,
                   const std::vector<std::pair<std::string, std::string>>& overrides, const plugin::Registry& registry,
                   const RunPlacement& placement = {}, const sweep::Overrides& settings = {});

/// The values of --set KEY=VALUE (repeatable); throws UsageError for one without "=".
sweep::Overrides settingsFrom(const Args& args);

}  // namespace lumen::cli
