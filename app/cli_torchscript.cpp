// lumen-cli torchscript init MODEL.pt: a starting YAML for the torchscript task, written by
// probing the model's input and output shapes (docs/byo-model.md).
#include "cli_command.h"

#include "config/config.h"
#include "explain/cam_job.h"
#include "infer/torchscript_config.h"
#include "plugin/registry.h"
#include "util/atomic_file.h"

#include <filesystem>
#include <iostream>
#include <sstream>

namespace lumen::cli {
namespace {

namespace fs = std::filesystem;

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
            args.value("size") ? sizeArgument(*args.value("size")) : std::vector<std::size_t>{};
        const int channels = static_cast<int>(args.integer("channels").value_or(0));
        const auto probe = explain::listLayers(fs::absolute(model), shape, channels);
        const fs::path out = args.value("out").value_or(fs::path(model).replace_extension(".yaml").string());
        if (fs::exists(out)) {
            std::cerr << "lumen-cli: " << out.string() << " exists: not overwritten (give --out)\n";
            return kError;
        }
        const std::string yaml = infer::torchscriptConfigYaml(model, probe, args.value("data").value_or(""));
        // It must validate against the task's schema as written.
        const auto issues =
            config::validate(config::parseYaml(yaml, out.string()), registry.require("torchscript")->schema());
        if (!issues.empty()) {
            for (const auto& i : issues) std::cerr << i.toString(out.string()) << "\n";
            return kError;
        }
        util::writeFileAtomically(out, yaml);
        std::cout << "probed " << model << ": input " << infer::shapeText(probe.probeShape) << " -> output "
                  << infer::shapeText(probe.outputShape) << "\nwrote " << out.string() << "\n";
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
