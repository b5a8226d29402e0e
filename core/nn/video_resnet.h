#pragma once
// Video ResNets with torchvision's module layout (torchvision/models/video/resnet.py), so a
// state dict saved from `torchvision.models.video.r3d_18()` (or mc3_18, r2plus1d_18) loads
// by name (docs/angio.md):
//   stem.{0,1,...}                               Conv3d + BatchNorm3d (+ the (2+1)D pair)
//   layer<s>.<b>.conv1.{0: conv, 1: bn}          conv1 = conv, BN, ReLU
//   layer<s>.<b>.conv2.{0: conv, 1: bn}          conv2 = conv, BN
//   layer<s>.<b>.downsample.{0: conv, 1: bn}     when the stride or width changes
//   fc                                           Linear (absent when numClasses == 0)
// A (2+1)D convolution is itself a Sequential {0: Conv3d (1,3,3), 1: BN, 2: ReLU,
// 3: Conv3d (3,1,1)}, so its weights are `conv1.0.0.weight`, `conv1.0.3.weight`, ...
// Widths and depths can be changed ("tiny" demo encoders); the architecture names keep
// torchvision's defaults. Torch-only header (lumen_ml).

#include "nn/tensor_file.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::nn {

struct VideoResNetOptions {
    /// "r3d_18" (3x3x3 everywhere), "mc3_18" (3x3x3 in layer1, 1x3x3 after),
    /// "r2plus1d_18" ((2+1)D factorised convolutions and stem).
    std::string arch = "r3d_18";
    /// Stage widths and blocks per stage; empty = torchvision's 64,128,256,512 and 2,2,2,2.
    /// Same length (>= 1). The stem's width is widths[0]; stages after the first stride 2.
    std::vector<std::int64_t> widths, depths;
    std::int64_t inChannels = 3;
    std::int64_t numClasses = 0;  ///< 0: no `fc`, forward returns the pooled features
    /// The global pool over (t, h, w): "avg" (torchvision's) or "max" (a small lesion's hot
    /// spot is not averaged away; no parameters, so weights load either way).
    std::string pool = "avg";
};

/// torchvision's factorised width: the (2+1)D mid-channels that keep a 3x3x3 conv's parameter count.
std::int64_t r2plus1dMidplanes(std::int64_t inPlanes, std::int64_t outPlanes);

class VideoBasicBlockImpl : public torch::nn::Module {
public:
    VideoBasicBlockImpl(const std::string& arch, int stage, std::int64_t in, std::int64_t out, std::int64_t stride);
    torch::Tensor forward(const torch::Tensor& x);

private:
    torch::nn::Sequential conv1_{nullptr}, conv2_{nullptr}, downsample_{nullptr};
};
TORCH_MODULE(VideoBasicBlock);

class VideoResNetImpl : public torch::nn::Module {
public:
    explicit VideoResNetImpl(VideoResNetOptions options);
    /// (N, C, T, H, W) -> logits (N, classes), or the pooled features (N, width) without fc.
    torch::Tensor forward(const torch::Tensor& x);
    /// The last stage's feature map (N, width, t, h, w): what Grad-CAM over a video weighs.
    torch::Tensor forwardFeatures(const torch::Tensor& x);
    /// Global pool (average or maximum, options().pool) + fc when present, of a forwardFeatures() map.
    torch::Tensor forwardHead(const torch::Tensor& features);
    std::int64_t featureDim() const { return widths_.back(); }
    const VideoResNetOptions& options() const { return options_; }

private:
    VideoResNetOptions options_;
    std::vector<std::int64_t> widths_, depths_;
    torch::nn::Sequential stem_{nullptr};
    std::vector<torch::nn::Sequential> layers_;
    torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(VideoResNet);

/// Loads torchvision video-ResNet weights (a state dict, a checkpoint nesting one, or a
/// TorchScript module) into `encoder`. `prefix` as loadPrefixedStateDict: empty = found
/// through "stem.0.weight" (so "video_encoder.", "module." or "model_state_dict.encoder."
/// come off alone). The file's `fc.*` and anything else the encoder lacks is listed in
/// `unexpected`; a missing or mis-shaped weight throws naming the file and the keys.
PrefixedLoadReport loadVideoEncoderWeights(VideoResNet& encoder, const std::filesystem::path& path,
                                           const std::string& prefix = "");

}  // namespace lumen::nn
