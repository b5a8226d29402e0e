#pragma once
// Loads task plugins (shared libraries) into a Registry, checks their interface version
// and unloads them. Each plugin exports two C functions, declared by LUMEN_DECLARE_PLUGIN:
//   int  lumen_plugin_interface_version(void);
//   void lumen_plugin_register(lumen::plugin::Registry*);
// Plugins are loaded only from folders named explicitly (the install's plugin folder and
// folders the user adds), never from the current directory.

#include "plugin/registry.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#define LUMEN_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

/// Defines the two entry points; `registerFn` is `void (lumen::plugin::Registry&)`.
#define LUMEN_DECLARE_PLUGIN(registerFn)                                                                  \
    LUMEN_PLUGIN_EXPORT int lumen_plugin_interface_version() { return lumen::plugin::kInterfaceVersion; } \
    LUMEN_PLUGIN_EXPORT void lumen_plugin_register(lumen::plugin::Registry* registry) { registerFn(*registry); }

/// A plugin holding one task type (default-constructible): registers it under the plugin name
/// `source` and declares the entry points. Use it at namespace scope, once per plugin.
#define LUMEN_DECLARE_TASK_PLUGIN(TaskType, source) \
    LUMEN_DECLARE_PLUGIN([](lumen::plugin::Registry& r) { r.add(std::make_shared<TaskType>(), source); })

namespace lumen::plugin {

struct LoadedPlugin {
    std::filesystem::path file;
    std::vector<std::string> taskIds;
    void* handle = nullptr;
};

struct FolderReport {
    std::vector<std::filesystem::path> loaded;
    std::vector<std::string> refused;  ///< one message per plugin refused, naming the file
};

class PluginLoader {
public:
    explicit PluginLoader(Registry& registry) : registry_(registry) {}
    /// Unloads every plugin still loaded (tasks still in use are left loaded).
    ~PluginLoader();
    PluginLoader(const PluginLoader&) = delete;
    PluginLoader& operator=(const PluginLoader&) = delete;

    /// Loads one plugin file; throws PluginError naming the file when it cannot be opened,
    /// lacks the entry points, was built for another interface version, or registers a
    /// task id that is already taken.
    const LoadedPlugin& load(const std::filesystem::path& file);
    /// Loads every `*.so` in `folder` (not recursive); a missing folder is not an error.
    FolderReport loadFolder(const std::filesystem::path& folder);
    /// Removes the plugin's tasks and closes it; throws if one of its tasks is still in use.
    void unload(const std::filesystem::path& file);
    const std::vector<LoadedPlugin>& loaded() const { return plugins_; }

private:
    Registry& registry_;
    std::vector<LoadedPlugin> plugins_;
};

/// The install's plugin folder for an executable in `executableDir` (`../lib/lumen/plugins`),
/// followed by the folders in LUMEN_PLUGIN_PATH (colon-separated) and `userFolders`.
std::vector<std::filesystem::path> pluginSearchPath(const std::filesystem::path& executableDir,
                                                    const std::vector<std::filesystem::path>& userFolders = {});

}  // namespace lumen::plugin
