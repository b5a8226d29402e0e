// The LibTorch half of infer/inference_bench.h.
#include "infer/inference_bench.h"

#include "explain/script_layers.h"
#include "jobs/job.h"
#include "util/parallel.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <numeric>

namespace lumen::infer {
namespace {

using Clock = std::chrono::steady_clock;

std::string cpuName() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown CPU";
}

double peakRssMb() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

BatchTiming timeBatch(torch::jit::Module& module, const torch::Tensor& sample, int batch,
                      const InferenceBenchOptions& o, jobs::JobContext& job, double done, double total) {
    std::vector<std::int64_t> shape = {batch};
    shape.insert(shape.end(), sample.sizes().begin() + 1, sample.sizes().end());
    const torch::Tensor x = torch::randn(shape, at::detail::createCPUGenerator(1));
    torch::NoGradGuard noGrad;
    for (int i = 0; i < o.warmup; ++i) {
        job.throwIfCancelled();
        module.forward({x});
    }
    std::vector<double> ms;
    const auto start = Clock::now();
    while (static_cast<int>(ms.size()) < o.iterations) {
        job.throwIfCancelled();
        const auto t0 = Clock::now();
        module.forward({x});
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        job.progress(
            (done + static_cast<double>(ms.size()) / o.iterations) / total,
            "batch " + std::to_string(batch) + ": " + std::to_string(ms.size()) + "/" + std::to_string(o.iterations));
        if (ms.size() >= 3 && std::chrono::duration<double>(Clock::now() - start).count() > o.maxSecondsPerBatch) break;
    }
    BatchTiming t;
    t.batch = batch;
    t.iterations = static_cast<int>(ms.size());
    t.meanMs = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
    t.p50Ms = percentile(ms, 50);
    t.p95Ms = percentile(ms, 95);
    t.p99Ms = percentile(ms, 99);
    t.samplesPerSecond = batch / (t.meanMs / 1000.0);
    t.peakRssMb = peakRssMb();
    return t;
}

void run(const InferenceBenchOptions& o, jobs::JobContext& job, InferenceBenchResult& out) {
    if (o.batchSizes.empty()) throw std::invalid_argument("bench-infer: no batch size given");
    // Set on this (the job's) thread: a new thread's intra-op pool is not the process default.
    torch::set_num_threads(static_cast<int>(util::resolveThreads(o.threads)));
    out.model = o.model.string();
    out.cpu = cpuName();
    out.threads = torch::get_num_threads();
    const auto t0 = Clock::now();
    torch::jit::Module module;
    try {
        module = torch::jit::load(o.model.string(), torch::kCPU);
    } catch (const std::exception& e) {
        throw std::runtime_error(o.model.string() + ": not a TorchScript module (" +
                                 std::string(e.what()).substr(0, 300) + ")");
    }
    module.eval();
    out.loadSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<std::int64_t> shape(o.inputShape.begin(), o.inputShape.end());
    const torch::Tensor sample = explain::probeInput(module, shape, o.channels);
    out.inputShape.assign(sample.sizes().begin() + 1, sample.sizes().end());
    job.info("benchmarking " + out.model + " on " + out.cpu + ", " + std::to_string(out.threads) + " threads");
    for (std::size_t i = 0; i < o.batchSizes.size(); ++i) {
        try {
            out.rows.push_back(timeBatch(module, sample, o.batchSizes[i], o, job, static_cast<double>(i),
                                         static_cast<double>(o.batchSizes.size())));
        } catch (const jobs::Cancelled&) {
            throw;
        } catch (const std::exception& e) {
            throw std::runtime_error(o.model.string() + ": the model failed on batch " +
                                     std::to_string(o.batchSizes[i]) +
                                     " (give --size/--channels): " + explain::torchErrorLine(e));
        }
    }
    job.progress(1.0, "benchmark done");
}

}  // namespace
}  // namespace lumen::infer

/// Entry point for infer::benchInference (lumen_core), found with dlsym.
extern "C" __attribute__((visibility("default"))) void lumen_ml_bench_inference(
    const lumen::infer::InferenceBenchOptions* options, lumen::jobs::JobContext* job,
    lumen::infer::InferenceBenchResult* out) {
    lumen::infer::run(*options, *job, *out);
}
