#include "train/trainer.h"
#include "util/parallel.h"

#include "dist/process_group.h"

#include "train/checkpoint_retention.h"
#include "train/cpu_allocator.h"

#include "config/config.h"
#include "jobs/job.h"
#include "util/atomic_file.h"
#include "util/sha256.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>
#include <thread>

namespace lumen::train {

namespace {

constexpr std::int64_t kCheckpointFormat = 1;

std::string serializeArchive(torch::serialize::OutputArchive& archive) {
    std::string bytes;
    archive.save_to([&bytes](const void* data, std::size_t size) {
        bytes.append(static_cast<const char*>(data), size);
        return size;
    });
    return bytes;
}

// A checkpoint file is a seal around the checkpoint's archive: an outer archive holding the
// inner archive's bytes ("sealed", a uint8 buffer) and their SHA-256 ("sha256"). LibTorch's
// reader checks no checksum of a record's data, so without it a checkpoint with flipped bytes
// in its weights loaded silently (found by scripts/drill.sh); now any change is refused.
constexpr const char* kSealedKey = "sealed";
constexpr const char* kSealKey = "sha256";

std::string sealCheckpoint(std::string& inner) {
    torch::serialize::OutputArchive outer;
    const auto payload = torch::from_blob(inner.data(), {static_cast<std::int64_t>(inner.size())}, torch::kUInt8);
    outer.write(kSealedKey, payload, /*is_buffer=*/true);
    outer.write(kSealKey, c10::IValue(util::sha256Hex(inner)));
    return serializeArchive(outer);
}

void loadArchive(torch::serialize::InputArchive& archive, const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) throw CheckpointError(file.string() + ": no such checkpoint file");
    torch::serialize::InputArchive outer;
    torch::Tensor payload;
    try {
        outer.load_from(file.string(), torch::Device(torch::kCPU));
        if (!outer.try_read(kSealedKey, payload, /*is_buffer=*/true)) {
            archive.load_from(file.string(), torch::Device(torch::kCPU));  // written before checkpoints were sealed
            return;
        }
    } catch (const std::exception& e) {
        throw CheckpointError(file.string() + ": not a Lumen checkpoint, or damaged (" +
                              std::string(e.what()).substr(0, 200) + ")");
    }
    c10::IValue seal;
    if (!outer.try_read(kSealKey, seal) || !seal.isString())
        throw CheckpointError(file.string() + ": damaged checkpoint (its SHA-256 is missing)");
    payload = payload.contiguous();
    const std::string_view bytes(static_cast<const char*>(payload.data_ptr()),
                                 static_cast<std::size_t>(payload.numel()));
    if (util::sha256Hex(bytes) != seal.toStringRef())
        throw CheckpointError(file.string() +
                              ": damaged checkpoint (its content does not match its SHA-256); "
                              "refusing to load it");
    try {
        archive.load_from(bytes.data(), bytes.size(), torch::Device(torch::kCPU));
    } catch (const std::exception& e) {
        throw CheckpointError(file.string() + ": not a Lumen checkpoint (" + std::string(e.what()).substr(0, 200) +
                              ")");
    }
}

c10::IValue readValue(torch::serialize::InputArchive& archive, const std::string& key,
                      const std::filesystem::path& file) {
    c10::IValue v;
    if (!archive.try_read(key, v)) throw CheckpointError(file.string() + ": checkpoint has no \"" + key + "\" entry");
    return v;
}

/// Parameters and buffers whose EMA is kept, in a fixed order (parameters, then buffers).
std::vector<std::pair<std::string, torch::Tensor>> emaTargets(torch::nn::Module& model) {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value());
    for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value());
    return out;
}

std::string formatFixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

}  // namespace

std::string checkpointName(const std::string& task, std::int64_t epoch, const std::string& metric, double value,
                           std::uint64_t seed) {
    char e[16];
    std::snprintf(e, sizeof e, "%03lld", static_cast<long long>(epoch));
    std::string m = metric;
    for (char& c : m)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) c = '_';
    return task + "_epoch" + e + "_" + m + formatFixed(value, 4) + "_seed" + std::to_string(seed) + ".pt";
}

