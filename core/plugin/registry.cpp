#include "plugin/registry.h"

#include <algorithm>

namespace lumen::plugin {

void Registry::add(std::shared_ptr<Task> task, const std::string& origin) {
    if (!task) throw PluginError(origin + ": registered a null task");
    std::lock_guard lock(mutex_);
    const std::string id = task->id();
    for (const auto& e : entries_)
        if (e.task->id() == id)
            throw PluginError(origin + ": task \"" + id + "\" is already registered by " + e.origin);
    entries_.push_back({std::move(task), origin});
}

std::shared_ptr<Task> Registry::find(const std::string& id) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
        if (e.task->id() == id) return e.task;
    return nullptr;
}

std::shared_ptr<Task> Registry::require(const std::string& id) const {
    if (auto task = find(id)) return task;
    std::string known;
    for (const auto& k : ids()) known += (known.empty() ? "" : ", ") + k;
    throw PluginError("unknown task \"" + id +
                      "\" (known tasks: " + (known.empty() ? "none — no task plugin is loaded" : known) + ")");
}

std::vector<std::shared_ptr<Task>> Registry::tasks() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<Task>> out;
    for (const auto& e : entries_) out.push_back(e.task);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->id() < b->id(); });
    return out;
}

std::vector<std::string> Registry::ids() const {
    std::vector<std::string> out;
    for (const auto& t : tasks()) out.push_back(t->id());
    return out;
}

std::string Registry::originOf(const std::string& id) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
        if (e.task->id() == id) return e.origin;
    return {};
}

std::size_t Registry::removeOrigin(const std::string& origin) {
    std::lock_guard lock(mutex_);
    const auto before = entries_.size();
    std::erase_if(entries_, [&](const Entry& e) { return e.origin == origin; });
    return before - entries_.size();
}

bool Registry::inUse(const std::string& origin) const {
    std::lock_guard lock(mutex_);
    return std::any_of(entries_.begin(), entries_.end(),
                       [&](const Entry& e) { return e.origin == origin && e.task.use_count() > 1; });
}

config::Config loadTaskConfig(const std::filesystem::path& file, const Registry& registry) {
    const YAML::Node root = config::loadYamlFile(file);
    const YAML::Node taskNode = config::lookup(root, "task");
    if (!taskNode.IsDefined() || !taskNode.IsScalar())
        throw config::ConfigError(file.string(), {{"task",
                                                   "required key is missing: it names "
                                                   "the task plugin the config is for",
                                                   0}});
    const std::string id = taskNode.Scalar();
    std::shared_ptr<Task> task = registry.find(id);
    if (!task) {
        std::string known;
        for (const auto& k : registry.ids()) known += (known.empty() ? "" : ", ") + k;
        throw config::ConfigError(
            file.string(),
            {{"task", "unknown task \"" + id + "\" (known: " + (known.empty() ? "none loaded" : known) + ")",
              taskNode.Mark().line + 1}});
    }
    return config::makeConfig(root, task->schema(), file.string());
}

}  // namespace lumen::plugin
