// The example task plugin of docs/plugins.md: logistic regression on a CSV of numbers, written
// with the task kit (plugin/task_kit.h, train/task_steps.h). Everything a task shares with the
// others (training keys, inference keys, default YAML, checkpoints, resume, TorchScript export,
// the inference preamble) comes from the kit; the plugin holds only its data, model, loss,
// validation metric and prediction rows. tests/plugin/test_example_plugin.cpp drives it
// through lumen-cli as a user would.
#include "data/csv_records.h"
#include "jobs/job.h"
#include "metrics/classification.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_kit.h"
#include "train/task_steps.h"
#include "util/atomic_file.h"

#include <torch/torch.h>

#include <random>
#include <sstream>
#include <stdexcept>

namespace example {
namespace {

namespace fs = std::filesystem;
using namespace lumen;

// ---- Data: id,label,<feature columns...>; errors name the file and line. --------------------

struct Table {
    std::vector<std::string> ids;
    torch::Tensor x, y;  // (n, features) float, (n, 1) float
};

Table readTable(const config::Config& c, const fs::path& workspace) {
    const fs::path file = plugin::inWorkspace(workspace, c.get<std::string>("data.csv"));
    const auto records = data::readCsvRecords(file);
    if (records.size() < 2 || records[0].fields.size() < 3 || records[0].fields[0] != "id" ||
        records[0].fields[1] != "label")
        throw std::runtime_error(file.string() + ": expected a header id,label,<features...> and rows");
    const std::size_t nf = records[0].fields.size() - 2;
    std::vector<float> x, y;
    Table t;
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& f = records[r].fields;
        if (f.size() != nf + 2)
            throw std::runtime_error(file.string() + ":" + std::to_string(records[r].line) + ": wrong field count");
        t.ids.push_back(f[0]);
        try {
            y.push_back(std::stof(f[1]));
            for (std::size_t k = 0; k < nf; ++k) x.push_back(std::stof(f[k + 2]));
        } catch (const std::exception&) {
            throw std::runtime_error(file.string() + ":" + std::to_string(records[r].line) + ": not a number");
        }
    }
    const auto n = static_cast<std::int64_t>(t.ids.size());
    t.x = torch::tensor(x).view({n, static_cast<std::int64_t>(nf)});
    t.y = torch::tensor(y).view({n, 1});
    return t;
}

// ---- Model: one linear layer, a named child so checkpoints and grad_norm.<name> work. ----------

struct LinearModelImpl : torch::nn::Module {
    explicit LinearModelImpl(std::int64_t features)
        : linear(register_module("linear", torch::nn::Linear(features, 1))) {}
    torch::Tensor forward(const torch::Tensor& x) { return linear(x); }
    torch::nn::Linear linear;
};
TORCH_MODULE(LinearModel);

const std::vector<std::string>& modelKeys() {
    static const std::vector<std::string> keys;  // the width comes from the data, nothing else shapes it
    return keys;
}

// ---- What the Trainer needs: batches, a loss, a validation pass. ------------------------------

class LinearTrainable : public train::TrainableTask {
public:
    LinearTrainable(LinearModel model, Table train, Table val, std::int64_t batch, std::uint64_t seed)
        : model_(std::move(model)), train_(std::move(train)), val_(std::move(val)), batch_(batch), seed_(seed) {}
    std::shared_ptr<torch::nn::Module> model() override { return model_.ptr(); }
    std::int64_t batchesPerEpoch() override { return (train_.x.size(0) + batch_ - 1) / batch_; }
    void startEpoch(std::int64_t epoch, std::int64_t firstBatch) override {
        // The order depends only on (seed, epoch), so a resumed run sees the same batches.
        order_.resize(static_cast<std::size_t>(train_.x.size(0)));
        for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<std::int64_t>(i);
        std::mt19937_64 rng(seed_ * 1000003ULL + static_cast<std::uint64_t>(epoch));
        for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng() % i]);
        pos_ = firstBatch * batch_;
    }
    std::optional<train::TensorBatch> nextBatch() override {
        if (pos_ >= static_cast<std::int64_t>(order_.size())) return std::nullopt;
        const auto end = std::min<std::int64_t>(pos_ + batch_, static_cast<std::int64_t>(order_.size()));
        const auto idx = torch::tensor(std::vector<std::int64_t>(order_.begin() + pos_, order_.begin() + end));
        pos_ = end;
        return train::TensorBatch{train_.x.index_select(0, idx), train_.y.index_select(0, idx), {}};
    }
    train::LossOutput loss(const train::TensorBatch& b) override {
        train::LossOutput out;
        out.total = torch::binary_cross_entropy_with_logits(model_->forward(b.inputs), b.targets);
        out.components["bce"] = out.total.detach();
        return out;
    }
    std::map<std::string, double> validate(const std::function<torch::Tensor(const torch::Tensor&)>& prepare) override {
        torch::NoGradGuard noGrad;
        const auto logits = model_->forward(prepare(val_.x)).to(torch::kFloat);
        const auto p = torch::sigmoid(logits).to(torch::kDouble).contiguous();
        const auto y = val_.y.to(torch::kDouble).contiguous();
        const std::vector<double> pv(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
        const std::vector<double> yv(y.data_ptr<double>(), y.data_ptr<double>() + y.numel());
        std::map<std::string, double> m{
            {"loss", torch::binary_cross_entropy_with_logits(logits, val_.y).item<double>()}};
        if (const auto a = metrics::auroc(yv, pv); a.has()) m["auroc"] = *a.value;
        return m;
    }
    train::MonitoredMetric monitoredMetric() const override { return {"auroc", true}; }

private:
    LinearModel model_;
    Table train_, val_;
    std::int64_t batch_;
    std::uint64_t seed_;
    std::vector<std::int64_t> order_;
    std::int64_t pos_ = 0;
};

