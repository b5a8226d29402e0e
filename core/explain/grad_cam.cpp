#include "explain/grad_cam.h"
#include "explain/cam_plan.h"
#include "explain/script_layers.h"

#include "config/config.h"
#include "nn/roi_consistency.h"
#include "train/trainer.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

namespace lumen::explain {
namespace {

std::vector<std::int64_t> spatialDims(const torch::Tensor& features) {
    std::vector<std::int64_t> dims;
    for (std::int64_t d = 2; d < features.dim(); ++d) dims.push_back(d);
    return dims;
}

/// Logits as (N, K): a model returning (N,) gets K = 1.
torch::Tensor asMatrix(const torch::Tensor& logits, const std::string& source) {
    if (logits.dim() == 1) return logits.unsqueeze(1);
    if (logits.dim() != 2)
        throw std::runtime_error(source + ": expected logits of shape (N, K), got " + std::to_string(logits.dim()) +
                                 "-D");
    return logits;
}

void checkFeatures(const torch::Tensor& f, const std::string& source) {
    if (!f.defined() || (f.dim() != 4 && f.dim() != 5))
        throw std::runtime_error(source + ": the explained layer must give features (N,C,h,w) or (N,C,d,h,w), got " +
                                 (f.defined() ? std::to_string(f.dim()) + "-D" : std::string("nothing")));
}

/// A model given as two functions: features of a layer, and the rest (head) to logits.
class FunctionCamModel : public CamModel {
public:
    FunctionCamModel(std::vector<std::string> layers, std::function<torch::Tensor(const torch::Tensor&, int)> until,
                     std::function<torch::Tensor(const torch::Tensor&, int)> from, std::vector<int> indices,
                     std::string description)
        : layers_(std::move(layers)),
          until_(std::move(until)),
          from_(std::move(from)),
          indices_(std::move(indices)),
          description_(std::move(description)) {}

    SplitForward forward(const torch::Tensor& x, const std::string& layer) override {
        const int index = indexOf(layer);
        torch::Tensor f;
        {
            torch::NoGradGuard noGrad;
            f = until_(x, index);
        }
        checkFeatures(f, description_);
        f = f.detach().requires_grad_(true);
        torch::AutoGradMode grad(true);
        return {f, asMatrix(from_(f, index), description_)};
    }
    torch::Tensor logits(const torch::Tensor& x) override {
        torch::NoGradGuard noGrad;
        const int last = indices_.front();
        return asMatrix(from_(until_(x, last), last), description_);
    }
    std::vector<std::string> layers() const override { return layers_; }
    std::string description() const override { return description_; }
    void to(const torch::Device& device) override {
        if (mover_) mover_(device);
        else if (!device.is_cpu())
            throw std::invalid_argument(description_ + ": this model cannot be moved to " + device.str());
    }
    void setMover(std::function<void(const torch::Device&)> mover) { mover_ = std::move(mover); }

private:
    int indexOf(const std::string& layer) const {
        if (layer.empty()) return indices_.front();
        for (std::size_t i = 0; i < layers_.size(); ++i)
            if (layers_[i] == layer) return indices_[i];
        std::string known;
        for (const auto& l : layers_) known += (known.empty() ? "" : ", ") + l;
        throw std::invalid_argument(description_ + ": no explainable layer \"" + layer + "\" (known: " + known + ")");
    }
    std::vector<std::string> layers_;
    std::function<torch::Tensor(const torch::Tensor&, int)> until_, from_;
    std::vector<int> indices_;
    std::string description_;
    std::function<void(const torch::Device&)> mover_;
};

/// TorchScript modules: forward_features + forward_head (also Lumen's ROI export's
/// forward_features_classifier + forward_head_classifier), or forward -> (logits, features).
class ScriptCamModel : public CamModel {
public:
    ScriptCamModel(torch::jit::Module module, std::string source) : m_(std::move(module)), source_(std::move(source)) {
        m_.eval();
        if (m_.find_method("forward_features") && m_.find_method("forward_head")) {
            featuresMethod_ = "forward_features";
            headMethod_ = "forward_head";
            // Lumen's ConvNeXt exports also split at earlier stages.
            staged_ = m_.find_method("forward_until") && m_.find_method("forward_from");
        } else if (m_.find_method("forward_features_classifier") && m_.find_method("forward_head_classifier")) {
            featuresMethod_ = "forward_features_classifier";
            headMethod_ = "forward_head_classifier";
        } else if (auto fwd = m_.find_method("forward"); fwd && returnsPair(*fwd)) {
            tuple_ = true;
        } else if (m_.find_method("forward")) {
            plain_ = true;  // any module: its layers are tapped (script_layers.h)
        } else {
            throw std::runtime_error(source_ + ": cannot explain this TorchScript module: it has no forward method");
        }
        for (const auto& p : submodulePaths(m_)) submodules_.insert(p);
    }

