#pragma once
// ConvNeXt image classifiers (atto / tiny / base) in LibTorch, laid out exactly like
// torchvision's `convnext_*` models so that a torchvision state dict maps 1:1 onto ours:
//   features.0.{0: Conv2d 4x4/4, 1: LayerNorm2d}                         stem
//   features.{1,3,5,7}.<i>.{layer_scale, block.{0: dwConv7x7, 2: LayerNorm, 3: Linear, 5: Linear}}
//   features.{2,4,6}.{0: LayerNorm2d, 1: Conv2d 2x2/2}                    downsampling
//   classifier.{0: LayerNorm2d, 2: Linear}                               head
// ("atto" is timm's width (40..320, depths 2,2,6,2) in torchvision's layout.)
// LayerNorms always run in float32, also under bf16 autocast (LibTorch 1.13's CPU autocast
// leaves layer_norm alone and its kernel rejects bf16 input with fp32 weights; later PyTorch
// versions autocast layer_norm to fp32 the same way). Torch-only header (lumen_ml).

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::nn {

struct ConvNeXtOptions {
    std::string variant =
        "tiny";  // "atto" (40,80,160,320; 2,2,6,2), "tiny" (96..768; 3,3,9,3), "base" (128..1024; 3,3,27,3)
    int numClasses = 15;
    int inChannels = 3;
    double dropPath = 0.0;  // stochastic depth of the last block (linear ramp from 0); torchvision: tiny 0.1, base 0.5
    double layerScaleInit = 1e-6;
};

/// Under bf16 autocast the LayerNorm inside each block (its output only feeds a Linear that
/// works in bf16) uses layerNormBf16 (nn/layer_norm_bf16.h): fp32 math, bf16 in and out, no
/// float32 copies. Off: cast in, LayerNorm in fp32, fp32 out, as everywhere else. Default on.
void setFusedBf16LayerNorm(bool on);
bool fusedBf16LayerNorm();

/// Widths and depths of a named variant; throws std::invalid_argument listing the known ones.
struct ConvNeXtSpec {
    std::array<std::int64_t, 4> dims{};
    std::array<std::int64_t, 4> depths{};
};
ConvNeXtSpec convNeXtSpec(const std::string& variant);

/// LayerNorm over channels in float32 whatever the input dtype (see the header comment).
/// channelsFirst: input (N, C, H, W) as torchvision's LayerNorm2d; else (..., C).
class ChannelLayerNormImpl : public torch::nn::Module {
public:
    ChannelLayerNormImpl(std::int64_t channels, bool channelsFirst, double eps = 1e-6);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight, bias;

private:
    std::int64_t channels_;
    bool channelsFirst_;
    double eps_;
};
TORCH_MODULE(ChannelLayerNorm);

/// torchvision's CNBlock: x + dropPath(layer_scale * pwconv2(gelu(pwconv1(LN(dwconv(x)))))).
class CNBlockImpl : public torch::nn::Module {
public:
    CNBlockImpl(std::int64_t dim, double layerScaleInit, double dropPathProb);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor layer_scale;  // (dim, 1, 1)

private:
    torch::nn::Conv2d dwconv_{nullptr};
    ChannelLayerNorm norm_{nullptr};
    torch::nn::Linear pwconv1_{nullptr}, pwconv2_{nullptr};
    double dropPathProb_;
};
TORCH_MODULE(CNBlock);

class ConvNeXtImpl : public torch::nn::Module {
public:
    explicit ConvNeXtImpl(ConvNeXtOptions options);
    torch::Tensor forward(const torch::Tensor& x);             // logits (N, numClasses)
    torch::Tensor forwardFeatures(const torch::Tensor& x);     // last stage map (N, C, h, w): Grad-CAM target
    torch::Tensor forwardHead(const torch::Tensor& features);  // pool + LayerNorm2d + Linear
    /// features.0 .. features.`lastIndex` (torchvision's indices: 0 stem, 1/3/5/7 the stage
    /// outputs, 2/4/6 downsampling; 7 = forwardFeatures), and the rest plus the head: the
    /// split points Grad-CAM uses for layers "features.N".
    torch::Tensor forwardFeaturesUntil(const torch::Tensor& x, int lastIndex);
    torch::Tensor forwardFrom(const torch::Tensor& y, int lastIndexDone);
    torch::nn::Module& backbone();  // "features": parameter group for freeze schedules
    torch::nn::Module& head();      // "classifier"
    const ConvNeXtOptions& options() const { return options_; }
    std::int64_t numFeatures() const { return spec_.dims[3]; }

private:
    torch::Tensor runFeatures(const torch::Tensor& x, int from, int to);  // features.(from+1..to)
    ConvNeXtOptions options_;
    ConvNeXtSpec spec_;
    std::shared_ptr<torch::nn::Module> features_, classifier_;
    torch::nn::Conv2d stemConv_{nullptr};
    ChannelLayerNorm stemNorm_{nullptr};
    std::vector<std::vector<CNBlock>> stages_;
    std::vector<ChannelLayerNorm> downNorms_;
    std::vector<torch::nn::Conv2d> downConvs_;
    ChannelLayerNorm headNorm_{nullptr};
    torch::nn::Linear headLinear_{nullptr};
};
TORCH_MODULE(ConvNeXt);

/// Loads pretrained weights into `model`. Accepted files (see docs/models.md):
/// - a TorchScript module of torchvision's ConvNeXt (torch.jit.save(torch.jit.script(m)) or trace);
/// - torch.save(m.state_dict()) of torchvision's convnext_* (or of a Lumen export), also nested
///   in a checkpoint dict under "model" / "state_dict" / "backbone", with or without a
///   "module." (DataParallel) prefix.
/// The head (classifier.2.*) is skipped, keeping its initialisation, when its class count
/// differs. Anything else that does not line up throws std::runtime_error naming the file
/// and listing missing / unexpected / mis-shaped keys.
void loadPretrained(ConvNeXt& model, const std::filesystem::path& path);

/// Converts 4-D parameters (conv weights) to channels-last in place: with channels-last
/// inputs the whole network then runs NHWC (oneDNN), as `model.to(memory_format=...)` does.
void toChannelsLast(torch::nn::Module& module);

}  // namespace lumen::nn
