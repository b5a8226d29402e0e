// The LibTorch half of explain/cam_job.h: batch Grad-CAM over an image list into the CAM cache.
#include "explain/cam_job.h"
#include "util/parallel.h"
#include "explain/cam_plan.h"
#include "explain/grad_cam.h"
#include "explain/heatmap.h"

#include "data/csv_records.h"
#include "data/data_error.h"
#include "data/loader.h"
#include "io/npy_reader.h"
#include "io/read_error.h"
#include "jobs/job.h"
#include "util/atomic_file.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace lumen::explain {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

torch::Tensor resizeSpatial(const torch::Tensor& x, const std::vector<std::size_t>& shape) {
    std::vector<std::int64_t> size(shape.begin(), shape.end());
    if (std::equal(size.begin(), size.end(), x.sizes().begin() + 1)) return x;
    namespace F = torch::nn::functional;
    auto options = F::InterpolateFuncOptions().size(size).align_corners(false);
    if (shape.size() == 2) options.mode(torch::kBilinear);
    else options.mode(torch::kTrilinear);
    return F::interpolate(x.unsqueeze(0), options).squeeze(0);
}

/// One model input (C, H, W) or (C, D, H, W).
torch::Tensor loadInput(const CamInput& item, const std::vector<std::size_t>& shape, int channels,
                        const std::vector<float>& mean, const std::vector<float>& stdev) {
    const auto sr = static_cast<std::int64_t>(shape.size());
    std::string ext = item.file.extension().string();
    for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (ext == ".npy") {
        // Arrays are the model input as it is (already normalised); only the size is adapted.
        io::NpyArray a = io::readNpy(item.file);
        std::vector<std::int64_t> dims(a.shape.begin(), a.shape.end());
        torch::Tensor t = torch::from_blob(a.values.data(), dims, torch::kFloat).clone();
        if (t.dim() == sr) t = t.unsqueeze(0);
        if (t.dim() != sr + 1 || t.size(0) != channels)
            throw io::ReadError(item.file, "expected an array (" + std::to_string(channels) + ", " +
                                               (sr == 3 ? "D, " : "") + "H, W) for this model, got " +
                                               std::to_string(a.shape.size()) + "-D");
        return resizeSpatial(t, shape);
    }
    if (sr != 2)
        throw io::ReadError(item.file, "3-D models take .npy volumes (C, D, H, W) here (see docs/explain.md)");
    const cv::Mat unit = data::loadUnitImage(item.file, channels);
    cv::Mat img;
    if (shape[0] == shape[1]) {
        // The tasks' evaluation transform: shorter side to the size, centre crop.
        data::AugmentOptions a;
        a.resize = static_cast<int>(shape[0]);
        a.crop = static_cast<int>(shape[0]);
        img = data::augmentImage(unit, a, 0);
    } else {
        cv::resize(unit, img, cv::Size(static_cast<int>(shape[1]), static_cast<int>(shape[0])), 0, 0, cv::INTER_LINEAR);
    }
    img = img.isContinuous() ? img : img.clone();
    torch::Tensor t = torch::from_blob(img.data, {img.rows, img.cols, img.channels()}, torch::kFloat)
                          .permute({2, 0, 1})
                          .clone();
    if (channels == 3) t = t.flip({0});  // OpenCV's BGR -> RGB, as the image dataset does
    if (!mean.empty()) {
        for (std::int64_t c = 0; c < t.size(0); ++c) {
            const float m = mean[std::min<std::size_t>(c, mean.size() - 1)];
            const float s = stdev.empty() ? 1.0f : stdev[std::min<std::size_t>(c, stdev.size() - 1)];
            t[c] = (t[c] - m) / s;
        }
    }
    return t;
}

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

