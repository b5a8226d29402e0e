#pragma once
// The task-independent training loop (issue 5): AdamW with a cosine schedule and linear
// warm-up, gradient accumulation and clipping, EMA of weights, bf16 autocast, channels-last,
// early stopping, freeze schedules, per-step metrics, atomic checkpoints and exact resume;
// on any device (train/device.h), and data-parallel over the ranks of dist::processGroup()
// (docs/distributed.md): gradients averaged, only rank 0 validates and writes.
// A task implements TrainableTask (model, parameter groups, batches, loss, validation); the
// Trainer does everything else. Torch-only header: include it from lumen_ml or plugins only.

#include "train/device.h"
#include "train/schedule.h"

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::config {
class Config;
}
namespace lumen::jobs {
class JobContext;
}

namespace lumen::train {

/// One micro-batch as the task's loader produced it.
struct TensorBatch {
    torch::Tensor inputs;   ///< e.g. N x C x H x W images
    torch::Tensor targets;  ///< e.g. N x K multi-label targets
    std::vector<std::string> ids;
    torch::Tensor mask;  ///< optional, moved with the targets: e.g. N x V real views of multi-view studies
    std::int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
};

/// The total loss to minimise and its named components (unweighted), reported as
/// `loss.<name>`.
struct LossOutput {
    torch::Tensor total;
    std::map<std::string, torch::Tensor> components;
};

/// The metric that picks the best checkpoint and drives early stopping.
struct MonitoredMetric {
    std::string name = "loss";  ///< key in validate()'s map, without "val."
    bool higherIsBetter = false;
};

/// What a task provides to be trained.
class TrainableTask {
public:
    virtual ~TrainableTask() = default;
    /// The model trained (its top-level children are the modules of `grad_norm.<module>`).
    virtual std::shared_ptr<torch::nn::Module> model() = 0;
    /// Named parameter groups that a freeze schedule can freeze (e.g. "backbone").
    virtual std::map<std::string, std::vector<torch::Tensor>> parameterGroups() { return {}; }
    /// Micro-batches in one training epoch.
    virtual std::int64_t batchesPerEpoch() = 0;
    /// Starts epoch `epoch` (0-based) of the training data; the order must depend only on the
    /// seed and the epoch. The next batch delivered is `firstBatch` (skip the ones before).
    virtual void startEpoch(std::int64_t epoch, std::int64_t firstBatch) = 0;
    /// The next training micro-batch of the epoch, nullopt at its end.
    virtual std::optional<TensorBatch> nextBatch() = 0;
    /// Forward pass and loss on one micro-batch (model in train mode; autocast may be on).
    virtual LossOutput loss(const TensorBatch& batch) = 0;
    /// Validation metrics with the model in eval mode under no_grad (EMA weights when EMA is
    /// on); keys without the "val." prefix. `prepare` turns a batch's inputs into the
    /// trainer's memory format. May be empty (no validation set).
    virtual std::map<std::string, double> validate(
        const std::function<torch::Tensor(const torch::Tensor&)>& prepare) = 0;
    virtual MonitoredMetric monitoredMetric() const { return {}; }
};

struct TrainerOptions {
    std::string taskId = "task";  ///< first part of checkpoint names
    std::int64_t epochs = 1;
    std::int64_t accumulationSteps = 1;
    double lr = 1e-4;
    double weightDecay = 0.05;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    std::int64_t warmupSteps = 0;
    double minLrRatio = 0.0;                  ///< the cosine ends at lr * minLrRatio
    double maxGradNorm = 1.0;                 ///< 0 disables clipping
    double emaDecay = 0.0;                    ///< 0 disables EMA
    bool bf16 = false;                        ///< requested; used where the CPU has native bf16, or on CUDA
    bool fp16 = false;                        ///< requested; fp16 autocast + gradient scaler, CUDA only
    std::string device = "cpu";               ///< resolveDevice(): auto, cpu, cuda, cuda:N
    bool tf32 = true, cudnnBenchmark = true;  ///< CUDA switches
    bool channelsLast = false;
    std::uint64_t seed = 42;
    int threads = 0;                         ///< 0 = one per core
    std::int64_t earlyStoppingPatience = 0;  ///< epochs without improvement; 0 disables
    std::int64_t freezeEpochs = 0;           ///< epochs with `freezeGroups` frozen
    std::vector<std::string> freezeGroups = {"backbone"};
    std::filesystem::path checkpointDir;  ///< empty: no checkpoints
    std::filesystem::path resumeFrom;     ///< a checkpoint to continue from
    std::string configYaml;               ///< stored in checkpoints
    std::string configHash;
    /// What the task stores beside the weights (JSON text, e.g. angio_multiview's labelled
    /// columns); written as the optional "task_meta" entry when not empty.
    std::string taskMeta;
    /// Dotted config keys that shape the model: resuming refuses a checkpoint whose stored
    /// config differs in any of them.
    std::vector<std::string> modelKeys;
    /// Epoch checkpoints kept: the newest `keepCheckpoints` plus the best (and last.pt);
    /// older ones of this run's folder are deleted. 0 keeps every one.
    std::int64_t keepCheckpoints = 0;
    /// A step with a non-finite loss or gradient norm is skipped (and counted) instead of
    /// stopping the run with a NonFiniteError.
    bool skipNonfiniteSteps = false;

