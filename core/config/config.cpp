#include "config/config.h"

#include "util/sha256.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace lumen::config {
namespace {

std::vector<std::string> splitPath(const std::string& path) {
    std::vector<std::string> parts;
    std::stringstream in(path);
    for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
    return parts;
}

std::string joinPath(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
}

int lineOf(const YAML::Node& node) {
    const int line = node.Mark().line;
    return line >= 0 ? line + 1 : 0;
}

bool isQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

// Plain YAML scalars that read as numbers; quoted scalars are strings, whatever they hold.
std::optional<double> asNumber(const YAML::Node& node) {
    if (!node.IsScalar() || isQuoted(node)) return std::nullopt;
    const std::string& text = node.Scalar();
    static const std::map<std::string, double> kSpecial = {
        {".nan", NAN},      {".NaN", NAN},       {".NAN", NAN},        {".inf", INFINITY},
        {".Inf", INFINITY}, {"+.inf", INFINITY}, {"-.inf", -INFINITY}, {"-.Inf", -INFINITY}};
    if (auto it = kSpecial.find(text); it != kSpecial.end()) return it->second;
    if (text.empty()) return std::nullopt;
    double value = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<bool> asBool(const YAML::Node& node) {
    if (!node.IsScalar() || isQuoted(node)) return std::nullopt;
    std::string t = node.Scalar();
    std::transform(t.begin(), t.end(), t.begin(), ::tolower);
    if (t == "true" || t == "yes" || t == "on") return true;
    if (t == "false" || t == "no" || t == "off") return false;
    return std::nullopt;
}

std::string describe(const YAML::Node& node) {
    if (node.IsNull()) return "nothing (null)";
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    return "\"" + node.Scalar() + "\"";
}

bool inRange(const Field& f, double v) {
    if (!std::isfinite(v)) return false;
    if (f.min && (f.minExclusive ? v <= *f.min : v < *f.min)) return false;
    if (f.max && v > *f.max) return false;
    return true;
}

std::optional<std::string> checkScalar(const Field& f, const YAML::Node& node) {
    const std::string got = ", got " + describe(node);
    switch (f.type) {
    case FieldType::Bool:
        if (!asBool(node)) return "expected " + f.expectation() + got;
        return std::nullopt;
    case FieldType::Int: {
        auto v = asNumber(node);
        if (!v || !inRange(f, *v) || std::floor(*v) != *v) return "expected " + f.expectation() + got;
        return std::nullopt;
    }
    case FieldType::Float: {
        auto v = asNumber(node);
        if (!v || !inRange(f, *v)) return "expected " + f.expectation() + got;
        return std::nullopt;
    }
    case FieldType::String:
        if (!node.IsScalar()) return "expected " + f.expectation() + got;
        return std::nullopt;
    case FieldType::Choice:
        if (!node.IsScalar() || std::find(f.choices.begin(), f.choices.end(), node.Scalar()) == f.choices.end())
            return "expected " + f.expectation() + got;
        return std::nullopt;
    case FieldType::StringList:
        if (!node.IsSequence()) return "expected " + f.expectation() + got;
        for (size_t i = 0; i < node.size(); ++i)
            if (!node[i].IsScalar())
                return "expected " + f.expectation() + ", item " + std::to_string(i) + " is " + describe(node[i]);
        return std::nullopt;
    case FieldType::FloatList:
        if (!node.IsSequence()) return "expected " + f.expectation() + got;
        for (size_t i = 0; i < node.size(); ++i) {
            auto v = asNumber(node[i]);
            if (!v || !inRange(f, *v))
                return "expected " + f.expectation() + ", item " + std::to_string(i) + " is " + describe(node[i]);
        }
        return std::nullopt;
    }
    return std::nullopt;
}

std::size_t editDistance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = up;
        }
    }
    return row[b.size()];
}

std::string suggestion(const std::string& path, const Schema& schema) {
    std::string best;
    std::size_t bestDistance = std::max<std::size_t>(2, path.size() / 3) + 1;
    for (const auto& f : schema.fields()) {
        const std::size_t d = editDistance(path, f.path);
        if (d < bestDistance) {
            bestDistance = d;
            best = f.path;
        }
    }
    return best.empty() ? "" : " (did you mean \"" + best + "\"?)";
}

