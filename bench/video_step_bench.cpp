// One video-encoder forward + backward (the angio_multiview task's encoder, torchvision's
// video ResNets: nn/video_resnet.h) timed in Lumen. bench/run_video_step_bench.py runs it next
// to torchvision's same model in Python PyTorch and prints the table of docs/benchmarks.md.
//
// video_step_bench [--arch r3d_18] [--widths 64,128,256,512] [--batch 4] [--frames 16]
//                  [--size 112] [--threads 2] [--warmup 1] [--steps 3]
// Input N(0,1), 3 channels, fixed; loss = mean of the squared logits (10 classes).
// Prints one JSON line: {"impl":"lumen", ..., "samples_per_s": x, "step_s": [..], "cpu_s": [..]}.
#include <torch/torch.h>

#include "bench_options.h"
#include "nn/video_encoder.h"
#include "train/cpu_allocator.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
    std::map<std::string, std::string> opt = {{"--arch", "r3d_18"}, {"--widths", ""},  {"--batch", "4"},
                                              {"--frames", "16"},   {"--size", "112"}, {"--threads", "2"},
                                              {"--warmup", "1"},    {"--steps", "3"}};
    if (!lumen::bench::parseOptions(argc, argv, opt, "video_step_bench")) return 2;
    const auto num = [&](const char* k) { return std::stoll(opt[k]); };
    torch::set_num_threads(static_cast<int>(num("--threads")));
    lumen::train::installCachingCpuAllocator();  // as the Trainer does
    torch::manual_seed(0);
    lumen::nn::VideoEncoderOptions o;
    o.arch = opt["--arch"];
    o.frames = num("--frames");  // mvit_v2_s: its position tables sized for the clip
    o.resolution = num("--size");
    std::stringstream widths(opt["--widths"]);
    for (std::string w; std::getline(widths, w, ',');) o.widths.push_back(std::stoll(w));
    o.numClasses = 10;
    const auto model = lumen::nn::makeVideoEncoder(o);
    model->train();
    const auto b = num("--batch");
    const auto x = torch::randn({b, 3, num("--frames"), num("--size"), num("--size")});
    std::vector<double> times, cpuTimes;
    for (std::int64_t step = 0; step < num("--warmup") + num("--steps"); ++step) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        model->zero_grad();
        model->forward(x).square().mean().backward();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        std::fprintf(stderr, "lumen step %lld: %.3f s\n", static_cast<long long>(step), s);
        if (step >= num("--warmup")) times.push_back(s), cpuTimes.push_back(cpu);
    }
    double total = 0;
    for (double t : times) total += t;
    std::printf("{\"impl\":\"lumen\",\"samples_per_s\":%.4f,\"step_s\":[",
                total > 0 ? static_cast<double>(b) * static_cast<double>(times.size()) / total : 0.0);
    for (std::size_t i = 0; i < times.size(); ++i) std::printf("%s%.4f", i ? "," : "", times[i]);
    std::printf("],\"cpu_s\":[");
    for (std::size_t i = 0; i < cpuTimes.size(); ++i) std::printf("%s%.4f", i ? "," : "", cpuTimes[i]);
    std::printf("]}\n");
    return 0;
}
