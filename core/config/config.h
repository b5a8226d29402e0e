#pragma once
// YAML configuration: load, validate against a schema (errors name the key path and what
// was expected), fill defaults, and hash the effective config canonically.

#include "config/schema.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::config {

struct ConfigIssue {
    std::string path;     ///< key path, e.g. "loss_weights.contrastive"
    std::string message;  ///< e.g. "expected a number ≥ 0, got \"high\""
    int line = 0;         ///< 1-based line in the YAML text, 0 when unknown
    std::string toString(const std::string& file = {}) const;
};

/// Thrown when a config does not satisfy its schema; what() lists every issue.
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, std::vector<ConfigIssue> issues);
    const std::vector<ConfigIssue>& issues() const { return issues_; }
    const std::string& file() const { return file_; }

private:
    std::string file_;
    std::vector<ConfigIssue> issues_;
};

/// An effective configuration: every schema key present (defaults filled in).
class Config {
public:
    Config() = default;
    explicit Config(YAML::Node root) : root_(std::move(root)) {}

    const YAML::Node& root() const { return root_; }
    bool has(const std::string& path) const;
    /// Value at a dotted path; throws ConfigError naming the path if absent or mistyped.
    template <typename T>
    T get(const std::string& path) const;
    /// Canonical text: keys sorted, numbers normalised, so equal configs give equal text.
    std::string canonical() const;
    /// SHA-256 of canonical(), hex.
    std::string hash() const;
    std::string toYaml() const;

private:
    YAML::Node root_;
};

/// Checks `root` against `schema`: types, ranges, choices, required keys, unknown keys
/// (with a "did you mean" hint). Returns every problem found, in key order.
std::vector<ConfigIssue> validate(const YAML::Node& root, const Schema& schema);

/// Validates and fills defaults; throws ConfigError (naming `file` if given) on any issue.
Config makeConfig(const YAML::Node& root, const Schema& schema, const std::string& file = {});

/// Parses YAML text; a syntax error becomes a ConfigError with its line.
YAML::Node parseYaml(const std::string& text, const std::string& file = {});
YAML::Node loadYamlFile(const std::filesystem::path& path);

/// Reads, validates and completes a config file.
Config loadConfigFile(const std::filesystem::path& path, const Schema& schema);

/// Node at a dotted path (an undefined node when absent); never creates keys.
YAML::Node lookup(const YAML::Node& root, const std::string& path);

/// A copy of `root` whose `keys` (dotted paths) hold `stored`'s values where `stored` has them:
/// inference rebuilds a model as it was trained by taking its model-shaping keys from the
/// checkpoint's config. `differs(key, storedValue)` is called for each key whose value changes.
YAML::Node withKeysFrom(const YAML::Node& root, const YAML::Node& stored, const std::vector<std::string>& keys,
                        const std::function<void(const std::string&, const std::string&)>& differs = {});

template <typename T>
T Config::get(const std::string& path) const {
    const YAML::Node node = lookup(root_, path);
    if (!node.IsDefined() || node.IsNull()) throw ConfigError({}, {{path, "missing", 0}});
    try {
        return node.as<T>();
    } catch (const YAML::Exception&) {
        throw ConfigError({}, {{path, "has the wrong type: \"" + YAML::Dump(node) + "\"", node.Mark().line + 1}});
    }
}

}  // namespace lumen::config
