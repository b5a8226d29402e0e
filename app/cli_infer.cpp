// lumen-cli infer: runs a trained task's inference as a recorded run.
#include "cli_task_run.h"

#include <filesystem>

namespace lumen::cli {

Command inferCommand() {
    Command c;
    c.name = "infer";
    c.summary = "infer --config C.yaml --checkpoint FILE --out DIR: predictions of a trained model";
    c.usage = R"(Usage: lumen-cli infer --config C.yaml --checkpoint FILE --out DIR [--workspace DIR]

Runs the task's inference with the weights of FILE (its EMA weights when it has them) and
writes its predictions into DIR (for roi_consistency: preds.csv, preds.json, roi_vis/). The
run is recorded in the workspace like a training run.
  --config C.yaml     the task config (data keys say which images)
  --checkpoint FILE   a checkpoint written by `lumen-cli train`
  --out DIR           where the predictions go (created)
  --workspace DIR     the workspace (default: the current folder)
Exit codes: 0 done, 1 invalid config, 2 error or cancelled.
)";
    c.valueOptions = {"config", "checkpoint", "out", "workspace"};
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        namespace fs = std::filesystem;
        if (args.words.size() != 1) throw UsageError("infer takes no positional arguments");
        const auto config = args.value("config");
        const auto checkpoint = args.value("checkpoint");
        const auto out = args.value("out");
        if (!config || !checkpoint || !out) throw UsageError("infer needs --config, --checkpoint and --out");
        if (!fs::is_regular_file(*checkpoint)) throw UsageError("--checkpoint " + *checkpoint + ": no such file");
        fs::create_directories(*out);
        const std::vector<std::pair<std::string, std::string>> overrides = {
            {"infer.checkpoint", fs::absolute(*checkpoint).string()}, {"infer.out_dir", fs::absolute(*out).string()}};
        return runTaskCommand(false, *config, args.value("workspace").value_or("."), overrides, registry);
    };
    return c;
}

}  // namespace lumen::cli