    SplitForward forward(const torch::Tensor& x, const std::string& layer) override {
        if (tapped(layer)) return tapForward(x, layer);
        checkLayer(layer);
        torch::AutoGradMode grad(true);
        try {
            if (staged_ && layer.rfind("features.", 0) == 0) {
                const std::int64_t index = std::stoll(layer.substr(9));
                torch::Tensor f;
                {
                    torch::NoGradGuard noGrad;
                    f = m_.run_method("forward_until", x, index).toTensor();
                }
                checkFeatures(f, source_);
                f = f.detach().requires_grad_(true);
                return {f, asMatrix(m_.run_method("forward_from", f, index).toTensor(), source_)};
            }
            if (tuple_) {
                // The features are an intermediate of forward: the input takes part in the graph
                // so they have a gradient even when the module's parameters are frozen.
                const auto out = m_.forward({x.detach().requires_grad_(true)}).toTuple();
                torch::Tensor f = out->elements().at(1).toTensor();
                checkFeatures(f, source_);
                return {f, asMatrix(out->elements().at(0).toTensor(), source_)};
            }
            torch::Tensor f;
            {
                torch::NoGradGuard noGrad;
                f = m_.run_method(featuresMethod_, x).toTensor();
            }
            checkFeatures(f, source_);
            f = f.detach().requires_grad_(true);
            return {f, asMatrix(m_.run_method(headMethod_, f).toTensor(), source_)};
        } catch (const c10::Error& e) {
            throw std::runtime_error(source_ + ": the TorchScript module failed: " + e.what_without_backtrace());
        }
    }
    torch::Tensor logits(const torch::Tensor& x) override {
        torch::NoGradGuard noGrad;
        try {
            if (plain_) return asMatrix(firstTensor(m_.forward({x}), source_), source_);
            if (tuple_) return asMatrix(m_.forward({x}).toTuple()->elements().at(0).toTensor(), source_);
            return asMatrix(m_.run_method(headMethod_, m_.run_method(featuresMethod_, x).toTensor()).toTensor(),
                            source_);
        } catch (const c10::Error& e) {
            throw std::runtime_error(source_ + ": the TorchScript module failed: " + e.what_without_backtrace());
        }
    }
    std::vector<std::string> layers() const override {
        std::vector<std::string> out =
            plain_    ? std::vector<std::string>{"default"}
            : staged_ ? std::vector<std::string>{"features", "features.5", "features.3", "features.1", "features.7"}
                      : std::vector<std::string>{"features"};
        out.insert(out.end(), submodules_.begin(), submodules_.end());
        return out;
    }
    std::string description() const override {
        if (plain_)
            return source_ + " (TorchScript, layer " + (defaultLayer_.empty() ? "chosen by path" : defaultLayer_) +
                   " tapped from forward)";
        return source_ + " (TorchScript " +
               (tuple_ ? "forward -> (logits, features)" : featuresMethod_ + " / " + headMethod_) + ")";
    }
    void to(const torch::Device& device) override { m_.to(device); }

private:
    /// Layers reached by tapping forward: any submodule path (except the conventions' own
    /// names), and the default layer of a module without a convention.
    bool tapped(const std::string& layer) const {
        if (plain_ && (layer.empty() || layer == "default")) return true;
        if (!submodules_.count(layer)) return false;
        const bool convention = staged_ ? (layer == "features" || layer == "features.1" || layer == "features.3" ||
                                           layer == "features.5" || layer == "features.7")
                                        : !plain_ && layer == "features";
        return !convention;
    }

    SplitForward tapForward(const torch::Tensor& x, const std::string& asked) {
        torch::AutoGradMode grad(true);
        try {
            std::string layer = asked;
            if (layer.empty() || layer == "default") {
                if (defaultLayer_.empty()) {
                    torch::NoGradGuard noGrad;
                    const auto chosen = defaultLayer(m_, x.slice(0, 0, 1));
                    if (!chosen)
                        throw std::runtime_error(source_ +
                                                 ": no submodule of this TorchScript module gives a feature map "
                                                 "(N,C,h,w), (N,C,d,h,w) or tokens forming a grid: name one with "
                                                 "--layer (lumen-cli explain --list-layers lists them)");
                    defaultLayer_ = *chosen;
                }
                layer = defaultLayer_;
            }
            auto it = taps_.find(layer);
            if (it == taps_.end()) it = taps_.emplace(layer, addLayerTaps(m_, {layer})).first;
            if (it->second.tapped.empty())
                throw std::runtime_error(source_ + ": layer " + layer +
                                         " cannot be explained: " + it->second.why.at(layer));
            // Unoptimised: the profiling executor's differentiable subgraphs (from the second
            // call on) can leave a tapped intermediate outside the autograd graph of the logits
            // (a Sequential ending in ReLU gave "the scores do not depend on the features").
            torch::jit::GraphOptimizerEnabledGuard plain(false);
            const auto out = m_.get_method(it->second.method)({x.detach().requires_grad_(true)});
            const auto& elements = out.toTupleRef().elements();
            SplitForward sf{elements.at(1).toTensor(), asMatrix(firstTensor(elements.at(0), source_), source_), {}};
            if (sf.features.dim() == 3)
                sf.toGrid = [batch = x.size(0), layer](const torch::Tensor& t) {
                    return tokensToGrid(t, batch, layer);
                };
            else checkFeatures(sf.features, source_ + " layer " + layer);
            return sf;
        } catch (const c10::Error& e) {
            throw std::runtime_error(source_ + ": the TorchScript module failed: " + e.what_without_backtrace());
        }
    }