TrainerOptions TrainerOptions::fromConfig(const config::Config& c, const std::string& taskId) {
    TrainerOptions o;
    o.taskId = taskId;
    o.epochs = c.get<std::int64_t>("epochs");
    o.accumulationSteps = c.get<std::int64_t>("gradient_accumulation_steps");
    o.lr = c.get<double>("lr");
    o.weightDecay = c.get<double>("weight_decay");
    o.warmupSteps = c.get<std::int64_t>("warmup_steps");
    o.maxGradNorm = c.get<double>("max_grad_norm");
    o.emaDecay = c.get<double>("ema_decay");
    o.bf16 = c.get<std::string>("precision") == "bf16";
    o.fp16 = c.get<std::string>("precision") == "fp16";
    if (c.has("device")) o.device = c.get<std::string>("device");
    if (c.has("cuda.tf32")) o.tf32 = c.get<bool>("cuda.tf32");
    if (c.has("cuda.cudnn_benchmark")) o.cudnnBenchmark = c.get<bool>("cuda.cudnn_benchmark");
    o.channelsLast = c.get<bool>("channels_last");
    o.seed = c.get<std::uint64_t>("seed");
    o.threads = c.get<int>("threads");
    o.earlyStoppingPatience = c.get<std::int64_t>("early_stopping_patience");
    o.freezeEpochs = c.get<std::int64_t>("freeze_backbone_epochs");
    if (c.has("adam_betas")) {
        const auto betas = c.get<std::vector<double>>("adam_betas");
        if (betas.size() != 2)
            throw config::ConfigError({}, {{"adam_betas", "expected two numbers [beta1, beta2]", 0}});
        o.beta1 = betas[0];
        o.beta2 = betas[1];
    }
    if (c.has("min_lr_ratio")) o.minLrRatio = c.get<double>("min_lr_ratio");
    if (c.has("keep_checkpoints")) o.keepCheckpoints = c.get<std::int64_t>("keep_checkpoints");
    if (c.has("train.skip_nonfinite_steps")) o.skipNonfiniteSteps = c.get<bool>("train.skip_nonfinite_steps");
    o.configYaml = c.toYaml();
    o.configHash = c.hash();
    return o;
}

CheckpointInfo readCheckpointInfo(const std::filesystem::path& file) {
    torch::serialize::InputArchive a;
    loadArchive(a, file);
    CheckpointInfo info;
    info.taskId = readValue(a, "task", file).toStringRef();
    info.configYaml = readValue(a, "config_yaml", file).toStringRef();
    info.configHash = readValue(a, "config_hash", file).toStringRef();
    info.epoch = readValue(a, "epoch", file).toInt();
    info.batchInEpoch = readValue(a, "batch_in_epoch", file).toInt();
    info.step = readValue(a, "step", file).toInt();
    info.seed = static_cast<std::uint64_t>(readValue(a, "seed", file).toInt());
    if (c10::IValue meta; a.try_read("task_meta", meta) && meta.isString()) info.taskMeta = meta.toStringRef();
    return info;
}

namespace {
void collectTensors(torch::serialize::InputArchive& a, const std::string& prefix,
                    std::map<std::string, torch::Tensor>& out) {
    for (const auto& key : a.keys()) {
        torch::Tensor t;
        if (a.try_read(key, t, /*is_buffer=*/false) || a.try_read(key, t, /*is_buffer=*/true)) {
            out[prefix + key] = t;
            continue;
        }
        torch::serialize::InputArchive child;
        if (a.try_read(key, child)) collectTensors(child, prefix + key + ".", out);
    }
}
}  // namespace

std::map<std::string, torch::Tensor> checkpointModelTensors(const std::filesystem::path& file) {
    torch::serialize::InputArchive a;
    loadArchive(a, file);
    torch::serialize::InputArchive m;
    if (!a.try_read("model", m)) throw CheckpointError(file.string() + ": checkpoint has no \"model\" entry");
    std::map<std::string, torch::Tensor> out;
    collectTensors(m, {}, out);
    return out;
}

void loadModelWeights(torch::nn::Module& model, const std::filesystem::path& file, bool preferEma) {
    torch::serialize::InputArchive a;
    loadArchive(a, file);
    torch::serialize::InputArchive m;
    if (!a.try_read("model", m)) throw CheckpointError(file.string() + ": checkpoint has no \"model\" entry");
    try {
        model.load(m);
    } catch (const std::exception& e) {
        throw CheckpointError(file.string() + ": the weights do not fit this model (" +
                              std::string(e.what()).substr(0, 300) + ")");
    }
    torch::serialize::InputArchive ema;
    if (preferEma && a.try_read("ema", ema)) {
        torch::NoGradGuard guard;
        auto targets = emaTargets(model);
        for (std::size_t i = 0; i < targets.size(); ++i) {
            torch::Tensor t;
            if (!ema.try_read("t" + std::to_string(i), t, true))
                throw CheckpointError(file.string() + ": EMA entry " + std::to_string(i) + " missing");
            targets[i].second.copy_(t);
        }
    }
}

struct Trainer::State {
    TrainerOptions o;
    TrainableTask& task;
    jobs::JobContext& job;
    std::shared_ptr<torch::nn::Module> model;
    std::unique_ptr<torch::optim::AdamW> optimizer;
    std::vector<torch::Tensor> ema;  // same order as emaTargets(*model)
    torch::Device device{torch::kCPU};
    Autocast autocast = Autocast::Off;
    GradScaler scaler{false};
    dist::ProcessGroup* comm = nullptr;  // set when this process is one rank of several
    bool writer() const { return comm == nullptr || comm->rank() == 0; }

