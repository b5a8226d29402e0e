#pragma once
// The LibTorch half of the task kit (docs/plugins.md): the steps every task plugin takes the
// same way, so that a plugin holds only its model, dataset, loss, metrics and prediction rows.
// - trainerOptionsFor: the Trainer's options from the config, the run's checkpoint folder, the
//   resume checkpoint (resolved in the workspace) and the model-shaping keys.
// - prepareInference: checkpoint -> config with the checkpoint's model-shaping keys -> task id
//   checked -> LibTorch threads -> output folder resolved in the workspace and created.
// - finishTraining: the best checkpoint as an artifact, exported as TorchScript, and the
//   one-line summary.
// Torch-only header: include it from lumen_ml or plugins only.

#include "config/config.h"
#include "plugin/task.h"
#include "train/trainer.h"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace lumen::train {

TrainerOptions trainerOptionsFor(const config::Config& c, const std::string& taskId, const plugin::RunContext& where,
                                 const std::vector<std::string>& modelKeys);

struct InferenceSetup {
    config::Config config;             ///< the request with the checkpoint's model-shaping keys
    std::filesystem::path checkpoint;  ///< infer.checkpoint, resolved in the workspace
    CheckpointInfo info;
    std::filesystem::path outDir;       ///< infer.out_dir in the workspace, or the run folder; created
    torch::Device device{torch::kCPU};  ///< `device` resolved (train/device.h)
    Autocast autocast = Autocast::Off;  ///< `precision` as this device can run it
};

/// Throws config::ConfigError when infer.checkpoint is empty, CheckpointError when the
/// checkpoint is unreadable or of another task (naming the file and both task ids). A
/// model-shaping key that differs from the checkpoint's is a warning on `job`; so is a
/// precision this device cannot run.
InferenceSetup prepareInference(const config::Config& requested, const plugin::RunContext& where, jobs::JobContext& job,
                                const std::string& taskId, const std::vector<std::string>& modelKeys);

/// After Trainer::run: records the best checkpoint (artifact `best_checkpoint`), lets `onBest`
/// write what belongs beside it (e.g. thresholds), loads its weights into the model and
/// exports it as `<run>/<taskId>_best.torchscript.pt` through `exportBest` (artifact
/// `torchscript`). Returns "trained E epochs (S steps), val <key> <value>..., best <file>" with
/// the `summaryKeys` of the last validation.
struct AfterTraining {
    std::function<void(const std::filesystem::path& best)> onBest;  ///< may be empty
    std::function<void(const std::filesystem::path& best, const std::filesystem::path& file)> exportBest;
    std::vector<std::string> summaryKeys{"auroc_macro"};
};
std::string finishTraining(const TrainResult& result, const plugin::RunContext& where, jobs::JobContext& job,
                           const std::string& taskId, const AfterTraining& steps);

}  // namespace lumen::train
