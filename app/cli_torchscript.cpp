// lumen-cli torchscript init MODEL.pt: a starting YAML for the torchscript task, written by
// probing the model's input and output shapes (docs/byo-model.md).
#include "cli_command.h"

#include "config/config.h"
#include "explain/cam_job.h"
#include "plugin/registry.h"
#include "util/atomic_file.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <iostream>
#include <sstream>

namespace lumen::cli {
namespace {

namespace fs = std::filesystem;

std::vector<std::size_t> sizeArg(const std::string& text) {
    std::vector<std::size_t> out;
    std::stringstream ss(text);
    std::string part;
    while (std::getline(ss, part, 'x')) {
        try {
            std::size_t used = 0;
            const long long v = std::stoll(part, &used);
            if (used != part.size() || v < 1 || v > 16384) throw std::invalid_argument(part);
            out.push_back(static_cast<std::size_t>(v));
        } catch (const std::exception&) {
            throw UsageError("--size: expected HxW or DxHxW, got \"" + text + "\"");
        }
    }
    if (out.size() != 2 && out.size() != 3) throw UsageError("--size: expected HxW or DxHxW, got \"" + text + "\"");
    return out;
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
    std::string out;
    for (auto v : shape) out += (out.empty() ? "" : "x") + std::to_string(v);
    return out;
}

/// The YAML of the torchscript task for a probed model.
std::string initYaml(const std::string& model, const explain::LayerListing& probe, const std::string& data) {
    const auto& in = probe.probeShape;
    const bool image = in.size() == 4;
    const std::int64_t outputs =
        probe.outputShape.size() >= 2 ? probe.outputShape[1] : (probe.outputShape.empty() ? 0 : 1);
    YAML::Emitter y;
    y << YAML::BeginMap << YAML::Key << "task" << YAML::Value << "torchscript";
    y << YAML::Key << "infer" << YAML::Value << YAML::BeginMap << YAML::Key << "checkpoint" << YAML::Value << model
      << YAML::Key << "out_dir" << YAML::Value << "" << YAML::EndMap;
    y << YAML::Key << "input" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "kind" << YAML::Value << (image ? "image" : "volume");
    y << YAML::Key << "size" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (std::size_t i = 2; i < in.size(); ++i) y << in[i];
    y << YAML::EndSeq << YAML::Key << "channels" << YAML::Value << in.at(1);
    if (image && in.at(1) == 3)
        y << YAML::Key << "mean" << YAML::Value << YAML::Flow << std::vector<double>{0.485, 0.456, 0.406} << YAML::Key
          << "std" << YAML::Value << YAML::Flow << std::vector<double>{0.229, 0.224, 0.225};
    else
        y << YAML::Key << "mean" << YAML::Value << YAML::Flow << std::vector<double>{} << YAML::Key << "std"
          << YAML::Value << YAML::Flow << std::vector<double>{};
    y << YAML::EndMap;
    std::vector<std::string> names;
    for (std::int64_t k = 0; k < outputs; ++k) names.push_back("output_" + std::to_string(k));
    y << YAML::Key << "outputs" << YAML::Value << YAML::BeginMap << YAML::Key << "names" << YAML::Value << YAML::Flow
      << names << YAML::Key << "activation" << YAML::Value << "sigmoid" << YAML::EndMap;
    y << YAML::Key << "id_column" << YAML::Value << "image";
    const bool folder = !data.empty() && fs::is_directory(data);
    y << YAML::Key << "data" << YAML::Value << YAML::BeginMap << YAML::Key << "manifest" << YAML::Value
      << (folder ? "" : data) << YAML::Key << "folder" << YAML::Value << (folder ? data : "") << YAML::EndMap;
    y << YAML::EndMap;
    std::ostringstream text;
    text << "# Written by `lumen-cli torchscript init` from probing " << model << ": input " << shapeText(in)
         << " -> output " << shapeText(probe.outputShape) << ".\n"
         << "# Check input.size / channels / mean / std against how the model was trained, name the\n"
         << "# outputs, choose their activation (sigmoid, softmax, identity) and set data.manifest or\n"
         << "# data.folder. Every key: docs/byo-model.md.\n"
         << y.c_str() << "\n";
    return text.str();
}

}  // namespace

Command torchscriptCommand() {
    Command c;
    c.name = "torchscript";
    c.summary = "torchscript init MODEL.pt: a torchscript-task YAML from probing the model";
    c.usage = R"(Usage: lumen-cli torchscript init MODEL.pt [--out C.yaml] [--size HxW|DxHxW] [--channels C]
                                 [--data MANIFEST|FOLDER]

Probes the TorchScript module with a random input ((1, C, 224, 224) or (1, C, 16, 112, 112)
from its first convolution, or --size / --channels) and writes a config of the torchscript
task with the input and the number of outputs it found (default C.yaml: MODEL.yaml beside
the model). The file validates as written; name the outputs and check the normalisation,
then run `lumen-cli infer --config C.yaml`.
Exit codes: 0 written, 2 error (a model that rejects the probe: give --size / --channels).
)";
    c.valueOptions = {"out", "size", "channels", "data"};
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        if (args.words.size() != 3 || args.words[1] != "init") throw UsageError("expected: torchscript init MODEL.pt");
        const std::string model = args.words[2];
        if (!fs::is_regular_file(model)) throw UsageError(model + ": no such file");
        const std::vector<std::size_t> shape =
            args.value("size") ? sizeArg(*args.value("size")) : std::vector<std::size_t>{};
        const int channels = static_cast<int>(args.integer("channels").value_or(0));
        const auto probe = explain::listLayers(fs::absolute(model), shape, channels);
        const fs::path out = args.value("out").value_or(fs::path(model).replace_extension(".yaml").string());
        if (fs::exists(out)) {
            std::cerr << "lumen-cli: " << out.string() << " exists: not overwritten (give --out)\n";
            return kError;
        }
        const std::string yaml = initYaml(model, probe, args.value("data").value_or(""));
        // It must validate against the task's schema as written.
        const auto issues =
            config::validate(config::parseYaml(yaml, out.string()), registry.require("torchscript")->schema());
        if (!issues.empty()) {
            for (const auto& i : issues) std::cerr << i.toString(out.string()) << "\n";
            return kError;
        }
        util::writeFileAtomically(out, yaml);
        std::cout << "probed " << model << ": input " << shapeText(probe.probeShape) << " -> output "
                  << shapeText(probe.outputShape) << "\nwrote " << out.string() << "\n";
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