    std::int64_t epoch = 0;         // epochs completed
    std::int64_t batchInEpoch = 0;  // micro-batches of epoch `epoch` already trained
    std::int64_t step = 0;          // optimizer steps done
    std::optional<double> best;
    std::int64_t badEpochs = 0;
    torch::Tensor rngAtBoundary;     // torch CPU generator state at the last step boundary
    std::filesystem::path bestFile;  // the best epoch checkpoint, also from before a resume
    std::int64_t skipped = 0;        // non-finite steps skipped (skipNonfiniteSteps)

    State(TrainerOptions opts, TrainableTask& t, jobs::JobContext& j) : o(std::move(opts)), task(t), job(j) {}

    torch::Tensor prepare(const torch::Tensor& x) const {
        const auto y = toDevice(x, device);
        if (o.channelsLast && y.dim() == 4) return y.contiguous(at::MemoryFormat::ChannelsLast);
        return y;
    }

    void applyChannelsLast() {
        if (!o.channelsLast) return;
        torch::NoGradGuard guard;
        for (auto& p : model->parameters())
            if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }

    void buildOptimizer() {
        // Decoupled weight decay on weight matrices and kernels only; biases and norm
        // parameters (1-D) are not decayed.
        std::vector<torch::Tensor> decay, noDecay;
        for (auto& p : model->parameters()) (p.dim() >= 2 ? decay : noDecay).push_back(p);
        auto opts = torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weightDecay);
        std::vector<torch::optim::OptimizerParamGroup> groups;
        groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
        auto nd = opts;
        nd.weight_decay(0.0);
        groups.emplace_back(noDecay, std::make_unique<torch::optim::AdamWOptions>(nd));
        optimizer = std::make_unique<torch::optim::AdamW>(std::move(groups), opts);
    }

    void initEma() {
        ema.clear();
        if (o.emaDecay <= 0) return;
        torch::NoGradGuard guard;
        for (auto& [name, t] : emaTargets(*model)) ema.push_back(t.detach().clone());
    }

    void updateEma() {
        if (ema.empty()) return;
        torch::NoGradGuard guard;
        auto targets = emaTargets(*model);
        for (std::size_t i = 0; i < targets.size(); ++i) {
            const auto& t = targets[i].second;
            if (t.is_floating_point()) ema[i].mul_(o.emaDecay).add_(t.detach(), 1.0 - o.emaDecay);
            else ema[i].copy_(t);
        }
    }

    /// Swaps the model's weights with the EMA copy (a second call swaps them back).
    void swapEma() {
        if (ema.empty()) return;
        torch::NoGradGuard guard;
        auto targets = emaTargets(*model);
        for (std::size_t i = 0; i < targets.size(); ++i) {
            auto tmp = targets[i].second.detach().clone();
            targets[i].second.copy_(ema[i]);
            ema[i].copy_(tmp);
        }
    }

    torch::Tensor generatorState() const {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        return gen.get_state();
    }
    void setGeneratorState(const torch::Tensor& state) {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(state);
    }

    std::string checkpointBytes(std::int64_t atEpoch, std::int64_t atBatch) {
        torch::serialize::OutputArchive a;
        a.write("format", c10::IValue(kCheckpointFormat));
        a.write("task", c10::IValue(o.taskId));
        a.write("config_yaml", c10::IValue(o.configYaml));
        a.write("config_hash", c10::IValue(o.configHash));
        if (!o.taskMeta.empty()) a.write("task_meta", c10::IValue(o.taskMeta));
        a.write("epoch", c10::IValue(atEpoch));
        a.write("batch_in_epoch", c10::IValue(atBatch));
        a.write("step", c10::IValue(step));
        a.write("seed", c10::IValue(static_cast<std::int64_t>(o.seed)));
        a.write("best_metric", c10::IValue(best ? *best : std::numeric_limits<double>::quiet_NaN()));
        a.write("bad_epochs", c10::IValue(badEpochs));
        a.write("best_checkpoint", c10::IValue(bestFile.string()));
        torch::serialize::OutputArchive m;
        model->save(m);
        a.write("model", m);
        torch::serialize::OutputArchive opt;
        optimizer->save(opt);
        a.write("optimizer", opt);
        if (!ema.empty()) {
            torch::serialize::OutputArchive e;
            for (std::size_t i = 0; i < ema.size(); ++i) e.write("t" + std::to_string(i), ema[i], /*is_buffer=*/true);
            a.write("ema", e);
        }
        a.write("rng_torch", rngAtBoundary.defined() ? rngAtBoundary : generatorState(), true);
        if (scaler.enabled()) {
            a.write("grad_scale", c10::IValue(scaler.scale()));
            a.write("grad_scale_good_steps", c10::IValue(scaler.goodSteps()));
        }
        std::string inner = serializeArchive(a);
        return sealCheckpoint(inner);
    }

    /// Writes last.pt (and, at the end of an epoch, the named epoch checkpoint), then drops
    /// epoch checkpoints beyond keepCheckpoints. Never writes non-finite weights.
    std::filesystem::path saveCheckpoint(std::int64_t atEpoch, std::int64_t atBatch, const std::string& name) {
        if (o.checkpointDir.empty() || !writer()) return {};
        const auto last = o.checkpointDir / "last.pt";
        const std::filesystem::path named = name.empty() ? std::filesystem::path() : o.checkpointDir / name;
        requireFiniteWeights(named.empty() ? last : named,
                             std::max<std::int64_t>(1, atBatch > 0 ? atEpoch + 1 : atEpoch));
        std::filesystem::create_directories(o.checkpointDir);
        const std::string bytes = checkpointBytes(atEpoch, atBatch);
        if (!named.empty()) {
            util::writeFileAtomically(named, bytes);
            job.artifact("checkpoint", named.string());
        }
        util::writeFileAtomically(last, bytes);
        if (!named.empty() && o.keepCheckpoints > 0)
            for (const auto& gone :
                 pruneEpochCheckpoints(o.checkpointDir, o.taskId, o.seed, o.keepCheckpoints, bestFile))
                job.info("keep_checkpoints " + std::to_string(o.keepCheckpoints) + ": removed " + gone.string());
        return named.empty() ? last : named;
    }

    void checkModelKeys(const std::string& storedYaml, const std::filesystem::path& file) {
        if (o.modelKeys.empty()) return;
        const YAML::Node stored = config::parseYaml(storedYaml, file.string());
        const YAML::Node now = config::parseYaml(o.configYaml);
        std::string diffs;
        for (const auto& key : o.modelKeys) {
            const auto a = config::lookup(stored, key), b = config::lookup(now, key);
            const std::string sa = a.IsDefined() ? YAML::Dump(a) : "(absent)";
            const std::string sb = b.IsDefined() ? YAML::Dump(b) : "(absent)";
            if (sa != sb) diffs += "\n  " + key + ": checkpoint has " + sa + ", config has " + sb;
        }
        if (!diffs.empty())
            throw CheckpointError(file.string() +
                                  ": the checkpoint was trained with a different model "
                                  "configuration; refusing to resume. Differences:" +
                                  diffs);
    }

    void resume(const std::filesystem::path& file) {
        torch::serialize::InputArchive a;
        loadArchive(a, file);
        const auto task = readValue(a, "task", file).toStringRef();
        if (task != o.taskId)
            throw CheckpointError(file.string() + ": checkpoint of task \"" + task + "\", not \"" + o.taskId + "\"");
        checkModelKeys(readValue(a, "config_yaml", file).toStringRef(), file);
        const auto hash = readValue(a, "config_hash", file).toStringRef();
        if (hash != o.configHash)
            job.warning("resuming from " + file.string() + " with a changed config (training keys only; config hash " +
                        hash.substr(0, 12) + " -> " + o.configHash.substr(0, 12) + ")");
        epoch = readValue(a, "epoch", file).toInt();
        batchInEpoch = readValue(a, "batch_in_epoch", file).toInt();
        step = readValue(a, "step", file).toInt();
        const double b = readValue(a, "best_metric", file).toDouble();
        if (!std::isnan(b)) best = b;
        badEpochs = readValue(a, "bad_epochs", file).toInt();
        if (c10::IValue stored; a.try_read("best_checkpoint", stored) && stored.isString())
            carryBest(stored.toStringRef(), file);
        torch::serialize::InputArchive m, opt;
        a.read("model", m);
        a.read("optimizer", opt);
        try {
            model->load(m);  // the archive is read onto the CPU: back to the device
            model->to(device);
            applyChannelsLast();
            optimizer->load(opt);
            moveOptimizerState();
        } catch (const std::exception& e) {
            throw CheckpointError(file.string() + ": the checkpoint does not fit this model (" +
                                  std::string(e.what()).substr(0, 300) + ")");
        }
        torch::serialize::InputArchive e;
        if (!ema.empty()) {
            if (!a.try_read("ema", e)) throw CheckpointError(file.string() + ": EMA is on but the checkpoint has none");
            for (std::size_t i = 0; i < ema.size(); ++i) {
                torch::Tensor t;
                if (!e.try_read("t" + std::to_string(i), t, true))
                    throw CheckpointError(file.string() + ": EMA entry " + std::to_string(i) + " missing");
                ema[i].copy_(t);
            }
        }
        torch::Tensor rng;
        a.read("rng_torch", rng, true);
        setGeneratorState(rng);
        if (c10::IValue scale, good;
            scaler.enabled() && a.try_read("grad_scale", scale) && a.try_read("grad_scale_good_steps", good))
            scaler.setScale(scale.toDouble(), good.toInt());
        job.info("resumed from " + file.string() + " at epoch " + std::to_string(epoch) + ", batch " +
                 std::to_string(batchInEpoch) + ", step " + std::to_string(step));
    }

    /// AdamW's moments after a resume (read onto the CPU) go to the model's device.
    void moveOptimizerState() {
        if (device.is_cpu()) return;
        for (auto& [key, state] : optimizer->state()) {
            auto* adam = dynamic_cast<torch::optim::AdamWParamState*>(state.get());
            if (!adam) continue;
            adam->exp_avg(adam->exp_avg().to(device));
            adam->exp_avg_sq(adam->exp_avg_sq().to(device));
            if (adam->max_exp_avg_sq().defined()) adam->max_exp_avg_sq(adam->max_exp_avg_sq().to(device));
        }
    }

    /// A cancel request, agreed by every rank at a step boundary (one rank's Ctrl-C or GUI
    /// cancel stops them all at the same step).
    bool cancelRequested() {
        const bool mine = job.isCancelled();
        if (!comm) return mine;
        return comm->sum({mine ? 1.0 : 0.0}, "agreeing on cancellation")[0] > 0;
    }

    void clearGrads() {
        for (auto& p : model->parameters()) p.mutable_grad().reset();
    }

    /// Throws NonFiniteError (naming `file`) unless every weight, buffer and EMA tensor is
    /// finite: a checkpoint never holds a diverged model.
    void requireFiniteWeights(const std::filesystem::path& file, std::int64_t epochNumber) {
        torch::NoGradGuard guard;
        auto check = [&](const std::string& name, const torch::Tensor& t) {
            if (!t.is_floating_point() || torch::isfinite(t).all().item<bool>()) return;
            throw NonFiniteError(file.string() + ": refusing to write the checkpoint: " + name +
                                     " holds non-finite values (epoch " + std::to_string(epochNumber) +
                                     ", after step " + std::to_string(step) + ")",
                                 epochNumber, step);
        };
        for (const auto& [name, t] : emaTargets(*model)) check(name, t);
        for (std::size_t i = 0; i < ema.size(); ++i) check("EMA tensor " + std::to_string(i), ema[i]);
    }

    /// The best checkpoint recorded in a checkpoint we resume from: its stored path, or the
    /// file of that name beside the resumed checkpoint (a moved workspace).
    void carryBest(const std::filesystem::path& stored, const std::filesystem::path& resumedFrom) {
        if (stored.empty()) return;
        std::error_code ec;
        for (const auto& candidate : {stored, resumedFrom.parent_path() / stored.filename()})
            if (std::filesystem::is_regular_file(candidate, ec)) {
                bestFile = candidate;
                return;
            }
        job.warning(resumedFrom.string() + ": its best checkpoint " + stored.string() +
                    " is gone; the best is picked again from the epochs after the resume");
    }

    struct GroupLoss {
        double loss = 0;
        std::map<std::string, double> components;
        std::int64_t samples = 0;
    };

    /// Forward and backward passes over the `group` micro-batches of one optimizer step. A
    /// cancel saves last.pt at the step boundary before them, then throws jobs::Cancelled.
    GroupLoss accumulate(std::int64_t e, std::int64_t nb, std::int64_t group) {
        GroupLoss g;
        for (std::int64_t i = 0; i < group; ++i) {
            // Ranks agree at the step's first micro-batch; one process checks before each.
            if ((i == 0 || !comm) && cancelRequested()) {
                clearGrads();
                const auto file = saveCheckpoint(e, batchInEpoch, {});
                if (!file.empty()) job.info("cancelled: saved " + file.string());
                throw jobs::Cancelled();
            }
            auto batch = task.nextBatch();
            if (!batch)
                throw std::runtime_error("the training data ended after " + std::to_string(batchInEpoch + i) + " of " +
                                         std::to_string(nb) + " batches");
            batch->inputs = prepare(batch->inputs);
            batch->targets = toDevice(batch->targets, device);
            if (batch->mask.defined()) batch->mask = toDevice(batch->mask, device);
            LossOutput out;
            {
                AutocastScope scope(autocast, device.type());
                out = task.loss(*batch);
            }
            (out.total.to(torch::kFloat) * (scaler.scale() / static_cast<double>(group))).backward();
            g.loss += out.total.item<double>();
            for (const auto& [k, v] : out.components) g.components[k] += v.item<double>();
            g.samples += batch->size();
        }
        g.loss /= static_cast<double>(group);
        for (auto& [k, v] : g.components) v /= static_cast<double>(group);
        return g;
    }

    /// Data-parallel: the gradients averaged over the ranks, and the step's loss, components
    /// and sample count summed (loss and components then averaged), so every rank takes the
    /// same optimizer step and logs the same numbers.
    void synchronise(GroupLoss& g) {
        comm->averageGradients(model->parameters(), "averaging gradients (step " + std::to_string(step + 1) + ")");
        std::vector<double> v{g.loss, static_cast<double>(g.samples)};
        for (const auto& [k, x] : g.components) v.push_back(x);
        v = comm->sum(v, "summing losses (step " + std::to_string(step + 1) + ")");
        const double n = comm->size();
        g.loss = v[0] / n;
        g.samples = static_cast<std::int64_t>(std::llround(v[1]));
        std::size_t i = 2;
        for (auto& [k, x] : g.components) x = v[i++] / n;
    }

    /// Gradient norms before clipping, per top-level module that has gradients.
    std::map<std::string, double> moduleGradNorms() const {
        std::map<std::string, double> norms;
        for (const auto& child : model->named_children()) {
            double sq = 0;
            bool any = false;
            for (const auto& p : child.value()->parameters())
                if (p.grad().defined()) {
                    sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
                    any = true;
                }
            if (any) norms[child.key()] = std::sqrt(sq);
        }
        return norms;
    }

    /// A step whose loss or gradient norm is NaN or infinite: stops the run with a
    /// NonFiniteError before the optimizer touches the weights, or (skipNonfiniteSteps)
    /// drops the step's gradients, counts it and goes on with the next micro-batches.
    void nonFiniteStep(std::int64_t e, std::int64_t group, double loss, double gradNorm) {
        const std::string what = !std::isfinite(loss) ? "the training loss is " + formatFixed(loss, 4)
                                                      : "the gradient norm is " + formatFixed(gradNorm, 4);
        const std::string where = "epoch " + std::to_string(e + 1) + ", step " + std::to_string(step + 1) +
                                  " (micro-batches " + std::to_string(batchInEpoch + 1) + "-" +
                                  std::to_string(batchInEpoch + group) + " of the epoch)";
        clearGrads();
        if (!o.skipNonfiniteSteps) {
            job.metric("loss", step + 1, loss);
            throw NonFiniteError(where + ": " + what +
                                     "; training stopped before this optimizer step, the checkpoints hold the "
                                     "last finite weights (lower lr, or set train.skip_nonfinite_steps: true)",
                                 e + 1, step + 1);
        }
        ++skipped;
        batchInEpoch += group;
        job.warning(where + ": " + what + ": optimizer step skipped (train.skip_nonfinite_steps)");
        job.metric("skipped_steps", step, static_cast<double>(skipped));
    }

    /// One optimizer step over the next group of micro-batches; its loss, or nullopt when it
    /// was non-finite and skipped.
    std::optional<double> trainStep(std::int64_t e, std::int64_t nb, std::int64_t totalSteps, double clipMax) {
        // Micro-batches of one optimizer step are aligned to multiples of the accumulation
        // count from the start of the epoch.
        const std::int64_t group = std::min(o.accumulationSteps, nb - batchInEpoch);
        rngAtBoundary = generatorState();
        clearGrads();
        const auto t0 = std::chrono::steady_clock::now();
        const double comm0 = comm ? comm->communicationSeconds() : 0.0;
        GroupLoss g = accumulate(e, nb, group);
        if (comm) synchronise(g);
        if (!scaler.unscale(model->parameters())) {
            // fp16 overflow: expected now and then; the scale backs off and the step is skipped.
            scaler.update(false);
            clearGrads();
            batchInEpoch += group;
            job.info("fp16: non-finite gradients at step " + std::to_string(step + 1) +
                     ", step skipped, gradient scale now " + formatFixed(scaler.scale(), 0));
            job.metric("grad_scale", step, scaler.scale());
            return std::nullopt;
        }
        const auto moduleNorms = moduleGradNorms();
        const double gradNorm = torch::nn::utils::clip_grad_norm_(model->parameters(), clipMax);
        if (!std::isfinite(g.loss) || !std::isfinite(gradNorm)) {
            nonFiniteStep(e, group, g.loss, gradNorm);
            return std::nullopt;
        }
        scaler.update(true);
        const double lr = cosineWarmupLr(o.lr, step, totalSteps, o.warmupSteps, o.minLrRatio);
        for (auto& pg : optimizer->param_groups()) static_cast<torch::optim::AdamWOptions&>(pg.options()).lr(lr);
        optimizer->step();
        updateEma();
        ++step;
        batchInEpoch += group;
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        job.metric("loss", step, g.loss);
        for (const auto& [k, v] : g.components) job.metric("loss." + k, step, v);
        job.metric("lr", step, lr);
        job.metric("grad_norm", step, gradNorm);
        for (const auto& [k, v] : moduleNorms) job.metric("grad_norm." + k, step, v);
        job.metric("samples_per_s", step, seconds > 0 ? g.samples / seconds : 0.0);
        if (scaler.enabled()) job.metric("grad_scale", step, scaler.scale());
        if (comm && seconds > 0)  // the share of the step spent in collectives (bench/run_dist_bench.py)
            job.metric("dist.comm_share", step, (comm->communicationSeconds() - comm0) / seconds);
        if (const auto bytes = cudaAllocatedBytes(device); bytes > 0)
            job.metric("gpu_memory_mb", step, static_cast<double>(bytes) / (1 << 20));
        job.progress(static_cast<double>(step) / totalSteps,
                     "epoch " + std::to_string(e + 1) + "/" + std::to_string(o.epochs) + " step " +
                         std::to_string(step) + "/" + std::to_string(totalSteps) + " loss " + formatFixed(g.loss, 4));
        return g.loss;
    }

    /// The task's validation metrics, computed with the EMA weights in eval mode.
    /// A cancel during validation (the epoch's steps all done): last.pt then holds the end of
    /// the epoch's training (a resume validates it again), and the run stops.
    [[noreturn]] void cancelAtValidation() {
        clearGrads();
        if (const auto file = saveCheckpoint(epoch, batchInEpoch, {}); !file.empty())
            job.info("cancelled during validation: saved " + file.string());
        throw jobs::Cancelled();
    }

    std::map<std::string, double> validateWithEma() {
        if (!comm) {
            try {
                return validateHere();
            } catch (const jobs::Cancelled&) {
                cancelAtValidation();
            }
        }
        // Rank 0 validates on the whole validation set; the others take its numbers (or its
        // cancel: a rank never waits for a validation that stopped).
        static const std::string kCancelled =
            "\x01"
            "cancelled";  // "\x01c..." would be one hex escape
        std::string text;
        if (writer()) {
            try {
                char buf[64];
                for (const auto& [k, v] : validateHere()) {
                    std::snprintf(buf, sizeof buf, "%.17g", v);
                    text += k + "\t" + buf + "\n";
                }
            } catch (const jobs::Cancelled&) {
                text = kCancelled;
            }
        }
        text = comm->shareFromRoot("validation/" + std::to_string(epoch) + "/" + std::to_string(step), text);
        if (text == kCancelled) cancelAtValidation();
        std::map<std::string, double> val;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);)
            if (const auto tab = line.find('\t'); tab != std::string::npos)
                val[line.substr(0, tab)] = std::strtod(line.c_str() + tab + 1, nullptr);
        return val;
    }

    std::map<std::string, double> validateHere() {
        std::map<std::string, double> val;
        swapEma();
        model->eval();
        try {
            torch::NoGradGuard guard;
            AutocastScope scope(autocast, device.type());
            val = task.validate([this](const torch::Tensor& x) { return prepare(x); });
        } catch (...) {
            swapEma();
            throw;
        }
        swapEma();
        model->train();
        return val;
    }

    /// End of epoch `e`: validation, best metric and early-stopping state, checkpoints.
    /// True when early stopping ends the run.
    bool endEpoch(std::int64_t e, double epochLossSum, std::int64_t epochSteps, const MonitoredMetric& monitor,
                  TrainResult& result) {
        const auto val = validateWithEma();
        for (const auto& [k, v] : val) job.metric("val." + k, step, v);
        job.metric("epoch", step, static_cast<double>(e + 1));
        result.lastValidation = val;

        std::string metricName = monitor.name;
        bool higher = monitor.higherIsBetter;
        double value;
        if (auto it = val.find(monitor.name); it != val.end()) {
            value = it->second;
        } else {
            metricName = "loss";
            higher = false;
            // An epoch whose every step was skipped as non-finite has no loss: NaN (a NaN is
            // best only until any number comes, as for a NaN validation metric).
            value = epochSteps > 0 ? epochLossSum / epochSteps : std::numeric_limits<double>::quiet_NaN();
        }
        const bool improved = !best || (higher ? value > *best : value < *best) || std::isnan(*best);
        if (improved) {
            best = value;
            badEpochs = 0;
        } else {
            ++badEpochs;
        }
        epoch = e + 1;
        batchInEpoch = 0;
        rngAtBoundary = generatorState();
        const std::string name = checkpointName(o.taskId, epoch, metricName, value, o.seed);
        if (improved && !o.checkpointDir.empty() && writer()) bestFile = o.checkpointDir / name;
        if (!saveCheckpoint(epoch, 0, name).empty()) result.lastCheckpoint = o.checkpointDir / "last.pt";
        job.info("epoch " + std::to_string(epoch) + ": " + metricName + " " + formatFixed(value, 4) +
                 (improved ? " (best)" : ""));
        result.epochsDone = epoch;
        if (o.earlyStoppingPatience > 0 && badEpochs >= o.earlyStoppingPatience && epoch < o.epochs) {
            job.info("early stopping: " + metricName + " did not improve for " + std::to_string(badEpochs) + " epochs");
            result.stoppedEarly = true;
            return true;
        }
        return false;
    }

    void applyFreeze(std::int64_t e) {
        if (o.freezeEpochs <= 0) return;
        const bool frozen = e < o.freezeEpochs;
        auto groups = task.parameterGroups();
        for (const auto& name : o.freezeGroups) {
            auto it = groups.find(name);
            if (it == groups.end()) {
                if (e == 0) job.warning("freeze schedule: the task has no parameter group \"" + name + "\"");
                continue;
            }
            for (auto& p : it->second) p.set_requires_grad(!frozen);
        }
        if (e == o.freezeEpochs - 1 || (e == 0 && frozen))
            job.info(frozen ? "epoch " + std::to_string(e + 1) + ": frozen groups while training" : "unfrozen");
    }
};

