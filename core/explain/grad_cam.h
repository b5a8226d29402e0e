#pragma once
// Grad-CAM and Grad-CAM++ on any model that splits into features -> head, and the models
// Lumen can explain: native ConvNeXt (stage outputs), Lumen roi_consistency checkpoints and
// TorchScript modules following the convention of docs/explain.md.
// Torch-only header (lumen_ml): never include it from Qt code.

#include "nn/convnext.h"

#include <torch/script.h>
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lumen::explain {

enum class CamMethod { GradCam, GradCamPlusPlus, HiResCam };

/// features: (N,C,h,w) or (N,C,d,h,w), part of the autograd graph that produced `scores` (N,)
/// (e.g. the logit of the target class per sample; sample i's score must depend only on
/// sample i, as in any inference model). Returns the raw CAM (N,h,w)/(N,d,h,w) after ReLU,
/// float32. Grad-CAM: weights = spatial mean of dScore/dF. Grad-CAM++: the closed-form alphas
/// of Chattopadhay et al. with exp(score), as pytorch-grad-cam computes them:
///   a = g^2 / (2 g^2 + sum_ij(F) g^3 + 1e-6) where g != 0 (else 0), w = sum_ij(a relu(g)).
/// HiResCAM (Draelos & Carin): ReLU(sum_c g_c(x) F_c(x)), the gradient kept per position
/// instead of averaged — for a head that max-pools, exactly each position's share of the
/// score, where Grad-CAM's averaged weights smear it over every position a channel fires.
/// The graph is retained, so several scores of one forward can be explained in turn.
/// `toGrid`, when given, maps features that are not a grid (transformer tokens (N,L,D)) and
/// their gradient to one (N,D,h,w) before the CAM is formed (script_layers.h, tokensToGrid).
torch::Tensor camFromFeatures(const torch::Tensor& features, const torch::Tensor& scores, CamMethod m,
                              const std::function<torch::Tensor(const torch::Tensor&)>& toGrid = {});

/// The CAM of features (N,C,...) from a gradient of the same shape computed elsewhere — when one
/// score depends on several samples' features (a study's output over its views: video_cam.h).
torch::Tensor camFromGradient(const torch::Tensor& features, const torch::Tensor& gradient, CamMethod m,
                              const std::function<torch::Tensor(const torch::Tensor&)>& toGrid = {});

/// "gradcam" / "gradcam++" / "hirescam" (also "gradcampp", "grad-cam", "grad-cam++"); throws
/// std::invalid_argument listing the names otherwise.
CamMethod camMethodFromName(const std::string& name);
std::string camMethodName(CamMethod m);  ///< "gradcam" / "gradcam++" / "hirescam"

/// The result of one forward pass split at the explained layer.
struct SplitForward {
    torch::Tensor features;  ///< (N,C,h,w)/(N,C,d,h,w), requires grad
    torch::Tensor logits;    ///< (N,K), a function of `features`
    /// Set when `features` are tokens (N,L,D): how they and their gradient become a grid.
    std::function<torch::Tensor(const torch::Tensor&)> toGrid;
};

/// A model that can be split at a named layer. Calls are not thread-safe (one per job).
class CamModel {
public:
    virtual ~CamModel() = default;
    /// Runs x (N,C,H,W)/(N,C,D,H,W) to the layer (without building a graph when it can) and
    /// the rest with gradients from the layer's output on.
    virtual SplitForward forward(const torch::Tensor& x, const std::string& layer) = 0;
    /// Plain logits (no gradient), for faithfulness passes.
    virtual torch::Tensor logits(const torch::Tensor& x) = 0;
    /// Layers that can be explained; the first is the default (used for layer "").
    virtual std::vector<std::string> layers() const = 0;
    /// What was loaded, for messages ("TorchScript forward_features/forward_head", ...).
    virtual std::string description() const = 0;
    /// Moves the weights to `device` (inputs must then be there too). Throws
    /// std::invalid_argument for a model that cannot move (one made of bare functions).
    virtual void to(const torch::Device& device) = 0;
    /// Known label names, model input size (h, w[, d]) and normalisation; empty when the file
    /// does not say (TorchScript). Lumen checkpoints carry them in their config.
    std::vector<std::string> labelNames;
    std::vector<std::size_t> inputShape;  ///< (H,W) or (D,H,W)
    std::vector<float> mean, stdev;
    int channels = 0;
};

/// Loads a model file for explaining: a TorchScript module (any submodule by its path, e.g.
/// "layer4", through script_layers.h; also the conventions of docs/explain.md: forward_features +
/// forward_head methods, or forward returning (logits, features)) or a Lumen checkpoint of
/// roi_consistency (its ConvNeXt classifier, EMA weights when present). Throws
/// std::runtime_error naming the file and what was expected.
std::unique_ptr<CamModel> loadCamModel(const std::filesystem::path& file);

/// A CamModel over an existing TorchScript module (tests and callers that loaded one).
std::unique_ptr<CamModel> camModelFromScript(torch::jit::Module module, const std::string& source);

/// A native ConvNeXt: layers "features.7" (default, the last stage), "features.5", "features.3",
/// "features.1" (earlier stage outputs, finer maps: 14x14, 28x28, 56x56 at 224 px).
std::unique_ptr<CamModel> camModelFromConvNeXt(nn::ConvNeXt model, const std::string& source = "ConvNeXt");

/// Any native model that splits into forwardFeatures / forwardHead (e.g. a 3-D ResNet): one
/// layer, named `layer`. The functions are called on the job's thread only.
std::unique_ptr<CamModel> camModelFromFunctions(std::function<torch::Tensor(const torch::Tensor&)> forwardFeatures,
                                                std::function<torch::Tensor(const torch::Tensor&)> forwardHead,
                                                const std::string& layer, const std::string& source);

}  // namespace lumen::explain
