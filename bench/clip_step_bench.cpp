// One clip_contrastive training step (ConvNeXt + BERT encoders, CLIP loss, caption decoder by
// teacher forcing, masked-language modelling, backward, gradient clipping, AdamW) timed in
// Lumen. bench/run_clip_step_bench.py runs it next to the same step in Python PyTorch and prints
// the table of docs/benchmarks.md.
//
// clip_step_bench [--variant atto] [--size 128] [--batch 32] [--tokens 48] [--vocab 104]
//                 [--text-hidden 128] [--text-layers 2] [--text-heads 4] [--text-inter 256]
//                 [--embed 128] [--dec-width 128] [--dec-layers 2] [--dec-heads 4]
//                 [--channels-last 0|1] [--threads 2] [--warmup 1] [--steps 5]
// Inputs are synthetic and fixed (images N(0,1), token ids uniform with [CLS]=2 first and
// [SEP]=3 closing a length drawn in [tokens/2, tokens]); the MLM corruption is drawn once.
// Prints one JSON line: {"impl":"lumen", ..., "samples_per_s": x, "step_s": [..], "cpu_s": [..]}.
#include <torch/torch.h>

#include "bench_options.h"
#include "nn/clip_model.h"
#include "nn/contrastive_loss.h"
#include "train/cpu_allocator.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>

namespace F = torch::nn::functional;

int main(int argc, char** argv) {
    std::map<std::string, std::string> opt = {
        {"--variant", "atto"},   {"--size", "128"},        {"--batch", "32"},      {"--tokens", "48"},
        {"--vocab", "104"},      {"--text-hidden", "128"}, {"--text-layers", "2"}, {"--text-heads", "4"},
        {"--text-inter", "256"}, {"--embed", "128"},       {"--dec-width", "128"}, {"--dec-layers", "2"},
        {"--dec-heads", "4"},    {"--channels-last", "0"}, {"--threads", "2"},     {"--warmup", "1"},
        {"--steps", "5"}};
    if (!lumen::bench::parseOptions(argc, argv, opt, "clip_step_bench")) return 2;
    const auto num = [&](const char* k) { return std::stoll(opt[k]); };
    torch::set_num_threads(static_cast<int>(num("--threads")));
    lumen::train::installCachingCpuAllocator();  // as the Trainer does
    torch::manual_seed(0);
    const auto b = num("--batch"), size = num("--size"), tokens = num("--tokens"), vocab = num("--vocab");

    lumen::nn::ClipModelOptions o;
    o.visionVariant = opt["--variant"];
    o.imageTokens = (size / 32) * (size / 32);
    o.text.vocabSize = vocab;
    o.text.hidden = num("--text-hidden");
    o.text.layers = num("--text-layers");
    o.text.heads = num("--text-heads");
    o.text.intermediate = num("--text-inter");
    o.text.maxPositions = tokens;
    o.embedDim = num("--embed");
    o.decoderWidth = num("--dec-width");
    o.decoderLayers = num("--dec-layers");
    o.decoderHeads = num("--dec-heads");
    o.decoderFeedforward = 2 * o.decoderWidth;
    o.maxCaptionTokens = tokens;
    lumen::nn::ClipModel model(o);
    model->train();
    torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(0.05));

    auto images = torch::randn({b, 3, size, size});
    if (num("--channels-last")) {  // as the task's channels_last: the image encoder and its input
        lumen::nn::toChannelsLast(*model->vision());
        images = images.contiguous(at::MemoryFormat::ChannelsLast);
    }
    auto ids = torch::randint(5, vocab, {b, tokens}, torch::kLong);
    auto mask = torch::zeros({b, tokens}, torch::kLong);
    const auto lengths = torch::randint(tokens / 2, tokens + 1, {b}, torch::kLong);
    for (std::int64_t i = 0; i < b; ++i) {
        const auto len = lengths[i].item<std::int64_t>();
        ids[i][0] = 2;
        ids[i][len - 1] = 3;
        ids[i].slice(0, len).fill_(0);
        mask[i].slice(0, 0, len).fill_(1);
    }
    const auto maskable = (mask == 1) & (ids != 2) & (ids != 3);
    const auto [corrupted, mlmLabels] = lumen::nn::maskTokens(ids, maskable, 4, vocab, 0.15);
    const auto captionTarget = ids.slice(1, 1).masked_fill(mask.slice(1, 1) == 0, -100);
    const auto ce = F::CrossEntropyFuncOptions().ignore_index(-100);

    std::vector<double> times, cpuTimes;
    double lastLoss = 0;
    const auto warmup = num("--warmup"), steps = num("--steps");
    for (std::int64_t step = 0; step < warmup + steps; ++step) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        optimizer.zero_grad();
        const auto img = model->encodeImage(images);
        const auto txt = model->encodeText(ids, mask);
        const auto contrastive = lumen::nn::clipLoss(img.embedding, txt.embedding, model->temperature());
        const auto logits = model->captionLogits(img, ids.slice(1, 0, -1), mask.slice(1, 0, -1) == 0);
        const auto caption = F::cross_entropy(logits.reshape({-1, vocab}), captionTarget.reshape({-1}), ce);
        const auto mlmLogits = model->mlmLogits(model->text()->forward(corrupted, mask).hidden);
        const auto mlm = F::cross_entropy(mlmLogits.reshape({-1, vocab}), mlmLabels.reshape({-1}), ce);
        const auto loss = 2.0 * contrastive + 0.3 * caption + 0.1 * mlm;
        loss.backward();
        torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
        optimizer.step();
        lastLoss = loss.item<double>();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        std::fprintf(stderr, "lumen step %lld: %.3f s loss %.5f\n", static_cast<long long>(step), s, lastLoss);
        if (step >= warmup) times.push_back(s), cpuTimes.push_back(cpu);
    }
    double total = 0;
    for (double t : times) total += t;
    std::printf(
        "{\"impl\":\"lumen\",\"batch\":%lld,\"size\":%lld,\"threads\":%s,\"steps\":%lld,\"samples_per_s\":%.4f,"
        "\"step_s\":[",
        static_cast<long long>(b), static_cast<long long>(size), opt["--threads"].c_str(),
        static_cast<long long>(steps), total > 0 ? static_cast<double>(b * steps) / total : 0.0);
    for (std::size_t i = 0; i < times.size(); ++i) std::printf("%s%.4f", i ? "," : "", times[i]);
    std::printf("],\"cpu_s\":[");
    for (std::size_t i = 0; i < cpuTimes.size(); ++i) std::printf("%s%.4f", i ? "," : "", cpuTimes[i]);
    std::printf("],\"last_loss\":%.6f}\n", lastLoss);
    return 0;
}
