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

#include "nn/video_encoder.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::nn {

using VideoResNetOptions = VideoEncoderOptions;

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

class VideoResNetImpl : public VideoEncoderImpl {
public:
    explicit VideoResNetImpl(VideoResNetOptions options);
    /// (N, C, T, H, W) -> logits (N, classes), or the pooled features (N, width) without fc.
    torch::Tensor forward(const torch::Tensor& x) override;
    /// The last stage's feature map (N, width, t, h, w): what Grad-CAM over a video weighs.
    torch::Tensor forwardFeatures(const torch::Tensor& x);
    /// Global pool (average or maximum, options().pool) + fc when present, of a forwardFeatures() map.
    torch::Tensor forwardHead(const torch::Tensor& features);
    VideoFeatureMap camFeatures(const torch::Tensor& x) override { return {forwardFeatures(x), {}}; }
    torch::Tensor camHead(const VideoFeatureMap& features) override { return forwardHead(features.map); }
    std::string camLayer() const override { return "layer" + std::to_string(widths_.size()); }
    std::int64_t featureDim() const override { return widths_.back(); }
    const VideoResNetOptions& options() const override { return options_; }
    std::string anchorKey() const override { return "stem.0.weight"; }

private:
    VideoResNetOptions options_;
    std::vector<std::int64_t> widths_, depths_;
    torch::nn::Sequential stem_{nullptr};
    std::vector<torch::nn::Sequential> layers_;
    torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(VideoResNet);

/// loadVideoEncoderWeights (nn/video_encoder.h) for a video ResNet holder.
inline PrefixedLoadReport loadVideoEncoderWeights(VideoResNet& encoder, const std::filesystem::path& path,
                                                  const std::string& prefix = "") {
    return loadVideoEncoderWeights(*encoder, path, prefix);
}

}  // namespace lumen::nn
