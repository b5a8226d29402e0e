// The LibTorch half of explain/cam_job.h: batch Grad-CAM over an image list into the CAM cache.
#include "explain/cam_job.h"
#include "util/parallel.h"
#include "explain/cam_plan.h"
#include "explain/grad_cam.h"
#include "explain/heatmap.h"
#include "explain/model_input.h"

#include "data/csv_records.h"
#include "data/data_error.h"
#include "data/loader.h"
#include "io/npy_reader.h"
#include "io/read_error.h"
#include "jobs/job.h"
#include "train/device.h"
#include "util/atomic_file.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace lumen::explain {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double probability(const torch::Tensor& logitsRow, int target, const std::string& activation) {
    if (activation == "softmax") return torch::softmax(logitsRow.to(torch::kDouble), 0)[target].item<double>();
    const double z = logitsRow[target].item<double>();
    if (activation == "none") return z;
    return 1.0 / (1.0 + std::exp(-z));
}

struct Pending {
    std::size_t image;  ///< index in the batch
    int target;
    Heatmap cam;
    double score;
};

std::string outputName(const std::vector<std::string>& names, int t) {
    return t < static_cast<int>(names.size()) ? names[static_cast<std::size_t>(t)] : std::to_string(t);
}

// The images of one batch that could be read, and their model inputs.
struct CamBatch {
    std::vector<torch::Tensor> inputs;
    std::vector<const CamInput*> items;
};

// One Grad-CAM job over the images the cache lacks, as named steps: set the model up, then per
// batch load, score, compute the CAMs, measure faithfulness and store. The cache index and
// scores.csv are flushed every few seconds and on any exit, so a cancelled or failing run
// keeps what it computed.
class CamRunner {
public:
    CamRunner(const CamJobOptions& o, jobs::JobContext& job, CamPlan& plan, CamJobSummary& summary)
        : o_(o), job_(job), plan_(plan), summary_(summary), method_(camMethodFromName(o.method)) {}

    double run() {
        setUp();
        const auto& todo = plan_.todo;
        try {
            for (std::size_t b0 = 0; b0 < todo.size(); b0 += static_cast<std::size_t>(o_.batchSize)) {
                job_.throwIfCancelled();
                const auto t0 = Clock::now();
                const std::size_t b1 = std::min(todo.size(), b0 + static_cast<std::size_t>(o_.batchSize));
                explainBatch(loadBatch(b0, b1));
                computeSeconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
                job_.progress(static_cast<double>(b1) / static_cast<double>(todo.size()),
                              "Grad-CAM " + std::to_string(b1) + "/" + std::to_string(todo.size()) + " images");
                if (Clock::now() - lastFlush_ > std::chrono::seconds(3)) flush();
            }
        } catch (...) {
            flush();
            throw;
        }
        flush();
        if (failed_ == todo.size())
            throw std::runtime_error(o_.images.string() + ": none of the " + std::to_string(failed_) +
                                     " images could be read (see the warnings)");
        if (failed_) job_.warning(std::to_string(failed_) + " images skipped");
        return computeSeconds_;
    }

private:
    // The model, its layer, input shape, normalisation and output names.
    void setUp() {
        torch::set_num_threads(static_cast<int>(util::resolveThreads(o_.threads)));
        model_ = loadCamModel(o_.model);
        device_ = train::resolveDevice(o_.device, "--device");
        model_->to(device_);
        const bool defaultLayer = o_.layer.empty() || o_.layer == "default";
        layer_ = defaultLayer ? model_->layers().front() : o_.layer;
        plan_.cache.layer = defaultLayer ? plan_.layerKey : layer_;
        shape_ = o_.inputShape;
        if (shape_.empty()) shape_ = model_->inputShape;
        if (shape_.empty()) shape_ = {224, 224};
        mean_ = o_.mean;
        stdev_ = o_.stdev;
        if (mean_.empty() && !o_.noNormalisation) {
            mean_ = model_->mean;
            stdev_ = model_->stdev;
            if (mean_.empty() && o_.channels == 3) {
                mean_ = {0.485f, 0.456f, 0.406f};
                stdev_ = {0.229f, 0.224f, 0.225f};
            }
        }
        if (o_.noNormalisation) mean_.clear(), stdev_.clear();
        std::string size;
        for (std::size_t a = 0; a < shape_.size(); ++a) size += (a ? "x" : "") + std::to_string(shape_[a]);
        job_.info("explaining " + model_->description() + " at layer " + layer_ + " with " + camMethodName(method_) +
                  ", input " + size + (mean_.empty() ? ", no normalisation" : "") + ", on " + device_.str());
        names_ = o_.labelNames;
        if (names_.empty()) names_ = model_->labelNames;
        if (names_.empty() && !plan_.scoreNames.empty()) names_ = plan_.scoreNames;
        lastFlush_ = Clock::now();
    }

