#pragma once
// The registry of tasks, filled by plugins' entry points and read by the app and CLI.

#include "plugin/task.h"

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::plugin {

class PluginError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Registry {
public:
    /// Registers a task; `origin` names where it came from (a plugin file, "builtin").
    /// A second task with the same id is refused with a PluginError naming both origins.
    void add(std::shared_ptr<Task> task, const std::string& origin);
    std::shared_ptr<Task> find(const std::string& id) const;
    /// Like find(), but throws a PluginError listing the known ids.
    std::shared_ptr<Task> require(const std::string& id) const;
    std::vector<std::shared_ptr<Task>> tasks() const;  ///< sorted by id
    std::vector<std::string> ids() const;
    std::string originOf(const std::string& id) const;
    /// Removes every task that came from `origin`; returns how many.
    std::size_t removeOrigin(const std::string& origin);
    /// Tasks from `origin` still referenced outside the registry.
    bool inUse(const std::string& origin) const;

private:
    struct Entry {
        std::shared_ptr<Task> task;
        std::string origin;
    };
    mutable std::mutex mutex_;
    std::vector<Entry> entries_;
};

/// Schema for the config of the task named by its `task:` key: the task's own schema when the
/// task is registered, otherwise a ConfigError naming the key and the known tasks.
config::Config loadTaskConfig(const std::filesystem::path& file, const Registry& registry);

}  // namespace lumen::plugin
