#include "train/task_steps.h"

#include "jobs/job.h"
#include "plugin/task_kit.h"
#include "util/parallel.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

namespace lumen::train {

namespace fs = std::filesystem;

TrainerOptions trainerOptionsFor(const config::Config& c, const std::string& taskId, const plugin::RunContext& where,
                                 const std::vector<std::string>& modelKeys) {
    auto o = TrainerOptions::fromConfig(c, taskId);
    o.checkpointDir = where.runDir / "checkpoints";
    o.modelKeys = modelKeys;
    if (const auto r = c.get<std::string>("resume"); !r.empty()) o.resumeFrom = plugin::inWorkspace(where.workspace, r);
    return o;
}

InferenceSetup prepareInference(const config::Config& requested, const plugin::RunContext& where, jobs::JobContext& job,
                                const std::string& taskId, const std::vector<std::string>& modelKeys) {
    const auto key = requested.get<std::string>("infer.checkpoint");
    if (key.empty()) throw config::ConfigError({}, {{"infer.checkpoint", "inference needs a checkpoint", 0}});
    const fs::path ckpt = plugin::inWorkspace(where.workspace, key);
    auto info = readCheckpointInfo(ckpt);
    if (info.taskId != taskId)
        throw CheckpointError(ckpt.string() + ": a checkpoint of task \"" + info.taskId + "\", not " + taskId);
    // The model is built as it was trained: model-shaping keys come from the checkpoint.
    config::Config c(config::withKeysFrom(
        requested.root(), config::parseYaml(info.configYaml, ckpt.string()), modelKeys,
        [&](const std::string& k, const std::string& v) { job.warning(k + ": using the checkpoint's value " + v); }));
    const int threads = c.get<int>("threads");
    torch::set_num_threads(static_cast<int>(util::resolveThreads(threads)));
    const auto outKey = requested.get<std::string>("infer.out_dir");
    const fs::path out = outKey.empty() ? where.runDir : plugin::inWorkspace(where.workspace, outKey);
    fs::create_directories(out);
    const auto device = resolveDevice(c.has("device") ? c.get<std::string>("device") : "auto");
    applyCudaSwitches(c.has("cuda.tf32") && c.get<bool>("cuda.tf32"),
                      c.has("cuda.cudnn_benchmark") && c.get<bool>("cuda.cudnn_benchmark"));
    std::string why;
    const auto autocast = autocastFor(c.get<std::string>("precision"), device, &why);
    if (!why.empty()) job.warning(why);
    return {std::move(c), ckpt, std::move(info), out, device, autocast};
}

std::string finishTraining(const TrainResult& r, const plugin::RunContext& where, jobs::JobContext& job,
                           const std::string& taskId, const AfterTraining& steps) {
    if (!r.bestCheckpoint.empty() && where.rank == 0) {  // ranks above 0 write nothing
        job.artifact("best_checkpoint", r.bestCheckpoint.string());
        if (steps.onBest) steps.onBest(r.bestCheckpoint);
        // The best weights (EMA when on) as TorchScript, for use outside Lumen.
        if (steps.exportBest) {
            const auto ts = where.runDir / (taskId + "_best.torchscript.pt");
            steps.exportBest(r.bestCheckpoint, ts);
            job.artifact("torchscript", ts.string());
        }
    }
    std::string summary = "trained " + std::to_string(r.epochsDone) + " epochs (" + std::to_string(r.steps) + " steps)";
    for (const auto& key : steps.summaryKeys)
        if (auto it = r.lastValidation.find(key); it != r.lastValidation.end())
            summary += ", val " + key + " " + plugin::fixed(it->second, 4);
    if (r.stoppedEarly) summary += ", stopped early";
    if (r.worldSize > 1) summary += ", " + std::to_string(r.worldSize) + " ranks";
    if (r.device != "cpu") summary += ", on " + r.device;
    if (!r.bestCheckpoint.empty()) summary += "; best " + r.bestCheckpoint.filename().string();
    return summary;
}

}  // namespace lumen::train