void runCamJob(const CamJobOptions& o, jobs::JobContext& job, CamJobSummary& summary) {
    const auto start = Clock::now();
    const CamMethod method = camMethodFromName(o.method);
    const std::string methodName = camMethodName(method);
    CamPlan plan = planCams(o);  // validates the options too
    std::filesystem::create_directories(plan.cacheDir);
    const std::string& layerKey = plan.layerKey;
    const auto& list = plan;
    summary.images = plan.items.size();
    summary.cacheDir = plan.cacheDir;
    summary.reused = plan.reused;
    CamCache& cache = plan.cache;
    const fs::path scoresFile = summary.cacheDir / "scores.csv";
    auto& entryIndex = plan.entryIndex;
    const auto& todo = plan.todo;
    struct {
        std::vector<std::string>& names;
        std::map<std::string, std::vector<double>>& logits;
    } scores{plan.scoreNames, plan.scoreLogits};
    const auto nameOf = [](const std::vector<std::string>& names, int t) {
        return t < static_cast<int>(names.size()) ? names[static_cast<std::size_t>(t)] : std::to_string(t);
    };
    job.info("CAM cache " + summary.cacheDir.string() + ": " + std::to_string(plan.items.size() - todo.size()) +
             " of " + std::to_string(plan.items.size()) + " images already explained");

    double computeSeconds = 0;
    if (!todo.empty()) {
        torch::set_num_threads(static_cast<int>(util::resolveThreads(o.threads)));
        auto model = loadCamModel(o.model);
        const std::string layer = o.layer.empty() || o.layer == "default" ? model->layers().front() : o.layer;
        cache.layer = o.layer.empty() || o.layer == "default" ? layerKey : layer;
        std::vector<std::size_t> shape = o.inputShape;
        if (shape.empty()) shape = model->inputShape;
        if (shape.empty()) shape = {224, 224};
        std::vector<float> mean = o.mean, stdev = o.stdev;
        if (mean.empty() && !o.noNormalisation) {
            mean = model->mean;
            stdev = model->stdev;
            if (mean.empty() && o.channels == 3) {
                mean = {0.485f, 0.456f, 0.406f};
                stdev = {0.229f, 0.224f, 0.225f};
            }
        }
        if (o.noNormalisation) mean.clear(), stdev.clear();
        std::string size;
        for (std::size_t a = 0; a < shape.size(); ++a) size += (a ? "x" : "") + std::to_string(shape[a]);
        job.info("explaining " + model->description() + " at layer " + layer + " with " + methodName + ", input " +
                 size + (mean.empty() ? ", no normalisation" : ""));

        std::vector<std::string> names = o.labelNames;
        if (names.empty()) names = model->labelNames;
        if (names.empty() && !scores.names.empty()) names = scores.names;

        auto lastIndexWrite = Clock::now();
        const auto flush = [&] {
            writeCamScores(scoresFile, plan.scoreNames, plan.scoreLogits);
            writeCamCacheIndex(cache);
            lastIndexWrite = Clock::now();
        };
        const auto upsert = [&](CamEntry e) {
            const auto key = std::make_pair(e.id, e.label);
            if (auto it = entryIndex.find(key); it != entryIndex.end()) {
                cache.entries[it->second] = std::move(e);
            } else {
                entryIndex[key] = cache.entries.size();
                cache.entries.push_back(std::move(e));
            }
        };
        std::size_t done = 0, failed = 0;
        try {
            for (std::size_t b0 = 0; b0 < todo.size(); b0 += static_cast<std::size_t>(o.batchSize)) {
                job.throwIfCancelled();
                const auto t0 = Clock::now();
                const std::size_t b1 = std::min(todo.size(), b0 + static_cast<std::size_t>(o.batchSize));
                std::vector<torch::Tensor> inputs;
                std::vector<const CamInput*> batchItems;
                for (std::size_t j = b0; j < b1; ++j) {
                    const CamInput& item = list.items[todo[j]];
                    try {
                        inputs.push_back(loadInput(item, shape, o.channels, mean, stdev));
                        batchItems.push_back(&item);
                    } catch (const std::exception& e) {
                        // One unreadable image must not cost the whole batch job.
                        ++failed;
                        job.warning(std::string("skipped: ") + e.what());
                    }
                }
                if (inputs.empty()) continue;
                const torch::Tensor x = torch::stack(inputs);
                const SplitForward sf = model->forward(x, layer);
                const torch::Tensor logits = sf.logits.detach().to(torch::kDouble).contiguous();
                const auto k = logits.size(1);
                if (names.empty() && static_cast<std::int64_t>(list.numericColumns.size()) == k)
                    names = list.numericColumns;
                if (names.empty())
                    for (std::int64_t i = 0; i < k; ++i) names.push_back(std::to_string(i));
                if (static_cast<std::int64_t>(names.size()) != k)
                    throw std::runtime_error(o.model.string() + ": the model has " + std::to_string(k) + " outputs but " +
                                             std::to_string(names.size()) + " label names were given");
                scores.names = names;

                // Targets per image; rounds explain the r-th target of every image at once.
                std::vector<std::vector<int>> targets(batchItems.size());
                std::size_t rounds = 0;
                for (std::size_t i = 0; i < batchItems.size(); ++i) {
                    std::vector<double> row(static_cast<std::size_t>(k));
                    for (std::int64_t c = 0; c < k; ++c) row[static_cast<std::size_t>(c)] = logits[static_cast<std::int64_t>(i)][c].item<double>();
                    scores.logits[batchItems[i]->id] = row;
                    targets[i] = chooseCamTargets(o.labels, row, names);
                    rounds = std::max(rounds, targets[i].size());
                }
                std::vector<Pending> pending;
                for (std::size_t r = 0; r < rounds; ++r) {
                    std::vector<std::int64_t> idx;
                    for (const auto& t : targets) idx.push_back(r < t.size() ? t[r] : (t.empty() ? 0 : t[0]));
                    const torch::Tensor s =
                        sf.logits.gather(1, torch::tensor(idx, torch::kLong).unsqueeze(1)).squeeze(1);
                    const torch::Tensor cams = camFromFeatures(sf.features, s, method).contiguous();
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
                // Faithfulness: the input without the CAM's top keep_ratio region, like the ROI
                // task's drop pass (image x (1 - mask), on the normalised input).
                std::vector<double> probDrop(pending.size());
                if (o.faithfulness && !pending.empty()) {
                    std::vector<torch::Tensor> dropped;
                    for (const Pending& p : pending) {
                        const Heatmap up = upsample(p.cam, shape);
                        const auto m = topFractionMask(up, o.keepRatio);
                        std::vector<float> keep(m.size());
                        for (std::size_t i = 0; i < m.size(); ++i) keep[i] = m[i] ? 0.0f : 1.0f;
                        std::vector<std::int64_t> dims(shape.begin(), shape.end());
                        const torch::Tensor mask = torch::from_blob(keep.data(), dims, torch::kFloat).clone();
                        dropped.push_back(inputs[p.image] * mask.unsqueeze(0));
                    }
                    std::size_t at = 0;
                    for (std::size_t c0 = 0; c0 < dropped.size(); c0 += static_cast<std::size_t>(o.batchSize)) {
                        job.throwIfCancelled();
                        const std::size_t c1 = std::min(dropped.size(), c0 + static_cast<std::size_t>(o.batchSize));
                        const torch::Tensor dl =
                            model->logits(torch::stack(std::vector<torch::Tensor>(dropped.begin() + c0, dropped.begin() + c1)))
                                .to(torch::kDouble);
                        for (std::size_t i = c0; i < c1; ++i, ++at)
                            probDrop[at] = probability(dl[static_cast<std::int64_t>(i - c0)], pending[i].target, o.activation);
                    }
                }
                for (std::size_t pi = 0; pi < pending.size(); ++pi) {
                    const Pending& p = pending[pi];
                    CamEntry e;
                    e.id = batchItems[p.image]->id;
                    e.label = nameOf(names, p.target);
                    e.target = p.target;
                    e.file = camFileName(e.id, e.label);
                    e.score = p.score;
                    const auto [lo, hi] = std::minmax_element(p.cam.values.begin(), p.cam.values.end());
                    e.rawMin = p.cam.values.empty() ? 0 : *lo;
                    e.rawMax = p.cam.values.empty() ? 0 : *hi;
                    e.inputH = shape[shape.size() - 2];
                    e.inputW = shape.back();
                    e.inputD = shape.size() == 3 ? shape[0] : 1;
                    if (o.faithfulness) {
                        e.prob = probability(sf.logits.detach()[static_cast<std::int64_t>(p.image)], p.target, o.activation);
                        e.probDrop = probDrop[pi];
                        e.camDrop = *e.prob - *e.probDrop;
                    }
                    saveCam(p.cam, e, summary.cacheDir);
                    e.file = summary.cacheDir / e.file;
                    upsert(std::move(e));
                    ++summary.computed;
                }
                computeSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
                done = b1;
                job.progress(static_cast<double>(done) / static_cast<double>(todo.size()),
                             "Grad-CAM " + std::to_string(done) + "/" + std::to_string(todo.size()) + " images");
                if (Clock::now() - lastIndexWrite > std::chrono::seconds(3)) flush();
            }
        } catch (...) {
            flush();  // a cancelled or failing run keeps what it computed
            throw;
        }
        flush();
        if (failed == todo.size())
            throw std::runtime_error(o.images.string() + ": none of the " + std::to_string(failed) +
                                     " images could be read (see the warnings)");
        if (failed) job.warning(std::to_string(failed) + " images skipped");
    } else {
        job.progress(1.0, "all CAMs cached");
    }
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
