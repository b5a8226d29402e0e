// Inference of the torchscript task: the user's TorchScript module over a manifest or a folder,
// inputs prepared as the tasks' evaluation prepares them (explain/model_input.h), activations
// per output, the standard predictions files, and metrics when the manifest has labels.
#include "torchscript_engine.h"

#include "config/config.h"
#include "data/manifest.h"
#include "explain/model_input.h"
#include "explain/script_layers.h"
#include "jobs/job.h"
#include "metrics/metrics_report.h"
#include "plugin/task_kit.h"
#include "train/device.h"
#include "util/atomic_file.h"
#include "util/parallel.h"

#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace lumen::torchscript {
namespace {

namespace fs = std::filesystem;
using plugin::fixed;

struct Setup {
    fs::path model, outDir;
    std::string kind;
    std::vector<std::size_t> shape;
    int channels = 3;
    std::vector<float> mean, stdev, huWindow;
    std::vector<std::string> names, activations;
    std::string idColumn;
    int batchSize = 8;
};

[[noreturn]] void keyError(const std::string& key, const std::string& message) {
    throw config::ConfigError("", {config::ConfigIssue{key, message, 0}});
}

std::vector<float> floats(const config::Config& c, const std::string& key) {
    std::vector<float> out;
    for (double v : c.get<std::vector<double>>(key)) out.push_back(static_cast<float>(v));
    return out;
}

Setup readSetup(const config::Config& c, const plugin::RunContext& where) {
    Setup s;
    const auto model = c.get<std::string>("infer.checkpoint");
    if (model.empty()) keyError("infer.checkpoint", "the TorchScript model file is not set");
    s.model = plugin::inWorkspace(where.workspace, model);
    if (!fs::is_regular_file(s.model)) keyError("infer.checkpoint", s.model.string() + ": no such file");
    const auto out = c.get<std::string>("infer.out_dir");
    s.outDir = out.empty() ? where.runDir : plugin::inWorkspace(where.workspace, out);
    fs::create_directories(s.outDir);
    s.kind = c.get<std::string>("input.kind");
    for (double v : c.get<std::vector<double>>("input.size")) {
        if (v != std::floor(v)) keyError("input.size", "expected whole numbers, got " + std::to_string(v));
        s.shape.push_back(static_cast<std::size_t>(v));
    }
    const std::size_t dims = s.kind == "image" ? 2 : 3;
    if (s.shape.size() != dims)
        keyError("input.size", "a" + std::string(s.kind == "image" ? "n " : " ") + s.kind + " model takes " +
                                   (dims == 2           ? "[H, W]"
                                    : s.kind == "video" ? "[T, H, W]"
                                                        : "[D, H, W]") +
                                   ", got " + std::to_string(s.shape.size()) + " numbers");
    s.channels = c.get<int>("input.channels");
    s.mean = floats(c, "input.mean");
    s.stdev = floats(c, "input.std");
    if (!s.stdev.empty() && s.mean.empty()) keyError("input.std", "given without input.mean");
    s.huWindow = floats(c, "input.hu_window");
    if (!s.huWindow.empty() && (s.huWindow.size() != 2 || !(s.huWindow[1] > 0)))
        keyError("input.hu_window", "expected [centre, width] with width > 0");
    s.names = c.get<std::vector<std::string>>("outputs.names");
    s.activations = c.get<std::vector<std::string>>("outputs.activations");
    if (!s.activations.empty() && s.activations.size() != s.names.size())
        keyError("outputs.activations", "has " + std::to_string(s.activations.size()) + " entries for " +
                                            std::to_string(s.names.size()) + " outputs.names");
    for (const auto& a : s.activations)
        if (a != "sigmoid" && a != "softmax" && a != "identity")
            keyError("outputs.activations", "\"" + a + "\" is not one of sigmoid, softmax, identity");
    if (s.activations.empty()) s.activations.assign(s.names.size(), c.get<std::string>("outputs.activation"));
    s.idColumn = c.get<std::string>("id_column");
    s.batchSize = c.get<int>("batch_size");
    return s;
}

/// The inputs: the manifest's rows (of data.split), or a folder's images / arrays.
data::Manifest inputs(const config::Config& c, const plugin::RunContext& where, const Setup& s) {
    const auto manifest = c.get<std::string>("data.manifest");
    const auto folder = c.get<std::string>("data.folder");
    if (manifest.empty() == folder.empty())
        keyError(manifest.empty() ? "data.manifest" : "data.folder",
                 "give exactly one of data.manifest and data.folder");
    data::Manifest m;
    if (!manifest.empty()) {
        m = data::readManifest(plugin::inWorkspace(where.workspace, manifest));
        if (const auto split = c.get<std::string>("data.split"); !split.empty()) {
            m = m.filterSplit(split);
            if (m.rows.empty()) keyError("data.split", "no row of " + manifest + " is in split \"" + split + "\"");
        }
    } else if (s.kind == "image") {
        m = data::manifestOfFolder(plugin::inWorkspace(where.workspace, folder));
    } else {
        const fs::path dir = plugin::inWorkspace(where.workspace, folder);
        if (!fs::is_directory(dir)) keyError("data.folder", dir.string() + ": no such folder");
        for (const auto& e : fs::recursive_directory_iterator(dir))
            if (e.is_regular_file() && e.path().extension() == ".npy")
                m.rows.push_back({fs::relative(e.path(), dir).string(), "", e.path().string(), {}, ""});
        std::sort(m.rows.begin(), m.rows.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        if (m.rows.empty()) keyError("data.folder", dir.string() + " holds no .npy array");
    }
    if (const auto n = c.get<std::int64_t>("data.max_images"); n > 0 && m.rows.size() > static_cast<std::size_t>(n))
        m.rows.resize(static_cast<std::size_t>(n));
    return m;
}

/// Logits (N, K) to outputs: per output its activation; softmax over the outputs marked softmax.
torch::Tensor activate(const torch::Tensor& logits, const std::vector<std::string>& activations) {
    torch::Tensor out = logits.to(torch::kDouble).clone();
    std::vector<std::int64_t> soft;
    for (std::size_t k = 0; k < activations.size(); ++k) {
        const auto kk = static_cast<std::int64_t>(k);
        if (activations[k] == "sigmoid") out.select(1, kk).copy_(torch::sigmoid(out.select(1, kk)));
        else if (activations[k] == "softmax") soft.push_back(kk);
    }
    if (!soft.empty()) {
        const auto idx = torch::tensor(soft, torch::kLong);
        out.index_copy_(1, idx, torch::softmax(out.index_select(1, idx), 1));
    }
    return out;
}

/// One batch of inputs; unreadable files are skipped with a warning naming them.
struct Batch {
    std::vector<const data::ManifestRow*> rows;
    std::vector<torch::Tensor> inputs;
};

Batch loadBatch(const data::Manifest& m, std::size_t b0, std::size_t b1, const Setup& s, jobs::JobContext& job,
                std::size_t& skipped) {
    Batch b;
    for (std::size_t i = b0; i < b1; ++i) {
        try {
            b.inputs.push_back(
                explain::loadModelInput(m.resolve(m.rows[i]), s.shape, s.channels, s.mean, s.stdev, s.huWindow));
            b.rows.push_back(&m.rows[i]);
        } catch (const std::exception& e) {
            ++skipped;
            job.warning(std::string("skipped: ") + e.what());
        }
    }
    return b;
}

/// Writes metrics.json and records test.* metrics when the manifest labels some outputs.
std::string labelledMetrics(const data::Manifest& m, const std::vector<std::string>& ids,
                            const std::vector<std::vector<double>>& outputs, const Setup& s, jobs::JobContext& job) {
    std::vector<std::string> names;
    std::vector<std::vector<double>> truth, score;
    std::map<std::string, const data::ManifestRow*> byId;
    for (const auto& r : m.rows) byId[r.id] = &r;
    for (std::size_t k = 0; k < s.names.size(); ++k) {
        if (m.labelIndex(s.names[k]) < 0 || s.activations[k] == "identity") continue;
        names.push_back(s.names[k]);
        truth.emplace_back();
        score.emplace_back();
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const auto& labels = byId.at(ids[i])->labels;
            truth.back().push_back(std::find(labels.begin(), labels.end(), s.names[k]) != labels.end() ? 1.0 : 0.0);
            score.back().push_back(outputs[i][k]);
        }
    }
    if (names.empty()) return "";
    const auto report = metrics::evaluateMultiLabel(truth, score, names, {0.5});
    util::writeFileAtomically(s.outDir / "metrics.json", metrics::toJson(report).dump(1) + "\n");
    job.artifact("metrics", (s.outDir / "metrics.json").string());
    for (const auto& l : report.labels)
        if (l.auroc.value) job.metric("test.auroc." + plugin::safeName(l.name), 0, *l.auroc.value);
    if (report.macroAuroc.value) {
        job.metric("test.auroc_macro", 0, *report.macroAuroc.value);
        return ", macro AUROC " + fixed(*report.macroAuroc.value, 4) + " over " + std::to_string(names.size()) +
               " labelled outputs";
    }
    return ", metrics of " + std::to_string(names.size()) + " labelled outputs";
}

}  // namespace

