// Training and inference of the roi_consistency task on LibTorch: the manifests and loaders
// of core/data, the model and losses of core/nn, the Trainer of core/train.
#include "roi_engine.h"

#include "config/seed.h"
#include "data/loader.h"
#include "io/codecs.h"
#include "jobs/job.h"
#include "metrics/classification.h"
#include "nn/roi_consistency.h"
#include "nn/torchscript_export.h"
#include "plugin/image_manifests.h"
#include "plugin/task_kit.h"
#include "train/image_batches.h"
#include "train/task_steps.h"
#include "train/trainer.h"
#include "util/atomic_file.h"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <sstream>

namespace lumen::roi {
namespace {

namespace fs = std::filesystem;

using plugin::fixed;
using plugin::inWorkspace;
using plugin::safeName;

using train::evalAugment;
using train::imagesOf;
using train::targetsOf;

nn::RoiConsistencyModel buildModel(const config::Config& c) {
    nn::ConvNeXtOptions o;
    o.variant = c.get<std::string>("model.variant");
    o.numClasses = static_cast<int>(c.get<std::vector<std::string>>("labels").size());
    o.inChannels = 3;
    o.dropPath = c.get<double>("model.drop_path");
    return nn::RoiConsistencyModel(o, c.get<double>("keep_ratio"));
}

nn::RoiLossWeights lossWeights(const config::Config& c) {
    nn::RoiLossWeights w;
    w.full = c.get<double>("loss_weights.full");
    w.consist = c.get<double>("loss_weights.consist");
    w.drop = c.get<double>("loss_weights.drop");
    w.sparse = c.get<double>("loss_weights.sparse");
    w.tv = c.get<double>("loss_weights.tv");
    return w;
}

/// Mean AUROC over the labels where it is defined (both classes present).
std::optional<double> macroAuroc(const std::vector<std::vector<double>>& truth,
                                 const std::vector<std::vector<double>>& score) {
    double sum = 0;
    int n = 0;
    for (std::size_t k = 0; k < truth.size(); ++k) {
        const auto v = metrics::auroc(truth[k], score[k]);
        if (v.has()) {
            sum += *v.value;
            ++n;
        }
    }
    if (n == 0) return std::nullopt;
    return sum / n;
}

class RoiTrainable : public train::TrainableTask {
public:
    RoiTrainable(nn::RoiConsistencyModel model, std::shared_ptr<data::Dataset> trainSet,
                 std::shared_ptr<data::Dataset> valSet, data::LoaderOptions lo, nn::RoiLossWeights w,
                 jobs::JobContext& job)
        : model_(std::move(model)), weights_(w), job_(job) {
        train_ = std::make_unique<data::BatchLoader>(trainSet, lo);
        val_ = train::validationLoader(valSet, lo);
    }
    std::shared_ptr<torch::nn::Module> model() override { return model_.ptr(); }
    std::map<std::string, std::vector<torch::Tensor>> parameterGroups() override {
        return {{"backbone", model_->classifier()->backbone().parameters()},
                {"head", model_->classifier()->head().parameters()},
                {"mask_net", model_->maskNet()->parameters()}};
    }
    std::int64_t batchesPerEpoch() override { return static_cast<std::int64_t>(train_->batchesPerEpoch()); }
    void startEpoch(std::int64_t epoch, std::int64_t firstBatch) override {
        train::startLoaderEpoch(*train_, epoch, firstBatch);
    }
    std::optional<train::TensorBatch> nextBatch() override { return train::nextTensorBatch(*train_); }
    train::LossOutput loss(const train::TensorBatch& batch) override {
        const auto out = model_->forward(batch.inputs);
        auto l = nn::roiConsistencyLoss(out, batch.targets, weights_);
        train::LossOutput r;
        r.total = l.total;
        for (auto& [k, v] : l.components) r.components[k] = v.detach();
        return r;
    }
    std::map<std::string, double> validate(const std::function<torch::Tensor(const torch::Tensor&)>& prepare) override {
        if (!val_) return {};
        val_->startEpoch(0);
        std::vector<std::vector<double>> truth, score;
        double lossSum = 0;
        std::int64_t batches = 0;
        while (auto b = val_->next()) {
            job_.throwIfCancelled();
            const auto x = prepare(imagesOf(*b));
            const auto y = targetsOf(*b);
            const auto out = model_->forward(x);
            lossSum += nn::roiConsistencyLoss(out, y.to(x.device()), weights_).total.item<double>();
            ++batches;
            const auto p =
                torch::sigmoid(out.logitsFull.to(torch::kFloat)).to(torch::kCPU, torch::kDouble).contiguous();
            const auto yd = y.to(torch::kDouble).contiguous();
            const auto pa = p.accessor<double, 2>();
            const auto ya = yd.accessor<double, 2>();
            const auto k = p.size(1);
            if (truth.empty()) {
                truth.resize(static_cast<std::size_t>(k));
                score.resize(static_cast<std::size_t>(k));
            }
            for (std::int64_t i = 0; i < p.size(0); ++i)
                for (std::int64_t j = 0; j < k; ++j) {
                    truth[static_cast<std::size_t>(j)].push_back(ya[i][j]);
                    score[static_cast<std::size_t>(j)].push_back(pa[i][j]);
                }
        }
        std::map<std::string, double> out;
        if (batches > 0) out["loss"] = lossSum / batches;
        if (auto a = macroAuroc(truth, score)) out["auroc_macro"] = *a;
        return out;
    }
    train::MonitoredMetric monitoredMetric() const override { return {"auroc_macro", true}; }

private:
    nn::RoiConsistencyModel model_;
    nn::RoiLossWeights weights_;
    jobs::JobContext& job_;
    std::unique_ptr<data::BatchLoader> train_, val_;
};

void writePng(const fs::path& file, const cv::Mat& image) {
    std::vector<unsigned char> bytes;
    if (!io::codecs().imencode(".png", image, bytes, {}))
        throw std::runtime_error(file.string() + ": PNG encoding failed");
    util::writeFileAtomically(file, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace

const std::vector<std::string>& modelShapingKeys() {
    static const std::vector<std::string> keys = {"model.variant", "labels",    "keep_ratio",
                                                  "image_size",    "data.mean", "data.std"};
    return keys;
}

std::string train(const config::Config& c, const plugin::RunContext& where, jobs::JobContext& job) {
    const auto seed = c.get<std::uint64_t>("seed");
    config::seedEverything(seed);
    const int size = c.get<int>("image_size");
    const auto all = plugin::imageManifest(c, where.workspace, job, false);
    auto [trainM, valM] = plugin::trainValManifests(c, all, seed, job);

    data::AugmentOptions aug = evalAugment(size);
    aug.hflip = c.get<bool>("augment.hflip");
    aug.rotateDegrees = c.get<double>("augment.rotate_degrees");
    const auto mean = train::configFloats(c, "data.mean"), stdev = train::configFloats(c, "data.std");
    auto trainSet = data::makeImageDataset(trainM, 3, aug, mean, stdev);
    auto valSet = data::makeImageDataset(valM, 3, evalAugment(size), mean, stdev);
    data::LoaderOptions lo;
    lo.batchSize = c.get<int>("batch_size");
    lo.workers = c.get<int>("num_workers");
    lo.prefetch = std::max(2, lo.workers);
    lo.shuffle = true;
    lo.seed = seed;
    lo.rank = where.rank;  // each rank trains on its share (validation: rank 0, everything)
    lo.worldSize = where.worldSize;

    auto model = buildModel(c);
    if (const auto pre = c.get<std::string>("model.pretrained"); !pre.empty()) {
        auto classifier = model->classifier();
        nn::loadPretrained(classifier, inWorkspace(where.workspace, pre));
        job.info("pretrained backbone: " + pre);
    }
    RoiTrainable task(model, trainSet, valSet, lo, lossWeights(c), job);

    const auto o = train::trainerOptionsFor(c, "roi_consistency", where, modelShapingKeys());
    job.info("training ConvNeXt-" + c.get<std::string>("model.variant") + " on " + std::to_string(trainM.rows.size()) +
             " images (" + std::to_string(valM.rows.size()) + " for validation), " + std::to_string(size) + " px, " +
             c.get<std::string>("precision") + (o.bf16 && !train::cpuSupportsBf16() ? " (unavailable: fp32)" : "") +
             (where.worldSize > 1 ? ", rank " + std::to_string(where.rank) + " of " + std::to_string(where.worldSize)
                                  : std::string()));
    train::Trainer trainer(o, task, job);
    train::AfterTraining after;
    after.exportBest = [&](const fs::path& best, const fs::path& file) {
        train::loadModelWeights(*model, best, true);
        model->eval();
        nn::exportTorchScript(model, file);
    };
    return train::finishTraining(trainer.run(), where, job, "roi_consistency", after);
}

std::string infer(const config::Config& cIn, const plugin::RunContext& where, jobs::JobContext& job) {
    const auto setup = train::prepareInference(cIn, where, job, "roi_consistency", modelShapingKeys());
    const auto& c = setup.config;
    const int size = c.get<int>("image_size");
    const auto labels = c.get<std::vector<std::string>>("labels");
    const auto m = plugin::inferenceManifest(c, plugin::imageManifest(c, where.workspace, job, true));
    const auto mean = train::configFloats(c, "data.mean"), stdev = train::configFloats(c, "data.std");
    auto set = data::makeImageDataset(m, 3, evalAugment(size), mean, stdev);
    data::LoaderOptions lo;
    lo.batchSize = c.get<int>("batch_size");
    lo.workers = c.get<int>("num_workers");
    lo.shuffle = false;
    data::BatchLoader loader(set, lo);

    auto model = buildModel(c);
    train::loadModelWeights(*model, setup.checkpoint, true);
    model->to(setup.device);
    model->eval();
    const bool channelsLast = c.get<bool>("channels_last");
    if (channelsLast) nn::toChannelsLast(*model);
    const fs::path& out = setup.outDir;
    fs::create_directories(out / "roi_vis");
    const int visuals = c.get<int>("infer.visuals");

    std::ostringstream csv;
    csv << "image";
    for (const auto& l : labels)
        for (const char* k : {"prob_full", "prob_crop", "prob_drop", "faithfulness"}) csv << ',' << l << '.' << k;
    csv << '\n';
    nlohmann::ordered_json json = nlohmann::ordered_json::array();
    double faithSum = 0;
    std::size_t done = 0;
    const std::size_t total = set->size();
    torch::NoGradGuard noGrad;
    loader.startEpoch(0);
    while (auto b = loader.next()) {
        job.throwIfCancelled();
        auto x = train::toDevice(imagesOf(*b), setup.device);
        if (channelsLast) x = x.contiguous(at::MemoryFormat::ChannelsLast);
        nn::RoiOutputs o;
        {
            train::AutocastScope autocast(setup.autocast, setup.device.type());
            o = model->forward(x);
        }
        const auto probs = [](const torch::Tensor& logits) {
            return torch::sigmoid(logits.to(torch::kFloat)).to(torch::kCPU, torch::kDouble).contiguous();
        };
        const auto pf = probs(o.logitsFull), pc = probs(o.logitsCrop), pd = probs(o.logitsDrop);
        const auto mask = o.hardMask.to(torch::kCPU, torch::kFloat).contiguous();
        x = x.to(torch::kCPU);
        const auto fa = pf.accessor<double, 2>(), ca = pc.accessor<double, 2>(), da = pd.accessor<double, 2>();
        for (std::int64_t i = 0; i < b->n; ++i) {
            const auto& id = b->ids[static_cast<std::size_t>(i)];
            csv << id;
            nlohmann::ordered_json perLabel;
            for (std::size_t k = 0; k < labels.size(); ++k) {
                const auto kk = static_cast<std::int64_t>(k);
                const double f = fa[i][kk], cr = ca[i][kk], d = da[i][kk];
                csv << ',' << fixed(f) << ',' << fixed(cr) << ',' << fixed(d) << ',' << fixed(f - d);
                perLabel[labels[k]] = {{"prob_full", f}, {"prob_crop", cr}, {"prob_drop", d}, {"faithfulness", f - d}};
                faithSum += f - d;
            }
            csv << '\n';
            json.push_back({{"image", id}, {"labels", perLabel}});
            if (static_cast<int>(done) < visuals) {
                // The binary mask, and the kept pixels of the (de-normalised) image.
                const auto mi = (mask[i][0] * 255).to(torch::kUInt8).contiguous();
                cv::Mat maskPng(static_cast<int>(mi.size(0)), static_cast<int>(mi.size(1)), CV_8UC1,
                                mi.data_ptr<std::uint8_t>());
                const std::string stem = safeName(fs::path(id).stem().string());
                writePng(out / "roi_vis" / (stem + "_mask.png"), maskPng.clone());
                auto img = x[i].to(torch::kFloat).contiguous();
                auto meanT = torch::tensor(mean).view({-1, 1, 1}), stdT = torch::tensor(stdev).view({-1, 1, 1});
                if (!mean.empty()) img = img * (stdev.empty() ? torch::ones_like(meanT) : stdT) + meanT;
                img = (img.clamp(0, 1) * mask[i] * 255).round().to(torch::kUInt8);
                // CHW RGB -> HWC BGR for OpenCV.
                auto hwc = img.flip({0}).permute({1, 2, 0}).contiguous();
                cv::Mat cropPng(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3,
                                hwc.data_ptr<std::uint8_t>());
                writePng(out / "roi_vis" / (stem + "_crop.png"), cropPng.clone());
            }
            ++done;
        }
        job.progress(total ? static_cast<double>(done) / total : 1.0,
                     "inference " + std::to_string(done) + "/" + std::to_string(total));
    }
    util::writeFileAtomically(out / "preds.csv", csv.str());
    util::writeFileAtomically(out / "preds.json", json.dump(1) + "\n");
    job.artifact("predictions", (out / "preds.csv").string());
    job.artifact("predictions_json", (out / "preds.json").string());
    if (visuals > 0) job.artifact("roi_vis", (out / "roi_vis").string());
    const double meanFaith = done ? faithSum / (static_cast<double>(done) * labels.size()) : 0.0;
    return std::to_string(done) + " images, mean faithfulness " + fixed(meanFaith, 4) + " -> " +
           (out / "preds.csv").string();
}

}  // namespace lumen::roi
