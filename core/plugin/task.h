#pragma once
// The task interface every task plugin implements (docs/architecture.md, "Plugins"; docs/plugins.md). It is free of
// Qt and of LibTorch, so the app can list tasks, build their forms and read their GUI hints
// without compiling either; how a task builds its model, dataset and loss stays inside the
// plugin and the engine below it.

#include "config/config.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}
namespace lumen::runs {
class RunStore;
}

namespace lumen::plugin {

/// Bumped whenever Task, Registry or the entry points change in a way that breaks plugins.
constexpr int kInterfaceVersion = 2;  // 2: TaskGuiHints::inferenceOnly

/// What the GUI needs to know about a task, declared as data (never as widgets).
struct TaskGuiHints {
    std::string idColumn = "image";              ///< first column of its predictions table
    std::vector<std::string> imageColumns;       ///< columns holding image/volume paths
    std::vector<std::string> panels;             ///< e.g. "loss_curves", "overlay", "volume"
    std::vector<std::string> explainableLayers;  ///< layer names Grad-CAM can target
    /// The task only infers (torchscript): the GUI's Launch runs its inference.
    bool inferenceOnly = false;
};

enum class Operation { Train, Infer };

/// Where a task run writes and records its results.
struct RunContext {
    std::filesystem::path workspace;  ///< the workspace folder
    std::filesystem::path runDir;     ///< this run's folder (created by the caller)
    runs::RunStore* store = nullptr;  ///< may be null (headless runs without a workspace)
    std::int64_t runId = 0;
    /// Data-parallel training (docs/distributed.md): this process's rank of `worldSize`. Only
    /// rank 0 has a run, a folder and a store; the others train their share and write nothing.
    int rank = 0, worldSize = 1;
};

class Task {
public:
    virtual ~Task() = default;
    virtual std::string id() const = 0;  ///< e.g. "roi_consistency"
    virtual std::string displayName() const = 0;
    virtual std::string description() const = 0;
    /// The full schema: config::commonSchema() merged with the task's own keys.
    virtual config::Schema schema() const = 0;
    /// A commented YAML file a user can start from; it must validate against schema().
    virtual std::string defaultConfigYaml() const = 0;
    /// Column names of a predictions row (after the id column) for this config.
    virtual std::vector<std::string> predictionColumns(const config::Config& config) const = 0;
    virtual TaskGuiHints guiHints() const = 0;
    /// Runs training or inference as part of a job; returns a one-line result summary.
    /// Reports progress and metrics through `job` and polls it for cancellation.
    virtual std::string run(Operation op, const config::Config& config, const RunContext& where,
                            jobs::JobContext& job) = 0;
};

}  // namespace lumen::plugin
