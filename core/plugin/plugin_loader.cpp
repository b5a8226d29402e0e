#include "plugin/plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <memory>
#include <cstdlib>
#include <sstream>

namespace lumen::plugin {
namespace {

using VersionFn = int (*)();
using RegisterFn = void (*)(Registry*);

std::string dlMessage() {
    const char* e = dlerror();
    return e ? e : "unknown error";
}

}  // namespace

PluginLoader::~PluginLoader() {
    for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
        const std::string origin = it->file.string();
        if (registry_.inUse(origin)) continue;  // a task object still lives: keep its code mapped
        registry_.removeOrigin(origin);
        dlclose(it->handle);
    }
}

const LoadedPlugin& PluginLoader::load(const std::filesystem::path& requested) {
    // An absolute path: dlopen must never search (or use the current directory) for it.
    const std::filesystem::path file = std::filesystem::absolute(requested).lexically_normal();
    const std::string name = file.string();
    for (const auto& p : plugins_)
        if (p.file == file) return p;
    if (!std::filesystem::is_regular_file(file)) throw PluginError("plugin " + name + ": no such file");

    void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw PluginError("plugin " + name + ": cannot be loaded: " + dlMessage());

    auto version = reinterpret_cast<VersionFn>(dlsym(handle, "lumen_plugin_interface_version"));
    auto registerTasks = reinterpret_cast<RegisterFn>(dlsym(handle, "lumen_plugin_register"));
    if (!version || !registerTasks) {
        dlclose(handle);
        throw PluginError("plugin " + name +
                          ": not a Lumen plugin (it lacks lumen_plugin_interface_version or "
                          "lumen_plugin_register)");
    }
    const int pluginVersion = version();
    if (pluginVersion != kInterfaceVersion) {
        dlclose(handle);
        throw PluginError("plugin " + name + " was built for task interface version " + std::to_string(pluginVersion) +
                          ", but this Lumen has version " + std::to_string(kInterfaceVersion) + ": rebuild the plugin");
    }

    // Register into a scratch registry first so that a failure changes nothing. Task objects
    // must be gone before dlclose: their code lives in the plugin.
    auto staging = std::make_unique<Registry>();
    try {
        registerTasks(staging.get());
    } catch (const std::exception& e) {
        staging.reset();
        dlclose(handle);
        throw PluginError("plugin " + name + ": registering its tasks failed: " + e.what());
    }
    LoadedPlugin loaded{file, staging->ids(), handle};
    try {
        for (const auto& task : staging->tasks()) registry_.add(task, name);
    } catch (...) {
        registry_.removeOrigin(name);
        staging.reset();
        dlclose(handle);
        throw;
    }
    plugins_.push_back(std::move(loaded));
    return plugins_.back();
}

FolderReport PluginLoader::loadFolder(const std::filesystem::path& folder) {
    FolderReport report;
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec)) return report;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(folder, ec))
        if (entry.is_regular_file() && entry.path().extension() == ".so") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        try {
            report.loaded.push_back(load(file).file);
        } catch (const PluginError& e) {
            report.refused.push_back(e.what());
        }
    }
    return report;
}

void PluginLoader::unload(const std::filesystem::path& requested) {
    const std::filesystem::path file = std::filesystem::absolute(requested).lexically_normal();
    auto it = std::find_if(plugins_.begin(), plugins_.end(), [&](const LoadedPlugin& p) { return p.file == file; });
    if (it == plugins_.end()) throw PluginError("plugin " + file.string() + " is not loaded");
    if (registry_.inUse(file.string()))
        throw PluginError("plugin " + file.string() + " cannot be unloaded: one of its tasks is still in use");
    registry_.removeOrigin(file.string());
    dlclose(it->handle);
    plugins_.erase(it);
}

std::vector<std::filesystem::path> pluginSearchPath(const std::filesystem::path& executableDir,
                                                    const std::vector<std::filesystem::path>& userFolders) {
#ifndef LUMEN_PLUGIN_RELATIVE_DIR
#define LUMEN_PLUGIN_RELATIVE_DIR "../lib/lumen/plugins"
#endif
    std::vector<std::filesystem::path> out;
    out.push_back((executableDir / LUMEN_PLUGIN_RELATIVE_DIR).lexically_normal());
    if (const char* env = std::getenv("LUMEN_PLUGIN_PATH")) {
        std::stringstream in(env);
        for (std::string part; std::getline(in, part, ':');)
            if (!part.empty() && std::filesystem::path(part).is_absolute()) out.emplace_back(part);
    }
    for (const auto& folder : userFolders)
        if (folder.is_absolute()) out.push_back(folder);
    return out;
}

}  // namespace lumen::plugin
