#include "net/pacs_nodes.h"

#include "config/config.h"
#include "config/schema.h"
#include "util/atomic_file.h"

#include <fstream>
#include <set>
#include <sstream>

namespace lumen::net {
namespace {

const config::Schema& nodeSchema() {
    static const config::Schema schema = [] {
        config::Schema s("pacs node");
        s.addString("name", "", "name the node is known by").required = true;
        s.addString("ae_title", "", "the PACS's AE title (called AE)").required = true;
        s.addString("host", "", "host name or address").required = true;
        s.addInt("port", 104, "DICOM port", 1, 65535).required = true;
        s.addString("calling_ae_title", "LUMEN", "our AE title, as the PACS knows it");
        s.addInt("timeout_seconds", 30, "connect / association / message timeout", 1, 3600);
        return s;
    }();
    return schema;
}

int lineOf(const YAML::Node& node) {
    const int line = node.Mark().line;
    return line >= 0 ? line + 1 : 0;
}

}  // namespace

std::filesystem::path pacsNodesFile(const std::filesystem::path& workspace) { return workspace / "pacs_nodes.yaml"; }

std::vector<NamedPacsNode> parsePacsNodes(const std::string& yaml, const std::string& file) {
    const YAML::Node root = config::parseYaml(yaml, file);
    std::vector<NamedPacsNode> nodes;
    if (!root.IsDefined() || root.IsNull()) return nodes;
    std::vector<config::ConfigIssue> issues;
    if (!root.IsMap()) throw config::ConfigError(file, {{"", "expected a mapping with a `nodes` list", lineOf(root)}});
    for (const auto& entry : root) {
        const std::string key = entry.first.as<std::string>();
        if (key != "nodes") issues.push_back({key, "unknown key (expected `nodes`)", lineOf(entry.first)});
    }
    const YAML::Node list = config::lookup(root, "nodes");
    if (list.IsDefined() && !list.IsNull() && !list.IsSequence())
        issues.push_back({"nodes", "expected a list of nodes", lineOf(list)});
    std::set<std::string> names;
    if (list.IsSequence()) {
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string prefix = "nodes[" + std::to_string(i) + "]";
            const YAML::Node item = list[i];
            for (auto issue : config::validate(item, nodeSchema())) {
                issue.path = prefix + (issue.path.empty() ? "" : "." + issue.path);
                issues.push_back(issue);
            }
            if (!item.IsMap()) continue;
            // The known keys alone: if they are well typed, check what the values mean too,
            // so one pass reports an unknown key and a bad AE title together.
            YAML::Node known(YAML::NodeType::Map);
            for (const auto& entry : item)
                if (nodeSchema().find(entry.first.as<std::string>()))
                    known[entry.first.as<std::string>()] = entry.second;
            if (!config::validate(known, nodeSchema()).empty()) continue;
            const config::Config c = config::makeConfig(known, nodeSchema(), file);
            NamedPacsNode n;
            n.name = c.get<std::string>("name");
            n.node.aeTitle = c.get<std::string>("ae_title");
            n.node.host = c.get<std::string>("host");
            n.node.port = c.get<int>("port");
            n.node.callingAeTitle = c.get<std::string>("calling_ae_title");
            n.node.timeoutSeconds = c.get<int>("timeout_seconds");
            for (const auto& problem : validateNode(n.node)) {
                const std::string field = problem.substr(0, problem.find(' '));
                issues.push_back(
                    {prefix + "." + field, problem.substr(problem.find(' ') + 1),
                     lineOf(config::lookup(item, field).IsDefined() ? config::lookup(item, field) : item)});
            }
            if (n.name.empty() || !names.insert(n.name).second)
                issues.push_back(
                    {prefix + ".name",
                     n.name.empty() ? "must not be empty" : "\"" + n.name + "\" is used by an earlier node",
                     lineOf(config::lookup(item, "name"))});
            nodes.push_back(std::move(n));
        }
    }
    if (!issues.empty()) throw config::ConfigError(file, issues);
    return nodes;
}

std::vector<NamedPacsNode> loadPacsNodes(const std::filesystem::path& workspace) {
    const auto path = pacsNodesFile(workspace);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return {};
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path.string() + ": cannot open for reading");
    std::stringstream text;
    text << in.rdbuf();
    return parsePacsNodes(text.str(), path.string());
}

std::string pacsNodesYaml(const std::vector<NamedPacsNode>& nodes) {
    YAML::Emitter out;
    out << YAML::BeginMap << YAML::Key << "nodes" << YAML::Value << YAML::BeginSeq;
    for (const auto& n : nodes) {
        out << YAML::BeginMap;
        out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << n.name;
        out << YAML::Key << "ae_title" << YAML::Value << YAML::DoubleQuoted << n.node.aeTitle;
        out << YAML::Key << "host" << YAML::Value << YAML::DoubleQuoted << n.node.host;
        out << YAML::Key << "port" << YAML::Value << n.node.port;
        out << YAML::Key << "calling_ae_title" << YAML::Value << YAML::DoubleQuoted << n.node.callingAeTitle;
        out << YAML::Key << "timeout_seconds" << YAML::Value << n.node.timeoutSeconds;
        out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;
    std::string text = std::string("# PACS nodes of this workspace (docs/pacs.md)\n") + out.c_str() + "\n";
    parsePacsNodes(text, "pacs_nodes.yaml");  // the same checks as loading
    return text;
}

void savePacsNodes(const std::filesystem::path& workspace, const std::vector<NamedPacsNode>& nodes) {
    util::writeFileAtomically(pacsNodesFile(workspace), pacsNodesYaml(nodes));
}

PacsNode resolvePacsNode(const std::string& text, const std::vector<NamedPacsNode>& known) {
    if (text.find('@') != std::string::npos) return parseNodeAddress(text);
    std::string names;
    for (const auto& n : known) {
        if (n.name == text) return n.node;
        names += (names.empty() ? "" : ", ") + n.name;
    }
    throw std::invalid_argument("unknown PACS node \"" + text +
                                "\": give AE@host:port or one of the workspace's nodes (" +
                                (names.empty() ? "none configured" : names) + ")");
}

}  // namespace lumen::net
