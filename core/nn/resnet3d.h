#pragma once
// A configurable 3-D ResNet (basic blocks) for CT volumes (ct_multilabel, docs/models.md):
//   features.stem.{0: Conv3d k3, 1: norm}                    stem (ReLU after)
//   features.layer<s>.<b>.{conv1, n1.0, conv2, n2.0, down.{0,1}}   stages of basic blocks
//   classifier.fc                                             global avg / max pool + Linear
// Like ConvNeXt it splits into forwardFeatures / forwardHead so Grad-CAM 3-D can take the
// gradient of a logit with respect to a stage's feature map; any stage can be the split.
// Torch-only header (lumen_ml).

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace lumen::nn {

struct ResNet3dOptions {
    /// "small" (widths 16,32,64; depths 1,1,1; strides 1,2,1: CPU tests and the demo),
    /// "r10" (64,128,256,512; 1,1,1,1; 1,2,2,2), "r18" (64..512; 2,2,2,2; 1,2,2,2).
    /// Non-empty widths/depths/strides replace the variant's (all three the same length).
    std::string variant = "small";
    std::vector<std::int64_t> widths, depths, strides;
    std::array<std::int64_t, 3> stemStride{2, 2, 2};  ///< (z, y, x)
    int numClasses = 18;
    int inChannels = 1;
    std::string norm = "group";  ///< "group" (GroupNorm, min(8, C) groups) or "batch" (BatchNorm3d)
    double dropout = 0.0;        ///< before the final Linear
    /// Global pooling before the Linear: "avg", "max" (small lesions: one hot spot is not
    /// averaged away over the volume) or "avgmax" (both, concatenated).
    std::string pool = "avg";
    /// Convolution weights: "kaiming" (torchvision's ResNet: normal, fan-out, ReLU gain) or
    /// "default" (LibTorch's / PyTorch's own layer default: uniform, fan-in, a = sqrt(5) —
    /// ~1.7x smaller, which behind BatchNorm means larger relative updates).
    std::string init = "kaiming";
};

/// Widths, depths and stage strides after applying a variant and overrides; throws
/// std::invalid_argument naming the bad value (unknown variant, mismatched lengths, < 1).
struct ResNet3dSpec {
    std::vector<std::int64_t> widths, depths, strides;
};
ResNet3dSpec resNet3dSpec(const ResNet3dOptions& options);

class BasicBlock3dImpl : public torch::nn::Module {
public:
    BasicBlock3dImpl(std::int64_t in, std::int64_t out, std::int64_t stride, const std::string& norm);
    torch::Tensor forward(const torch::Tensor& x);

private:
    torch::nn::Conv3d conv1_{nullptr}, conv2_{nullptr};
    torch::nn::Sequential n1_{nullptr}, n2_{nullptr}, down_{nullptr};
};
TORCH_MODULE(BasicBlock3d);

class ResNet3dImpl : public torch::nn::Module {
public:
    explicit ResNet3dImpl(ResNet3dOptions options);
    torch::Tensor forward(const torch::Tensor& x);  ///< (N, C, D, H, W) -> logits (N, classes)
    /// The feature map after stage `stage` (1-based; -1 = the last): (N, C, d, h, w).
    torch::Tensor forwardFeatures(const torch::Tensor& x, int stage = -1);
    /// The rest of the network from the output of stage `stage` (-1 = the last) to logits.
    torch::Tensor forwardHead(const torch::Tensor& features, int stage = -1);
    torch::nn::Module& backbone();  ///< "features": the group a freeze schedule freezes
    torch::nn::Module& head();      ///< "classifier"
    int numStages() const { return static_cast<int>(layers_.size()); }
    /// Total downsampling of stage `stage` (-1 = the last) per axis (z, y, x).
    std::array<std::int64_t, 3> featureStride(int stage = -1) const;
    const ResNet3dOptions& options() const { return options_; }
    const ResNet3dSpec& spec() const { return spec_; }

private:
    int stageIndex(int stage) const;
    ResNet3dOptions options_;
    ResNet3dSpec spec_;
    std::shared_ptr<torch::nn::Module> features_, classifier_;
    torch::nn::Sequential stem_{nullptr};
    std::vector<torch::nn::Sequential> layers_;
    torch::nn::Dropout dropout_{nullptr};
    torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet3d);

}  // namespace lumen::nn
