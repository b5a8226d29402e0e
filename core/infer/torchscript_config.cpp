#include "infer/torchscript_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <sstream>

namespace lumen::infer {

namespace fs = std::filesystem;

std::string shapeText(const std::vector<std::int64_t>& shape) {
    std::string out;
    for (auto v : shape) out += (out.empty() ? "" : "x") + std::to_string(v);
    return out;
}

std::string torchscriptConfigYaml(const std::string& model, const explain::LayerListing& probe,
                                  const std::string& data) {
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

}  // namespace lumen::infer