    static bool returnsPair(const torch::jit::Method& method) {
        const auto& returns = method.function().getSchema().returns();
        if (returns.size() != 1) return false;
        const auto tuple = returns[0].type()->cast<c10::TupleType>();
        return tuple && tuple->elements().size() == 2;
    }
    void checkLayer(const std::string& layer) const {
        if (staged_ &&
            (layer == "features.1" || layer == "features.3" || layer == "features.5" || layer == "features.7"))
            return;
        if (!layer.empty() && layer != "features" && layer != featuresMethod_)
            throw std::invalid_argument(source_ + ": no layer \"" + layer +
                                        "\" in this TorchScript module: name a submodule by its path (lumen-cli "
                                        "explain --list-layers " +
                                        source_ + " lists them) or \"features\"");
    }
    torch::jit::Module m_;
    std::string source_, featuresMethod_, headMethod_, defaultLayer_;
    bool tuple_ = false, staged_ = false, plain_ = false;
    std::set<std::string> submodules_;
    std::map<std::string, LayerTaps> taps_;
};

std::vector<float> floatList(const YAML::Node& root, const std::string& key) {
    std::vector<float> out;
    const YAML::Node n = config::lookup(root, key);
    if (n.IsSequence())
        for (const auto& v : n) out.push_back(v.as<float>());
    return out;
}

std::unique_ptr<CamModel> roiCheckpointModel(const std::filesystem::path& file) {
    const auto info = train::readCheckpointInfo(file);
    if (info.taskId != "roi_consistency")
        throw std::runtime_error(file.string() + ": a Lumen checkpoint of task \"" + info.taskId +
                                 "\": only roi_consistency checkpoints and TorchScript files can be explained here");
    const YAML::Node root = config::parseYaml(info.configYaml, file.string());
    nn::ConvNeXtOptions o;
    const auto variant = config::lookup(root, "model.variant");
    o.variant = variant.IsDefined() ? variant.as<std::string>() : "tiny";
    std::vector<std::string> labels;
    if (const auto l = config::lookup(root, "labels"); l.IsSequence())
        for (const auto& v : l) labels.push_back(v.as<std::string>());
    o.numClasses = static_cast<int>(labels.size());
    o.inChannels = 3;
    const auto keep = config::lookup(root, "keep_ratio");
    nn::RoiConsistencyModel roi(o, keep.IsDefined() ? keep.as<double>() : 0.1);
    train::loadModelWeights(*roi, file, true);
    roi->eval();
    auto model = camModelFromConvNeXt(roi->classifier(), file.string() + " (roi_consistency checkpoint)");
    model->labelNames = labels;
    const auto size = config::lookup(root, "image_size");
    const std::size_t side = size.IsDefined() ? size.as<std::size_t>() : 224;
    model->inputShape = {side, side};
    model->mean = floatList(root, "data.mean");
    model->stdev = floatList(root, "data.std");
    model->channels = 3;
    return model;
}

}  // namespace

torch::Tensor camFromFeatures(const torch::Tensor& features, const torch::Tensor& scores, CamMethod m,
                              const std::function<torch::Tensor(const torch::Tensor&)>& toGrid) {
    if (!toGrid) checkFeatures(features, "camFromFeatures");
    const std::int64_t n = features.size(0);
    const torch::Tensor s = scores.dim() == 2 && scores.size(1) == 1 ? scores.squeeze(1) : scores;
    if (s.dim() != 1 || s.size(0) != n)
        throw std::invalid_argument("camFromFeatures: expected one score per sample (" + std::to_string(n) + ")");
    if (!s.requires_grad())
        throw std::invalid_argument("camFromFeatures: the scores carry no gradient (computed without autograd?)");
    torch::AutoGradMode grad(true);
    auto g = torch::autograd::grad({s.sum()}, {features}, {}, /*retain_graph=*/true, /*create_graph=*/false,
                                   /*allow_unused=*/true)[0];
    if (!g.defined()) throw std::invalid_argument("camFromFeatures: the scores do not depend on the features");
    return camFromGradient(features, g, m, toGrid);
}

torch::Tensor camFromGradient(const torch::Tensor& features, const torch::Tensor& gradient, CamMethod m,
                              const std::function<torch::Tensor(const torch::Tensor&)>& toGrid) {
    if (!toGrid) checkFeatures(features, "camFromGradient");
    if (gradient.sizes() != features.sizes())
        throw std::invalid_argument("camFromGradient: the gradient's shape differs from the features'");
    torch::NoGradGuard noGrad;
    torch::Tensor f = features.detach().to(torch::kFloat);
    torch::Tensor g = gradient.to(torch::kFloat);
    if (toGrid) {
        f = toGrid(f);
        g = toGrid(g);
    }
    const auto dims = spatialDims(f);
    if (m == CamMethod::HiResCam) return torch::relu((g * f).sum(1)).contiguous();
    torch::Tensor w;
    if (m == CamMethod::GradCam) {
        w = g.mean(dims);
    } else {
        const torch::Tensor g2 = g * g, g3 = g2 * g;
        const torch::Tensor sumF = f.sum(dims, /*keepdim=*/true);
        torch::Tensor a = g2 / (2 * g2 + sumF * g3 + 1e-6);
        a = torch::where(g != 0, a, torch::zeros_like(a));
        w = (torch::relu(g) * a).sum(dims);
    }
    std::vector<std::int64_t> shape = {w.size(0), w.size(1)};
    for (std::size_t i = 0; i < dims.size(); ++i) shape.push_back(1);
    return torch::relu((w.view(shape) * f).sum(1)).contiguous();
}

CamMethod camMethodFromName(const std::string& name) {
    const std::string n = canonicalCamMethod(name);
    return n == "gradcam" ? CamMethod::GradCam : n == "hirescam" ? CamMethod::HiResCam : CamMethod::GradCamPlusPlus;
}

std::string camMethodName(CamMethod m) {
    return m == CamMethod::GradCam ? "gradcam" : m == CamMethod::HiResCam ? "hirescam" : "gradcam++";
}

std::unique_ptr<CamModel> camModelFromScript(torch::jit::Module module, const std::string& source) {
    return std::make_unique<ScriptCamModel>(std::move(module), source);
}

std::unique_ptr<CamModel> camModelFromConvNeXt(nn::ConvNeXt model, const std::string& source) {
    model->eval();
    auto cam = std::make_unique<FunctionCamModel>(
        std::vector<std::string>{"features.7", "features.5", "features.3", "features.1"},
        [model](const torch::Tensor& x, int index) mutable { return model->forwardFeaturesUntil(x, index); },
        [model](const torch::Tensor& f, int index) mutable { return model->forwardFrom(f, index); },
        std::vector<int>{7, 5, 3, 1}, source);
    cam->setMover([model](const torch::Device& device) mutable { model->to(device); });
    return cam;
}

std::unique_ptr<CamModel> camModelFromFunctions(std::function<torch::Tensor(const torch::Tensor&)> forwardFeatures,
                                                std::function<torch::Tensor(const torch::Tensor&)> forwardHead,
                                                const std::string& layer, const std::string& source) {
    return std::make_unique<FunctionCamModel>(
        std::vector<std::string>{layer},
        [ff = std::move(forwardFeatures)](const torch::Tensor& x, int) { return ff(x); },
        [fh = std::move(forwardHead)](const torch::Tensor& f, int) { return fh(f); }, std::vector<int>{0}, source);
}

std::unique_ptr<CamModel> loadCamModel(const std::filesystem::path& file) {
    if (!std::filesystem::is_regular_file(file)) throw std::runtime_error(file.string() + ": no such model file");
    torch::jit::Module module;
    try {
        module = torch::jit::load(file.string(), torch::kCPU);
    } catch (const c10::Error& e) {
        std::string why = e.what_without_backtrace();
        if (why.size() > 300) why = why.substr(0, 300) + "...";
        throw std::runtime_error(file.string() +
                                 ": not a TorchScript module or a Lumen checkpoint (torch::jit::load: " + why + ")");
    }
    // Lumen's checkpoints are torch::serialize archives, which load as modules too: sealed
    // ones hold their archive as a "sealed" buffer with its "sha256" (core/train/trainer.cpp),
    // older ones "task" and "config_yaml" directly.
    const bool sealed = module.hasattr("sealed") && module.hasattr("sha256");
    if (sealed || (module.hasattr("config_yaml") && module.hasattr("task"))) return roiCheckpointModel(file);
    return camModelFromScript(std::move(module), file.string());
}

}  // namespace lumen::explain
