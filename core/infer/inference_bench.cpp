#include "infer/inference_bench.h"

#include "util/sibling_library.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

namespace lumen::infer {

namespace {

namespace fs = std::filesystem;

std::string text(const YAML::Node& root, const std::string& section, const std::string& key) {
    const YAML::Node n = section.empty() ? root[key] : root[section][key];
    return n && n.IsScalar() ? n.as<std::string>() : std::string();
}

/// The trainer's export for a checkpoint: <run>/<task>_best.torchscript.pt, the checkpoint being
/// in <run>/checkpoints/ (or <run>/).
fs::path exportFor(const fs::path& checkpoint, const std::string& task) {
    const std::string name = task + "_best.torchscript.pt";
    for (const fs::path& dir : {checkpoint.parent_path().parent_path(), checkpoint.parent_path()})
        if (fs::is_regular_file(dir / name)) return dir / name;
    throw std::runtime_error(checkpoint.string() + ": no TorchScript export " + name +
                             " beside this checkpoint's run (the trainer writes one after training)");
}

}  // namespace

BenchTarget benchTargetFromConfig(const YAML::Node& root, const fs::path& workspace, const fs::path& exported) {
    const std::string task = text(root, "", "task");
    const std::string checkpoint = text(root, "infer", "checkpoint");
    const auto inWs = [&](const std::string& p) { return fs::path(p).is_absolute() ? fs::path(p) : workspace / p; };
    BenchTarget t;
    if (task == "torchscript") {
        if (checkpoint.empty()) throw std::runtime_error("infer.checkpoint: the TorchScript model file is not set");
        t.model = inWs(checkpoint);
        if (const auto size = root["input"]["size"]; size && size.IsSequence())
            for (const auto& v : size) t.inputShape.push_back(v.as<std::size_t>());
        if (const auto ch = root["input"]["channels"]; ch) t.channels = ch.as<int>();
        return t;
    }
    if (task != "roi_consistency" && task != "ct_multilabel")
        throw std::runtime_error("task \"" + task +
                                 "\": benchmark a TorchScript file with --model (torchscript, roi_consistency and "
                                 "ct_multilabel configs are understood)");
    if (exported.empty() && checkpoint.empty())
        throw std::runtime_error("infer.checkpoint: not set (the export beside it is what is benchmarked)");
    t.model = exported.empty() ? exportFor(inWs(checkpoint), task) : exported;
    if (task == "roi_consistency") {
        const auto side = root["image_size"] ? root["image_size"].as<std::size_t>() : std::size_t(224);
        t.inputShape = {side, side};
        t.channels = 3;
    } else {
        std::vector<std::size_t> xyz = {224, 224, 112};
        if (const auto size = root["preprocess"]["size"]; size && size.IsSequence() && size.size() == 3)
            for (std::size_t i = 0; i < 3; ++i) xyz[i] = size[i].as<std::size_t>();
        t.inputShape = {xyz[2], xyz[1], xyz[0]};
        const auto extra = root["preprocess"]["extra_windows"];
        t.channels = 1 + (extra && extra.IsSequence() ? static_cast<int>(extra.size()) : 0);
    }
    return t;
}

double percentile(std::vector<double> values, double q) {
    if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(values.begin(), values.end());
    const double pos = q / 100.0 * static_cast<double>(values.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

std::string InferenceBenchResult::table() const {
    std::ostringstream out;
    std::string shape;
    for (auto v : inputShape) shape += (shape.empty() ? "" : "x") + std::to_string(v);
    out << "model: " << model << "\ninput per sample: " << shape << ", device: " << device << ", CPU: " << cpu
        << ", threads: " << threads << ", load " << std::fixed << std::setprecision(2) << loadSeconds << " s\n\n";
    out << "| batch | forwards | mean ms | p50 ms | p95 ms | p99 ms | samples/s | peak RSS MB |\n"
        << "|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : rows)
        out << "| " << r.batch << " | " << r.iterations << " | " << std::setprecision(2) << r.meanMs << " | " << r.p50Ms
            << " | " << r.p95Ms << " | " << r.p99Ms << " | " << std::setprecision(1) << r.samplesPerSecond << " | "
            << std::setprecision(0) << r.peakRssMb << " |\n";
    return out.str();
}

nlohmann::json InferenceBenchResult::toJson() const {
    nlohmann::json j = {{"model", model},
                        {"cpu", cpu},
                        {"device", device},
                        {"threads", threads},
                        {"input_shape", inputShape},
                        {"load_seconds", loadSeconds}};
    j["batches"] = nlohmann::json::array();
    for (const auto& r : rows)
        j["batches"].push_back({{"batch", r.batch},
                                {"iterations", r.iterations},
                                {"mean_ms", r.meanMs},
                                {"p50_ms", r.p50Ms},
                                {"p95_ms", r.p95Ms},
                                {"p99_ms", r.p99Ms},
                                {"samples_per_second", r.samplesPerSecond},
                                {"peak_rss_mb", r.peakRssMb}});
    return j;
}

InferenceBenchResult benchInference(const InferenceBenchOptions& options, jobs::JobContext& job) {
    using Fn = void (*)(const InferenceBenchOptions*, jobs::JobContext*, InferenceBenchResult*);
    auto fn = reinterpret_cast<Fn>(util::siblingLibrarySymbol("liblumen_ml.so", "lumen_ml_bench_inference"));
    InferenceBenchResult result;
    fn(&options, &job, &result);
    return result;
}

}  // namespace lumen::infer
