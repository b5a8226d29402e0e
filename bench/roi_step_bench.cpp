// One ROI-consistency training step (mask net, top-k mask, ConvNeXt on full/crop/drop, the
// five losses, backward, AdamW) timed in Lumen. bench/run_roi_step_bench.py runs it next to
// the same step in Python PyTorch and prints the table of docs/benchmarks.md.
//
// roi_step_bench [--variant tiny] [--batch 8] [--size 224] [--classes 15] [--threads 2]
//                [--precision fp32|bf16] [--layout fused-cl|fused|separate|separate-cl]
//                [--warmup 1] [--steps 3] [--fused-ln 1] [--ln-bench reps] [--profile trace.json]
//                [--png-manifest manifest.csv --workers 2] [--allocator caching|default]
//                [--device cpu|cuda|cuda:N]  (fp16: CUDA only; the step waits for the device)
// --allocator default: LibTorch's own CPU allocator instead of the Trainer's caching one.
// --png-manifest reads the batches from PNG files with Lumen's loader (time included).
// --profile writes a chrome trace of the last step (legacy autograd profiler), aggregated per
// op by run_roi_step_bench.py --profile. LUMEN_BENCH_GRAD_NORM=1 prints the global gradient
// norm of every step (before the optimizer step) to stderr.
// Prints one JSON line: {"impl":"lumen", ..., "samples_per_s": x, "step_s": [..]}.
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "data/loader.h"
#include "data/manifest.h"
#include "nn/layer_norm_bf16.h"
#include "nn/roi_consistency.h"
#include "train/cpu_allocator.h"
#include "train/device.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <stdexcept>
#include <string>

namespace {

struct Batch {
    torch::Tensor images, targets;
};

/// Where batches come from. The synthetic source (normalised noise, random multi-hot labels)
/// isolates the step; the PNG source times the step with data loading included.
using BatchSource = std::function<Batch(int step)>;

BatchSource syntheticSource(int batch, int size, int classes) {
    torch::manual_seed(0);
    Batch fixed{torch::randn({batch, 3, size, size}), torch::randint(0, 2, {batch, classes}).to(torch::kFloat)};
    return [fixed](int) { return fixed; };
}

/// PNGs listed in a manifest, read by Lumen's BatchLoader (worker threads, prefetch, shuffled)
/// exactly as training does: resize + centre crop to `size`, ImageNet mean/std, 3 channels.
/// The time spent waiting for a batch counts as part of the step.
BatchSource pngSource(const std::string& manifestCsv, int batch, int size, int workers) {
    auto manifest = lumen::data::readManifest(manifestCsv);
    lumen::data::AugmentOptions augment;
    augment.resize = size;
    augment.crop = size;
    auto set = lumen::data::makeImageDataset(manifest, 3, augment, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f});
    lumen::data::LoaderOptions lo;
    lo.batchSize = batch;
    lo.workers = workers;
    lo.shuffle = true;
    lo.dropLast = true;
    auto loader = std::make_shared<lumen::data::BatchLoader>(set, lo);
    auto epoch = std::make_shared<std::int64_t>(0);
    loader->startEpoch(0);
    return [loader, epoch](int) {
        auto b = loader->next();
        if (!b) {
            loader->startEpoch(++*epoch);
            b = loader->next();
        }
        if (!b) throw std::runtime_error("the PNG manifest yields no batch");
        return Batch{torch::from_blob(b->images.data(), {b->n, b->c, b->h, b->w}, torch::kFloat).clone(),
                     torch::from_blob(b->targets.data(), {b->n, b->numTargets}, torch::kFloat).clone()};
    };
}

}  // namespace