    /// The common trainer keys of config::commonSchema() (plus `adam_betas`,
    /// `early_stopping_metric`-free extras when present); the caller sets the paths.
    static TrainerOptions fromConfig(const config::Config& config, const std::string& taskId);
};

struct TrainResult {
    std::vector<double> stepLosses;  ///< total loss of every optimizer step run here
    std::int64_t steps = 0;          ///< optimizer steps done in total (resume included)
    std::int64_t epochsDone = 0;
    bool stoppedEarly = false;
    std::optional<double> bestMetric;
    std::map<std::string, double> lastValidation;
    /// The best epoch checkpoint: of this run, or carried over from the checkpoint resumed
    /// from when no epoch since improved on it. Empty without checkpoints.
    std::filesystem::path bestCheckpoint, lastCheckpoint;
    std::int64_t skippedSteps = 0;  ///< non-finite steps skipped (skipNonfiniteSteps)
    bool usedBf16 = false;
    std::string device = "cpu";       ///< where it trained
    int worldSize = 1;                ///< ranks that trained together (docs/distributed.md)
    double communicationSeconds = 0;  ///< time in collectives (data-parallel runs)
};

/// Thrown when a checkpoint cannot be used (unreadable, or another model's config).
class CheckpointError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Thrown when training diverges: a non-finite loss or gradient norm at an optimizer step
/// (unless skipNonfiniteSteps), or non-finite weights about to be written to a checkpoint.
/// The message names the epoch and step (1-based, as in the metrics).
class NonFiniteError : public std::runtime_error {
public:
    NonFiniteError(const std::string& message, std::int64_t epoch, std::int64_t step)
        : std::runtime_error(message), epoch(epoch), step(step) {}
    std::int64_t epoch, step;
};

/// `{task}_epoch{E:03d}_{metric}{value:.4f}_seed{S}.pt`
std::string checkpointName(const std::string& task, std::int64_t epoch, const std::string& metric, double value,
                           std::uint64_t seed);

/// What a checkpoint holds besides tensors (read without the model).
struct CheckpointInfo {
    std::string taskId, configYaml, configHash;
    std::string taskMeta;           ///< TrainerOptions::taskMeta; "" in older checkpoints
    std::int64_t epoch = 0;         ///< epochs completed
    std::int64_t batchInEpoch = 0;  ///< micro-batches of the next epoch already trained
    std::int64_t step = 0;          ///< optimizer steps done
    std::uint64_t seed = 0;
};
CheckpointInfo readCheckpointInfo(const std::filesystem::path& file);

/// Every tensor of a checkpoint's model ("stem.0.weight" -> tensor, on the CPU), read
/// without the model: for comparing runs (data-parallel vs one process) and for tools.
std::map<std::string, torch::Tensor> checkpointModelTensors(const std::filesystem::path& file);

/// Loads the model weights (the EMA weights when the checkpoint has them and `preferEma`).
void loadModelWeights(torch::nn::Module& model, const std::filesystem::path& file, bool preferEma = true);

class Trainer {
public:
    Trainer(TrainerOptions options, TrainableTask& task, jobs::JobContext& job);
    ~Trainer();
    Trainer(const Trainer&) = delete;
    Trainer& operator=(const Trainer&) = delete;

    /// Trains to the end (or early stop). Cancellation, polled before every micro-batch,
    /// saves last.pt at the last optimizer-step boundary and then throws jobs::Cancelled.
    TrainResult run();

private:
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace lumen::train
