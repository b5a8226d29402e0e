#pragma once
// The inference benchmark (`lumen-cli bench-infer`, the Runs page's "Benchmark inference…"):
// latency percentiles per batch size after warm-up, throughput and peak memory of a TorchScript
// model, as the seeds report inference speed per model (docs/byo-model.md). Torch-free header:
// the work runs in liblumen_ml, loaded on first use (util/sibling_library.h).

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::infer {

struct InferenceBenchOptions {
    std::filesystem::path model;          ///< a TorchScript file
    std::vector<std::size_t> inputShape;  ///< (H,W) / (D,H,W); empty: from the first convolution (224² / 16×112²)
    int channels = 0;                     ///< 0: from the first convolution
    std::vector<int> batchSizes = {1, 4, 16};
    int threads = 0;                 ///< LibTorch intra-op threads; 0 = one per core
    int warmup = 3;                  ///< untimed forwards per batch size (the profiling executor optimises on the 2nd)
    int iterations = 20;             ///< timed forwards per batch size (at most)
    double maxSecondsPerBatch = 30;  ///< stop timing a batch size after this (at least 3 timed forwards)
};

struct BatchTiming {
    int batch = 0;
    int iterations = 0;
    double meanMs = 0, p50Ms = 0, p95Ms = 0, p99Ms = 0;
    double samplesPerSecond = 0;  ///< batch / mean latency
    double peakRssMb = 0;         ///< the process's peak resident memory after this batch size
};

struct InferenceBenchResult {
    std::string model, cpu, device = "cpu";
    std::vector<std::int64_t> inputShape;  ///< one sample (C, H, W) / (C, D, H, W)
    int threads = 0;
    double loadSeconds = 0;  ///< torch::jit::load
    std::vector<BatchTiming> rows;
    std::string table() const;  ///< Markdown table with the CPU and threads above it
    nlohmann::json toJson() const;
};

/// What to benchmark for a task config.
struct BenchTarget {
    std::filesystem::path model;
    std::vector<std::size_t> inputShape;
    int channels = 0;
};

/// From a task config: torchscript → infer.checkpoint with input.size / input.channels;
/// roi_consistency → the trainer's TorchScript export (`<run>/roi_consistency_best.torchscript.pt`,
/// found from infer.checkpoint, or `exported` when given) at image_size², 3 channels;
/// ct_multilabel → its export at preprocess.size (x, y, z → D = z, H = y, W = x), 1 + extra
/// windows channels. Throws std::runtime_error naming the key or file that is missing.
BenchTarget benchTargetFromConfig(const YAML::Node& root, const std::filesystem::path& workspace,
                                  const std::filesystem::path& exported = {});

/// Percentile q in [0, 100] with linear interpolation between order statistics (numpy's
/// default); NaN for an empty sample.
double percentile(std::vector<double> values, double q);

/// Loads the model, then per batch size: random inputs (fixed seed), `warmup` forwards, then
/// timed forwards under NoGradGuard. Progress with ETA and cancellation through `job`. Throws
/// std::runtime_error naming the file when the model cannot be loaded or rejects the input.
InferenceBenchResult benchInference(const InferenceBenchOptions& options, jobs::JobContext& job);

}  // namespace lumen::infer