void findUnknown(const YAML::Node& map, const std::string& parent, const Schema& schema,
                 std::vector<ConfigIssue>& issues) {
    for (const auto& kv : map) {
        // A null or complex key (`? :`, `[a]: 1`) has no string form: as<std::string>() threw
        // YAML::TypedBadConversion out of validate() (found by fuzz_yaml).
        if (!kv.first.IsScalar()) {
            issues.push_back({parent, "keys must be plain names, got " + describe(kv.first), lineOf(kv.first)});
            continue;
        }
        const std::string path = joinPath(parent, kv.first.as<std::string>());
        if (schema.find(path)) continue;
        if (schema.isSection(path)) {
            if (kv.second.IsMap()) findUnknown(kv.second, path, schema, issues);
            else if (!kv.second.IsNull())
                issues.push_back(
                    {path, "expected a mapping of settings, got " + describe(kv.second), lineOf(kv.second)});
            continue;
        }
        issues.push_back({path, "unknown key" + suggestion(path, schema), lineOf(kv.first)});
    }
}

// Rewrites a validated scalar in one spelling per value, so that the canonical text (and
// the hash) does not depend on how the user wrote it (1e-4 vs 0.0001, yes vs true).
YAML::Node normalised(const Field& f, const YAML::Node& node) {
    auto number = [](double v) {
        char buf[64];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
        return std::string(buf, end);
    };
    switch (f.type) {
    case FieldType::Bool: return YAML::Node(*asBool(node));
    case FieldType::Int: return YAML::Node(static_cast<long long>(*asNumber(node)));
    case FieldType::Float: return YAML::Node(number(*asNumber(node)));
    case FieldType::FloatList: {
        YAML::Node list(YAML::NodeType::Sequence);
        for (const auto& item : node) list.push_back(YAML::Node(number(*asNumber(item))));
        return list;
    }
    default: return YAML::Clone(node);
    }
}

void setPath(YAML::Node node, const std::vector<std::string>& parts, size_t i, const YAML::Node& value) {
    if (i + 1 == parts.size()) {
        node[parts[i]] = value;
        return;
    }
    if (!node[parts[i]].IsMap()) node[parts[i]] = YAML::Node(YAML::NodeType::Map);
    setPath(node[parts[i]], parts, i + 1, value);
}

void setPath(YAML::Node& root, const std::string& path, const YAML::Node& value) {
    setPath(root, splitPath(path), 0, value);
}

nlohmann::json toJson(const YAML::Node& node) {
    switch (node.Type()) {
    case YAML::NodeType::Map: {
        nlohmann::json obj = nlohmann::json::object();  // std::map: keys come out sorted
        for (const auto& kv : node)
            obj[kv.first.IsScalar() ? kv.first.as<std::string>() : YAML::Dump(kv.first)] = toJson(kv.second);
        return obj;
    }
    case YAML::NodeType::Sequence: {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& item : node) arr.push_back(toJson(item));
        return arr;
    }
    case YAML::NodeType::Scalar: {
        if (isQuoted(node)) return node.Scalar();
        if (auto b = asBool(node)) return *b;
        if (auto v = asNumber(node)) {
            if (std::isfinite(*v) && std::floor(*v) == *v && std::abs(*v) < 9e15) return static_cast<long long>(*v);
            if (!std::isfinite(*v)) return node.Scalar();
            return *v;
        }
        return node.Scalar();
    }
    default: return nullptr;
    }
}

}  // namespace

std::string ConfigIssue::toString(const std::string& file) const {
    std::string where;
    if (!file.empty()) where = file + (line > 0 ? ":" + std::to_string(line) : "") + ": ";
    else if (line > 0) where = "line " + std::to_string(line) + ": ";
    return where + (path.empty() ? "" : path + ": ") + message;
}