Trainer::Trainer(TrainerOptions options, TrainableTask& task, jobs::JobContext& job)
    : s_(std::make_unique<State>(std::move(options), task, job)) {}

Trainer::~Trainer() = default;

TrainResult Trainer::run() {
    auto& s = *s_;
    auto& o = s.o;
    if (o.epochs < 1) throw std::invalid_argument("epochs must be at least 1");
    if (o.accumulationSteps < 1) throw std::invalid_argument("gradient_accumulation_steps must be at least 1");
    if (o.keepCheckpoints < 0) throw std::invalid_argument("keep_checkpoints must be at least 0");
    // Ranks on one machine share its threads (`threads` is the machine's total).
    const auto* group = dist::processGroup();
    torch::set_num_threads(static_cast<int>(
        dist::threadsPerRank(util::resolveThreads(o.threads), group ? group->world().localWorldSize : 1)));
    // Large activation buffers are reused between steps instead of page-faulted afresh
    // (train/cpu_allocator.h); the cache is handed back when the run ends, however it ends.
    installCachingCpuAllocator();
    struct ReleaseCache {
        ~ReleaseCache() { releaseCachedCpuMemory(); }
    } releaseCache;

    TrainResult result;
    s.comm = dist::processGroup();
    s.device = resolveDevice(o.device);
    applyCudaSwitches(o.tf32, o.cudnnBenchmark);
    std::string why;
    s.autocast = autocastFor(o.fp16 ? "fp16" : (o.bf16 ? "bf16" : "fp32"), s.device, &why);
    if (!why.empty()) s.job.warning(why);
    s.scaler = GradScaler(s.autocast == Autocast::Fp16);
    result.usedBf16 = s.autocast == Autocast::Bf16;
    result.device = s.device.str();
    result.worldSize = s.comm ? s.comm->size() : 1;

    s.model = s.task.model();
    s.model->to(s.device);
    s.applyChannelsLast();
    s.buildOptimizer();
    s.initEma();
    if (!o.resumeFrom.empty()) s.resume(o.resumeFrom);
    if (s.comm) {
        // Every rank starts from rank 0's weights (and EMA), whatever it initialised or read.
        std::vector<torch::Tensor> state;
        for (auto& [name, t] : emaTargets(*s.model)) state.push_back(t.detach());
        for (auto& t : s.ema) state.push_back(t);
        s.comm->broadcast(state, "broadcasting rank 0's weights");
        s.job.info("data-parallel: " + s.comm->world().describe());
    }

    const std::int64_t nb = s.task.batchesPerEpoch();
    if (nb < 1) throw std::runtime_error("the training set yields no batches");
    const std::int64_t stepsPerEpoch = (nb + o.accumulationSteps - 1) / o.accumulationSteps;
    const std::int64_t totalSteps = stepsPerEpoch * o.epochs;
    const MonitoredMetric monitor = s.task.monitoredMetric();
    const auto clipMax = o.maxGradNorm > 0 ? o.maxGradNorm : std::numeric_limits<double>::infinity();

    while (s.epoch < o.epochs) {
        const std::int64_t e = s.epoch;
        s.applyFreeze(e);
        s.task.startEpoch(e, s.batchInEpoch);
        s.model->train();
        double epochLossSum = 0;
        std::int64_t epochSteps = 0;
        while (s.batchInEpoch < nb) {
            const auto loss = s.trainStep(e, nb, totalSteps, clipMax);
            if (!loss) continue;
            result.stepLosses.push_back(*loss);
            epochLossSum += *loss;
            ++epochSteps;
        }
        if (s.endEpoch(e, epochLossSum, epochSteps, monitor, result)) break;
    }
    result.steps = s.step;
    result.epochsDone = s.epoch;
    result.bestMetric = s.best;
    result.bestCheckpoint = s.bestFile;
    result.skippedSteps = s.skipped;
    if (s.comm) result.communicationSeconds = s.comm->communicationSeconds();
    return result;
}

}  // namespace lumen::train
