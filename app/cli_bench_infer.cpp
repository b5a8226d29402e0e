// lumen-cli bench-infer: latency percentiles, throughput and peak memory of a model's inference
// per batch size (docs/byo-model.md, "Inference benchmark").
#include "cli_command.h"
#include "cli_progress.h"

#include "config/config.h"
#include "infer/inference_bench.h"
#include "util/atomic_file.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace lumen::cli {
namespace {

namespace fs = std::filesystem;

std::vector<int> batchList(const std::string& text) {
    std::vector<int> out;
    std::stringstream ss(text);
    std::string part;
    while (std::getline(ss, part, ',')) {
        try {
            std::size_t used = 0;
            const int v = std::stoi(part, &used);
            if (used != part.size() || v < 1 || v > 4096) throw std::invalid_argument(part);
            out.push_back(v);
        } catch (const std::exception&) {
            throw UsageError("--batch: expected sizes like 1,4,16, got \"" + text + "\"");
        }
    }
    if (out.empty()) throw UsageError("--batch: expected sizes like 1,4,16");
    return out;
}

/// The options from --model or --config, then the command line's overrides.
infer::InferenceBenchOptions optionsFrom(const Args& args) {
    infer::InferenceBenchOptions o;
    if (args.has("model") == args.has("config")) throw UsageError("bench-infer needs --model M.pt or --config C.yaml");
    if (auto model = args.value("model")) {
        if (!fs::is_regular_file(*model)) throw UsageError("--model " + *model + ": no such file");
        o.model = fs::absolute(*model);
    } else {
        const fs::path file = *args.value("config");
        if (!fs::is_regular_file(file)) throw UsageError("--config " + file.string() + ": no such file");
        std::ifstream in(file);
        const std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto target =
            infer::benchTargetFromConfig(config::parseYaml(yaml, file.string()), args.value("workspace").value_or("."));
        o.model = fs::absolute(target.model);
        o.inputShape = target.inputShape;
        o.channels = target.channels;
    }
    if (auto b = args.value("batch")) o.batchSizes = batchList(*b);
    if (auto s = args.value("size")) o.inputShape = sizeArgument(*s);
    if (auto ch = args.integer("channels")) o.channels = static_cast<int>(*ch);
    if (auto t = args.integer("threads")) o.threads = static_cast<int>(std::max(0LL, *t));
    if (auto w = args.integer("warmup")) o.warmup = static_cast<int>(std::max(0LL, *w));
    if (auto n = args.integer("iters")) {
        if (*n < 3) throw UsageError("--iters: at least 3");
        o.iterations = static_cast<int>(*n);
    }
    return o;
}

}  // namespace

Command benchInferCommand() {
    Command c;
    c.name = "bench-infer";
    c.summary = "bench-infer --model M.pt | --config C.yaml: inference latency, throughput, memory";
    c.usage = R"(Usage: lumen-cli bench-infer (--model M.pt | --config C.yaml [--workspace DIR])
                             [--batch 1,4,16] [--threads N] [--warmup 3] [--iters 20]
                             [--size HxW|DxHxW] [--channels C] [--json FILE]

Times the model's forward pass per batch size on random inputs after --warmup untimed passes:
mean and p50/p95/p99 latency (numpy's linear percentiles), samples/s (batch / mean latency),
and the process's peak resident memory, printed as a table with the CPU and threads.
  --model M.pt       a TorchScript file (input from --size/--channels or its first convolution)
  --config C.yaml    a torchscript task config (its model and input), or a roi_consistency /
                     ct_multilabel config whose infer.checkpoint has the trainer's TorchScript
                     export beside it
  --iters N          timed passes per batch size (at most; a batch size stops after 30 s)
  --json FILE        also write the results as JSON
Exit codes: 0 done, 2 error or cancelled.
)";
    c.valueOptions = {"model",  "config", "workspace", "batch",    "threads",
                      "warmup", "iters",  "size",      "channels", "json"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() != 1) throw UsageError("bench-infer takes no positional arguments");
        const auto options = optionsFrom(args);
        infer::InferenceBenchResult result;
        const auto info = runWithProgress("bench-infer", "inference benchmark", [&](jobs::JobContext& job) {
            result = infer::benchInference(options, job);
            return std::string("benchmark done");
        });
        if (info.state != jobs::JobState::Finished) {
            std::cerr << "lumen-cli: bench-infer " << jobs::jobStateName(info.state) << ": " << info.outcome << "\n";
            return kError;
        }
        std::cout << result.table();
        if (auto json = args.value("json")) util::writeFileAtomically(*json, result.toJson().dump(1) + "\n");
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