namespace {
std::string joinIssues(const std::string& file, const std::vector<ConfigIssue>& issues) {
    std::string text;
    for (const auto& issue : issues) text += (text.empty() ? "" : "\n") + issue.toString(file);
    return text;
}
}  // namespace

ConfigError::ConfigError(std::string file, std::vector<ConfigIssue> issues)
    : std::runtime_error(joinIssues(file, issues)), file_(std::move(file)), issues_(std::move(issues)) {}

YAML::Node lookup(const YAML::Node& root, const std::string& path) {
    // reset() rebinds the handle; operator= would overwrite the node it points to.
    YAML::Node node;
    node.reset(root);
    for (const auto& part : splitPath(path)) {
        if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
        const YAML::Node& current = node;
        const YAML::Node child = current[part];
        if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
        node.reset(child);
    }
    return node;
}

YAML::Node withKeysFrom(const YAML::Node& root, const YAML::Node& stored, const std::vector<std::string>& keys,
                        const std::function<void(const std::string&, const std::string&)>& differs) {
    YAML::Node out = YAML::Clone(root);
    for (const auto& key : keys) {
        const YAML::Node value = lookup(stored, key);
        if (!value.IsDefined()) continue;
        if (differs && YAML::Dump(value) != YAML::Dump(lookup(out, key))) differs(key, YAML::Dump(value));
        setPath(out, key, YAML::Clone(value));
    }
    return out;
}

std::vector<ConfigIssue> validate(const YAML::Node& root, const Schema& schema) {
    std::vector<ConfigIssue> issues;
    if (!root.IsDefined() || root.IsNull()) {
        for (const auto& f : schema.fields())
            if (f.required) issues.push_back({f.path, "required key is missing", 0});
        return issues;
    }
    if (!root.IsMap()) return {{"", "expected a mapping of settings at the top, got " + describe(root), lineOf(root)}};
    for (const auto& f : schema.fields()) {
        const YAML::Node node = lookup(root, f.path);
        if (!node.IsDefined() || node.IsNull()) {
            if (f.required) issues.push_back({f.path, "required key is missing", 0});
            continue;
        }
        if (auto problem = checkScalar(f, node)) issues.push_back({f.path, *problem, lineOf(node)});
    }
    findUnknown(root, "", schema, issues);
    std::stable_sort(issues.begin(), issues.end(),
                     [](const auto& a, const auto& b) { return a.line != b.line ? a.line < b.line : a.path < b.path; });
    return issues;
}

Config makeConfig(const YAML::Node& root, const Schema& schema, const std::string& file) {
    if (auto issues = validate(root, schema); !issues.empty()) throw ConfigError(file, issues);
    YAML::Node effective(YAML::NodeType::Map);
    for (const auto& f : schema.fields()) {
        const YAML::Node node = root.IsDefined() && !root.IsNull() ? lookup(root, f.path) : YAML::Node();
        if (node.IsDefined() && !node.IsNull()) setPath(effective, f.path, normalised(f, node));
        else if (!f.defaultYaml.empty() && !f.required)
            setPath(effective, f.path, normalised(f, YAML::Load(f.defaultYaml)));
    }
    return Config(effective);
}

YAML::Node parseYaml(const std::string& text, const std::string& file) {
    try {
        return YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        throw ConfigError(file, {{"", "YAML syntax error: " + e.msg, e.mark.line + 1}});
    }
}

YAML::Node loadYamlFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path.string(), {{"", "cannot open the file for reading", 0}});
    std::stringstream text;
    text << in.rdbuf();
    return parseYaml(text.str(), path.string());
}

Config loadConfigFile(const std::filesystem::path& path, const Schema& schema) {
    return makeConfig(loadYamlFile(path), schema, path.string());
}

bool Config::has(const std::string& path) const {
    const YAML::Node node = lookup(root_, path);
    return node.IsDefined() && !node.IsNull();
}

std::string Config::canonical() const { return toJson(root_).dump(); }

std::string Config::hash() const { return util::sha256Hex(canonical()); }

std::string Config::toYaml() const {
    YAML::Emitter out;
    out << root_;
    return out.c_str();
}

}  // namespace lumen::config