// ---- Train and infer: the task's own part, the rest is the kit's. ------------------------------

std::string trainLinear(const config::Config& c, const plugin::RunContext& where, jobs::JobContext& job) {
    torch::manual_seed(c.get<std::uint64_t>("seed"));
    auto all = readTable(c, where.workspace);
    const auto n = all.x.size(0);
    const auto nVal = std::max<std::int64_t>(1, static_cast<std::int64_t>(c.get<double>("data.val_fraction") * n));
    Table train{{all.ids.begin() + nVal, all.ids.end()}, all.x.slice(0, nVal), all.y.slice(0, nVal)};
    Table val{{all.ids.begin(), all.ids.begin() + nVal}, all.x.slice(0, 0, nVal), all.y.slice(0, 0, nVal)};
    LinearModel model(all.x.size(1));
    LinearTrainable task(model, std::move(train), std::move(val), c.get<int>("batch_size"),
                         c.get<std::uint64_t>("seed"));
    train::Trainer trainer(train::trainerOptionsFor(c, "example_linear", where, modelKeys()), task, job);
    train::AfterTraining after;
    after.summaryKeys = {"auroc"};
    after.exportBest = [&](const fs::path& best, const fs::path& file) {
        train::loadModelWeights(*model, best, true);
        model->eval();
        torch::save(model, file.string());  // a real plugin exports TorchScript (nn/torchscript_export.h)
    };
    return train::finishTraining(trainer.run(), where, job, "example_linear", after);
}

std::string inferLinear(const config::Config& requested, const plugin::RunContext& where, jobs::JobContext& job) {
    const auto setup = train::prepareInference(requested, where, job, "example_linear", modelKeys());
    const auto table = readTable(setup.config, where.workspace);
    LinearModel model(table.x.size(1));
    train::loadModelWeights(*model, setup.checkpoint, true);
    model->eval();
    torch::NoGradGuard noGrad;
    const auto p = torch::sigmoid(model->forward(table.x)).contiguous();
    std::ostringstream csv;
    csv << "id,probability\n";
    for (std::size_t i = 0; i < table.ids.size(); ++i)
        csv << table.ids[i] << ',' << plugin::fixed(p[static_cast<std::int64_t>(i)][0].item<double>()) << '\n';
    util::writeFileAtomically(setup.outDir / "preds.csv", csv.str());
    job.artifact("predictions", (setup.outDir / "preds.csv").string());
    return std::to_string(table.ids.size()) + " rows -> " + (setup.outDir / "preds.csv").string();
}

// ---- The task: who it is, its keys, its prediction columns. -----------------------------------

class ExampleLinearTask : public plugin::KitTask {
public:
    ExampleLinearTask()
        : KitTask({"example_linear", "Example: logistic regression",
                   "The task kit's example: a linear classifier on a CSV of numbers (docs/plugins.md).",
                   "Example task: logistic regression on data.csv (id,label,features...).",
                   plugin::TaskGuiHints{"id", {}, {"loss_curves"}, {}}},
                  trainLinear, inferLinear) {}
    config::Schema schema() const override {
        config::Schema s = kitSchema({20, 16, 1, 0.1, "fp32", "Rows"}, "preds.csv");
        s.addString("data.csv", "data.csv", "CSV with id,label,<features...>, relative to the workspace.");
        s.addFloat("data.val_fraction", 0.25, "The first rows held out for validation.", 0, 0.9).minExclusive = true;
        return s;
    }
    std::vector<std::string> predictionColumns(const config::Config&) const override { return {"probability"}; }
};

}  // namespace
}  // namespace example

LUMEN_DECLARE_TASK_PLUGIN(example::ExampleLinearTask, "example plugin")