std::string infer(const config::Config& c, const plugin::RunContext& where, jobs::JobContext& job) {
    Setup s = readSetup(c, where);
    const data::Manifest m = inputs(c, where, s);
    torch::jit::Module module;
    const auto device = train::resolveDevice(c.get<std::string>("device"));
    try {
        module = torch::jit::load(s.model.string(), device);
    } catch (const std::exception& e) {
        throw std::runtime_error(s.model.string() + ": not a TorchScript module (" +
                                 std::string(e.what()).substr(0, 300) + ")");
    }
    module.eval();
    // On this (the job's) thread: 0 = one per core, as every task.
    torch::set_num_threads(static_cast<int>(util::resolveThreads(c.get<int>("threads"))));
    job.info("inference of " + s.model.string() + " on " + std::to_string(m.rows.size()) + " inputs, on " +
             device.str());

    std::vector<std::string> ids, paths;
    std::vector<std::vector<double>> outputs;
    std::size_t skipped = 0;
    torch::NoGradGuard noGrad;
    for (std::size_t b0 = 0; b0 < m.rows.size(); b0 += static_cast<std::size_t>(s.batchSize)) {
        job.throwIfCancelled();
        const std::size_t b1 = std::min(m.rows.size(), b0 + static_cast<std::size_t>(s.batchSize));
        const Batch b = loadBatch(m, b0, b1, s, job, skipped);
        if (!b.inputs.empty()) {
            torch::Tensor logits;
            try {
                logits = explain::firstTensor(module.forward({train::toDevice(torch::stack(b.inputs), device)}),
                                              s.model.string());
            } catch (const std::exception& e) {  // c10::Error and TorchScript's errors
                throw std::runtime_error(s.model.string() + ": the model failed on inputs of shape " +
                                         c10::str(torch::stack(b.inputs).sizes()) +
                                         " (input.size / input.channels): " + explain::torchErrorLine(e));
            }
            if (logits.dim() == 1) logits = logits.unsqueeze(1);
            if (logits.dim() != 2) logits = logits.flatten(1);
            if (s.names.empty())
                for (std::int64_t k = 0; k < logits.size(1); ++k) s.names.push_back(std::to_string(k));
            if (s.activations.empty()) s.activations.assign(s.names.size(), c.get<std::string>("outputs.activation"));
            if (logits.size(1) != static_cast<std::int64_t>(s.names.size()))
                keyError("outputs.names", "names " + std::to_string(s.names.size()) + " outputs, but the model gives " +
                                              std::to_string(logits.size(1)));
            const auto probs = activate(logits.to(torch::kCPU), s.activations).contiguous();
            for (std::size_t i = 0; i < b.rows.size(); ++i) {
                ids.push_back(b.rows[i]->id);
                paths.push_back(m.resolve(*b.rows[i]).string());
                const double* row = probs[static_cast<std::int64_t>(i)].data_ptr<double>();
                outputs.emplace_back(row, row + probs.size(1));
            }
        }
        job.progress(static_cast<double>(b1) / static_cast<double>(m.rows.size()),
                     "inference " + std::to_string(b1) + "/" + std::to_string(m.rows.size()));
    }
    if (ids.empty()) throw std::runtime_error("no input could be read (" + std::to_string(skipped) + " skipped)");

    std::ostringstream csv;
    csv << s.idColumn;
    for (const auto& n : s.names) csv << ',' << n;
    csv << '\n';
    nlohmann::ordered_json json = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < ids.size(); ++i) {
        csv << ids[i];
        nlohmann::ordered_json labels;
        for (std::size_t k = 0; k < s.names.size(); ++k) {
            csv << ',' << fixed(outputs[i][k]);
            labels[s.names[k]] = outputs[i][k];
        }
        csv << '\n';
        json.push_back({{"id", ids[i]}, {"path", paths[i]}, {"labels", labels}});
    }
    util::writeFileAtomically(s.outDir / "preds.csv", csv.str());
    util::writeFileAtomically(s.outDir / "preds.json", json.dump(1) + "\n");
    job.artifact("predictions", (s.outDir / "preds.csv").string());
    job.artifact("predictions_json", (s.outDir / "preds.json").string());
    const std::string metricsText = labelledMetrics(m, ids, outputs, s, job);
    return std::to_string(ids.size()) + " inputs" + (skipped ? " (" + std::to_string(skipped) + " skipped)" : "") +
           metricsText + " -> " + (s.outDir / "preds.csv").string();
}

}  // namespace lumen::torchscript