    // Inputs of todo[b0, b1); one unreadable image must not cost the whole batch job.
    CamBatch loadBatch(std::size_t b0, std::size_t b1) {
        CamBatch batch;
        for (std::size_t j = b0; j < b1; ++j) {
            const CamInput& item = plan_.items[plan_.todo[j]];
            try {
                batch.inputs.push_back(loadModelInput(item.file, shape_, o_.channels, mean_, stdev_));
                batch.items.push_back(&item);
            } catch (const std::exception& e) {
                ++failed_;
                job_.warning(std::string("skipped: ") + e.what());
            }
        }
        return batch;
    }

    void explainBatch(const CamBatch& batch) {
        if (batch.inputs.empty()) return;
        const SplitForward sf = model_->forward(train::toDevice(torch::stack(batch.inputs), device_), layer_);
        const torch::Tensor logits = sf.logits.detach().to(torch::kCPU, torch::kDouble).contiguous();
        const auto targets = scoreAndChooseTargets(batch, logits);
        const std::vector<Pending> pending = camsFor(sf, logits, targets);
        const std::vector<double> probDrop = o_.faithfulness ? faithfulness(batch, pending) : std::vector<double>{};
        for (std::size_t pi = 0; pi < pending.size(); ++pi) {
            const Pending& p = pending[pi];
            std::optional<std::pair<double, double>> probs;
            if (o_.faithfulness)
                probs = std::pair{probability(logits[static_cast<std::int64_t>(p.image)], p.target, o_.activation),
                                  probDrop[pi]};
            store(p, batch.items[p.image]->id, probs);
        }
    }

    // Output names checked against the model's outputs; logits kept for scores.csv; the
    // targets of each image (by --labels).
    std::vector<std::vector<int>> scoreAndChooseTargets(const CamBatch& batch, const torch::Tensor& logits) {
        const auto k = logits.size(1);
        if (names_.empty() && static_cast<std::int64_t>(plan_.numericColumns.size()) == k)
            names_ = plan_.numericColumns;
        if (names_.empty())
            for (std::int64_t i = 0; i < k; ++i) names_.push_back(std::to_string(i));
        if (static_cast<std::int64_t>(names_.size()) != k)
            throw std::runtime_error(o_.model.string() + ": the model has " + std::to_string(k) + " outputs but " +
                                     std::to_string(names_.size()) + " label names were given");
        plan_.scoreNames = names_;
        std::vector<std::vector<int>> targets(batch.items.size());
        for (std::size_t i = 0; i < batch.items.size(); ++i) {
            std::vector<double> row(static_cast<std::size_t>(k));
            for (std::int64_t c = 0; c < k; ++c)
                row[static_cast<std::size_t>(c)] = logits[static_cast<std::int64_t>(i)][c].item<double>();
            plan_.scoreLogits[batch.items[i]->id] = row;
            targets[i] = chooseCamTargets(o_.labels, row, names_);
        }
        return targets;
    }

    // Rounds explain the r-th target of every image at once (one backward pass per round).
    std::vector<Pending> camsFor(const SplitForward& sf, const torch::Tensor& logits,
                                 const std::vector<std::vector<int>>& targets) {
        std::size_t rounds = 0;
        for (const auto& t : targets) rounds = std::max(rounds, t.size());
        std::vector<Pending> pending;
        for (std::size_t r = 0; r < rounds; ++r) {
            std::vector<std::int64_t> idx;
            for (const auto& t : targets) idx.push_back(r < t.size() ? t[r] : (t.empty() ? 0 : t[0]));
            const torch::Tensor s =
                sf.logits.gather(1, torch::tensor(idx, torch::kLong).to(sf.logits.device()).unsqueeze(1)).squeeze(1);
            const torch::Tensor cams = camFromFeatures(sf.features, s, method_, sf.toGrid).to(torch::kCPU).contiguous();
            for (std::size_t i = 0; i < targets.size(); ++i) {
                if (r >= targets[i].size()) continue;
                const torch::Tensor c = cams[static_cast<std::int64_t>(i)].contiguous();
                Heatmap h;
                for (auto d : c.sizes()) h.shape.push_back(static_cast<std::size_t>(d));
                h.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
                pending.push_back({i, targets[i][r], std::move(h),
                                   logits[static_cast<std::int64_t>(i)][targets[i][r]].item<double>()});
            }
        }
        return pending;
    }