int main(int argc, char** argv) {
    std::string variant = "tiny", precision = "fp32", layout = "fused-cl", profilePath, pngManifest,
                allocator = "caching", deviceName = "cpu";
    int batch = 8, size = 224, classes = 15, threads = 2, warmup = 1, steps = 3, fusedLn = 1, lnBench = 0, workers = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--variant") variant = v;
        else if (k == "--precision") precision = v;
        else if (k == "--layout") layout = v;
        else if (k == "--batch") batch = std::stoi(v);
        else if (k == "--size") size = std::stoi(v);
        else if (k == "--classes") classes = std::stoi(v);
        else if (k == "--threads") threads = std::stoi(v);
        else if (k == "--warmup") warmup = std::stoi(v);
        else if (k == "--steps") steps = std::stoi(v);
        else if (k == "--fused-ln") fusedLn = std::stoi(v);
        else if (k == "--ln-bench") lnBench = std::stoi(v);
        else if (k == "--profile") profilePath = v;
        else if (k == "--png-manifest") pngManifest = v;
        else if (k == "--workers") workers = std::stoi(v);
        else if (k == "--allocator") allocator = v;
        else if (k == "--device") deviceName = v;
        else {
            std::fprintf(stderr, "roi_step_bench: unknown option %s\n", k.c_str());
            return 2;
        }
    }
    if (precision != "fp32" && precision != "bf16" && precision != "fp16") {
        std::fprintf(stderr, "roi_step_bench: --precision fp32|bf16|fp16\n");
        return 2;
    }
    const bool fused = layout.rfind("fused", 0) == 0;
    const bool channelsLast = layout.size() > 3 && layout.compare(layout.size() - 3, 3, "-cl") == 0;
    if (allocator != "caching" && allocator != "default") {
        std::fprintf(stderr, "roi_step_bench: --allocator caching|default\n");
        return 2;
    }
    if (allocator == "caching") lumen::train::installCachingCpuAllocator();  // as the Trainer does
    torch::set_num_threads(threads);
    lumen::nn::setFusedBf16LayerNorm(fusedLn != 0);
    if (lnBench) {
        // The in-block LayerNorm of ConvNeXt-tiny's first stage for a 3x8 batch, fwd + bwd.
        torch::Tensor x = torch::randn({3 * batch, size / 4, size / 4, 96}).to(torch::kBFloat16).requires_grad_(true);
        torch::Tensor w = torch::ones({96}).requires_grad_(true), b = torch::zeros({96}).requires_grad_(true);
        torch::Tensor gy = torch::randn_like(x);
        for (int mode = 0; mode < 2; ++mode) {
            double best = 1e9;
            for (int r = 0; r < lnBench; ++r) {
                const auto t0 = std::chrono::steady_clock::now();
                torch::Tensor y = mode ? lumen::nn::layerNormBf16(x, w, b, 1e-6)
                                       : torch::layer_norm(x.to(torch::kFloat), {96}, w, b, 1e-6).to(torch::kBFloat16);
                y.backward(gy);
                best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            std::printf("layer norm %s: best %.4f s (fwd+bwd)\n", mode ? "layerNormBf16" : "cast path", best);
        }
        return 0;
    }

    lumen::nn::ConvNeXtOptions options;
    options.variant = variant;
    options.numClasses = classes;
    lumen::nn::RoiConsistencyModel model(options, 0.1);
    const torch::Device device = lumen::train::resolveDevice(deviceName, "--device");
    model->to(device);
    model->setFusedBatch(fused);
    if (channelsLast) lumen::nn::toChannelsLast(*model);
    model->train();
    torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-4));
    const lumen::nn::RoiLossWeights weights;
    BatchSource source =
        pngManifest.empty() ? syntheticSource(batch, size, classes) : pngSource(pngManifest, batch, size, workers);

    std::vector<double> times, cpuTimes;
    double lastLoss = 0;
    for (int step = 0; step < warmup + steps; ++step) {
        std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
        if (!profilePath.empty() && step == warmup + steps - 1)
            profile = std::make_unique<torch::autograd::profiler::RecordProfile>(profilePath);
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        Batch b = source(step);
        b.images = lumen::train::toDevice(b.images, device);
        b.targets = lumen::train::toDevice(b.targets, device);
        torch::Tensor images = channelsLast ? b.images.contiguous(torch::MemoryFormat::ChannelsLast) : b.images;
        for (auto& p : model->parameters()) p.mutable_grad().reset();  // zero_grad(set_to_none=True)
        lumen::nn::RoiLoss loss;
        {
            // As the Trainer: bf16 on the CPU or CUDA, fp16 on CUDA (the loss is not scaled
            // here: a throughput bench, not a training run).
            lumen::train::AutocastScope autocast(
                precision == "bf16"
                    ? lumen::train::Autocast::Bf16
                    : (precision == "fp16" ? lumen::train::Autocast::Fp16 : lumen::train::Autocast::Off),
                device.type());
            loss = lumen::nn::roiConsistencyLoss(model->forward(images), b.targets, weights);
        }
        loss.total.backward();
        if (std::getenv("LUMEN_BENCH_GRAD_NORM"))
            std::fprintf(stderr, "grad norm %.6g\n", torch::nn::utils::clip_grad_norm_(model->parameters(), 1e30));
        optimizer.step();
        lastLoss = loss.total.item<double>();  // waits for the device
        profile.reset();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        if (step >= warmup) times.push_back(s), cpuTimes.push_back(cpu);
        std::fprintf(stderr, "lumen %s %s step %d: %.3f s loss %.5f\n", precision.c_str(), layout.c_str(), step, s,
                     lastLoss);
    }
    double total = 0;
    for (double t : times) total += t;
    std::printf(
        "{\"impl\":\"lumen\",\"device\":\"%s\",\"variant\":\"%s\",\"precision\":\"%s\",\"layout\":\"%s\",\"batch\":%d,"
        "\"size\":%d,\"threads\":%d,\"steps\":%d,\"data\":\"%s\",\"allocator\":\"%s\",\"samples_per_s\":%.4f,\"step_"
        "s\":[",
        device.str().c_str(), variant.c_str(), precision.c_str(), layout.c_str(), batch, size, threads, steps,
        pngManifest.empty() ? "synthetic" : "png", allocator.c_str(),
        total > 0 ? batch * static_cast<double>(times.size()) / total : 0.0);
    for (std::size_t i = 0; i < times.size(); ++i) std::printf("%s%.4f", i ? "," : "", times[i]);
    std::printf("],\"cpu_s\":[");
    for (std::size_t i = 0; i < cpuTimes.size(); ++i) std::printf("%s%.4f", i ? "," : "", cpuTimes[i]);
    std::printf("],\"last_loss\":%.6f}\n", lastLoss);
    return 0;
}
