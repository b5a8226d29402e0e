// lumen-cli retrieve: a typed report against the images of a clip_contrastive inference
// (docs/contrastive.md). Runs the task's query in this process, unrecorded: a query is a look-
// up, not a run.
#include "cli_command.h"
#include "cli_progress.h"

#include "config/config.h"
#include "plugin/registry.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace lumen::cli {

namespace fs = std::filesystem;

Command retrieveCommand() {
    Command c;
    c.name = "retrieve";
    c.summary = "retrieve --index DIR --text REPORT: the images of an inference that best match a report";
    c.usage = R"(Usage: lumen-cli retrieve --index DIR --text REPORT [--top K] [--workspace W]

Encodes REPORT with the text encoder of the checkpoint that wrote DIR/retrieval.json (a
clip_contrastive inference: lumen-cli infer --out DIR) and ranks DIR's images by cosine
similarity. Writes DIR/query.json and prints it: {"query", "results": [{"id", "path", "report",
"score"}, ...]}, best first. Nothing is recorded in the workspace.
  --index DIR      the inference folder holding retrieval.json
  --text REPORT    the report to search for
  --top K          how many images (default 5)
  --workspace W    the workspace the inference's config is relative to (default: the current folder)
Exit codes: 0 done, 2 error.
)";
    c.valueOptions = {"index", "text", "top", "workspace"};
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        const auto index = args.value("index"), text = args.value("text");
        if (!index || !text) throw UsageError("retrieve needs --index DIR and --text REPORT");
        const fs::path file = fs::path(*index) / "retrieval.json";
        std::ifstream in(file);
        if (!in) {
            std::cerr << "lumen-cli: " << file.string() << ": no such file (run lumen-cli infer --out " << *index
                      << " first)\n";
            return kError;
        }
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(in);
        } catch (const std::exception& e) {
            std::cerr << "lumen-cli: " << file.string() << ": not JSON: " << e.what() << "\n";
            return kError;
        }
        if (j.value("format", "") != "lumen-retrieval" || !j.contains("config") || !j.contains("checkpoint")) {
            std::cerr << "lumen-cli: " << file.string() << ": not a retrieval index\n";
            return kError;
        }
        YAML::Node root = config::parseYaml(j["config"].get<std::string>(), file.string());
        const auto task = registry.require(root["task"].as<std::string>());
        root["infer"]["query"] = *text;
        root["infer"]["out_dir"] = fs::absolute(*index).string();
        root["infer"]["checkpoint"] = j["checkpoint"].get<std::string>();
        if (auto top = args.value("top")) root["infer"]["top_k"] = *top;
        const auto config = config::makeConfig(root, task->schema(), file.string());
        plugin::RunContext where;
        where.workspace = fs::absolute(args.value("workspace").value_or("."));
        where.runDir = fs::absolute(*index);
        const auto info = runWithProgress(
            "infer", "retrieve",
            [&](jobs::JobContext& job) { return task->run(plugin::Operation::Infer, config, where, job); }, true);
        if (info.state != jobs::JobState::Finished) {
            std::cerr << "lumen-cli: retrieve failed: " << info.outcome << "\n";
            return kError;
        }
        std::ifstream result(fs::path(*index) / "query.json");
        std::cout << result.rdbuf();
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
