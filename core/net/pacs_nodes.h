#pragma once
// The PACS nodes a workspace knows, stored in <workspace>/pacs_nodes.yaml:
//
//   nodes:
//     - name: orthanc            # unique, used by `lumen-cli pacs echo orthanc`
//       ae_title: ORTHANC
//       host: 127.0.0.1
//       port: 4242
//       calling_ae_title: LUMEN  # optional (default LUMEN)
//       timeout_seconds: 30      # optional (default 30)
//
// Loading validates every node and throws config::ConfigError listing each problem with its
// key path ("nodes[1].port") and line.

#include "net/pacs_client.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lumen::net {

struct NamedPacsNode {
    std::string name;
    PacsNode node;
};

/// <workspace>/pacs_nodes.yaml
std::filesystem::path pacsNodesFile(const std::filesystem::path& workspace);

/// Parses the YAML text of a nodes file; `file` names it in errors.
std::vector<NamedPacsNode> parsePacsNodes(const std::string& yaml, const std::string& file = {});
/// Reads the workspace's nodes file; a missing file is an empty list.
std::vector<NamedPacsNode> loadPacsNodes(const std::filesystem::path& workspace);

/// The YAML text of `nodes` (validated first: throws config::ConfigError like loading).
std::string pacsNodesYaml(const std::vector<NamedPacsNode>& nodes);
/// Writes the workspace's nodes file atomically.
void savePacsNodes(const std::filesystem::path& workspace, const std::vector<NamedPacsNode>& nodes);

/// A node by name, or parsed from "AE@host:port" when `text` contains '@'; throws
/// std::invalid_argument naming the text (and the known names) otherwise.
PacsNode resolvePacsNode(const std::string& text, const std::vector<NamedPacsNode>& known);

}  // namespace lumen::net