    // Faithfulness: the probability of the target with the CAM's top keep_ratio region
    // removed, like the ROI task's drop pass (image x (1 - mask), on the normalised input).
    std::vector<double> faithfulness(const CamBatch& batch, const std::vector<Pending>& pending) {
        std::vector<double> probDrop(pending.size());
        std::vector<torch::Tensor> dropped;
        for (const Pending& p : pending) {
            const auto m = topFractionMask(upsample(p.cam, shape_), o_.keepRatio);
            std::vector<float> keep(m.size());
            for (std::size_t i = 0; i < m.size(); ++i) keep[i] = m[i] ? 0.0f : 1.0f;
            std::vector<std::int64_t> dims(shape_.begin(), shape_.end());
            const torch::Tensor mask = torch::from_blob(keep.data(), dims, torch::kFloat).clone();
            dropped.push_back(batch.inputs[p.image] * mask.unsqueeze(0));
        }
        const auto step = static_cast<std::size_t>(o_.batchSize);
        for (std::size_t c0 = 0; c0 < dropped.size(); c0 += step) {
            job_.throwIfCancelled();
            const std::size_t c1 = std::min(dropped.size(), c0 + step);
            const torch::Tensor dl =
                model_
                    ->logits(train::toDevice(
                        torch::stack(std::vector<torch::Tensor>(dropped.begin() + c0, dropped.begin() + c1)), device_))
                    .to(torch::kCPU, torch::kDouble);
            for (std::size_t i = c0; i < c1; ++i)
                probDrop[i] = probability(dl[static_cast<std::int64_t>(i - c0)], pending[i].target, o_.activation);
        }
        return probDrop;
    }

    // Saves one CAM and enters it in the cache (replacing an older one of the same id and label).
    void store(const Pending& p, const std::string& id, std::optional<std::pair<double, double>> probs) {
        CamEntry e;
        e.id = id;
        e.label = outputName(names_, p.target);
        e.target = p.target;
        e.file = camFileName(e.id, e.label);
        e.score = p.score;
        const auto [lo, hi] = std::minmax_element(p.cam.values.begin(), p.cam.values.end());
        e.rawMin = p.cam.values.empty() ? 0 : *lo;
        e.rawMax = p.cam.values.empty() ? 0 : *hi;
        e.inputH = shape_[shape_.size() - 2];
        e.inputW = shape_.back();
        e.inputD = shape_.size() == 3 ? shape_[0] : 1;
        if (probs) {
            e.prob = probs->first;
            e.probDrop = probs->second;
            e.camDrop = *e.prob - *e.probDrop;
        }
        saveCam(p.cam, e, summary_.cacheDir);
        e.file = summary_.cacheDir / e.file;
        const auto key = std::make_pair(e.id, e.label);
        if (auto it = plan_.entryIndex.find(key); it != plan_.entryIndex.end()) {
            plan_.cache.entries[it->second] = std::move(e);
        } else {
            plan_.entryIndex[key] = plan_.cache.entries.size();
            plan_.cache.entries.push_back(std::move(e));
        }
        ++summary_.computed;
    }

    void flush() {
        writeCamScores(summary_.cacheDir / "scores.csv", plan_.scoreNames, plan_.scoreLogits);
        writeCamCacheIndex(plan_.cache);
        lastFlush_ = Clock::now();
    }

    const CamJobOptions& o_;
    jobs::JobContext& job_;
    CamPlan& plan_;
    CamJobSummary& summary_;
    const CamMethod method_;
    std::unique_ptr<CamModel> model_;
    torch::Device device_{torch::kCPU};
    std::string layer_;
    std::vector<std::size_t> shape_;
    std::vector<float> mean_, stdev_;
    std::vector<std::string> names_;
    std::size_t failed_ = 0;
    double computeSeconds_ = 0;
    Clock::time_point lastFlush_;
};

void runCamJob(const CamJobOptions& o, jobs::JobContext& job, CamJobSummary& summary) {
    const auto start = Clock::now();
    CamPlan plan = planCams(o);  // validates the options too
    std::filesystem::create_directories(plan.cacheDir);
    summary.images = plan.items.size();
    summary.cacheDir = plan.cacheDir;
    summary.reused = plan.reused;
    job.info("CAM cache " + summary.cacheDir.string() + ": " + std::to_string(plan.items.size() - plan.todo.size()) +
             " of " + std::to_string(plan.items.size()) + " images already explained");
    double computeSeconds = 0;
    if (!plan.todo.empty()) computeSeconds = CamRunner(o, job, plan, summary).run();
    else job.progress(1.0, "all CAMs cached");
    job.artifact("cam_cache", summary.cacheDir.string());
    summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    summary.secondsPerCam = summary.computed ? computeSeconds / static_cast<double>(summary.computed) : 0.0;
}

}  // namespace
}  // namespace lumen::explain

/// Entry point for explain::generateCams (lumen_core), found with dlsym.
extern "C" __attribute__((visibility("default"))) void lumen_ml_generate_cams(
    const lumen::explain::CamJobOptions* options, lumen::jobs::JobContext* job, lumen::explain::CamJobSummary* out) {
    lumen::explain::runCamJob(*options, *job, *out);
}
