#pragma once
// The video encoders of the angio_multiview model behind one interface (docs/angio.md): the
// video ResNets (nn/video_resnet.h: r3d_18, mc3_18, r2plus1d_18) and MViT v2 (nn/mvit.h:
// mvit_v2_s), both with torchvision's parameter names. An encoder maps a clip (N, C, T, H, W)
// to one embedding per clip (N, D); for Grad-CAM over a video it also splits at the layer the
// CAM weighs: camFeatures() runs up to it, camHead() the rest. Torch-only header (lumen_ml).

#include "nn/tensor_file.h"

#include <torch/nn/module.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lumen::nn {

struct VideoEncoderOptions {
    /// "r3d_18" (3x3x3 everywhere), "mc3_18" (3x3x3 in layer1, 1x3x3 after),
    /// "r2plus1d_18" ((2+1)D factorised convolutions and stem), "mvit_v2_s" (MViT v2 small).
    std::string arch = "r3d_18";
    /// Video ResNets only: stage widths and blocks per stage; empty = torchvision's 64,128,256,512
    /// and 2,2,2,2. Same length (>= 1). The stem's width is widths[0]; stages after the first stride 2.
    std::vector<std::int64_t> widths, depths;
    std::int64_t inChannels = 3;
    std::int64_t numClasses = 0;  ///< 0: no classifier, forward returns the embedding
    /// Video ResNets only: the global pool over (t, h, w): "avg" (torchvision's) or "max" (a small
    /// lesion's hot spot is not averaged away; no parameters, so weights load either way).
    std::string pool = "avg";
    /// MViT only: the clip size its relative position tables are built for (torchvision's 16
    /// frames at 224²; another clip size interpolates the tables, as torchvision does).
    std::int64_t frames = 16, resolution = 224;
    /// MViT only: stochastic depth at the last block (torchvision's 0.2; 0 = off), scaled linearly.
    double stochasticDepth = 0.2;
};

/// The map Grad-CAM weighs: (N, C, t, h, w), and for a transformer the class token beside it
/// (N, C) (undefined for a CNN).
struct VideoFeatureMap {
    torch::Tensor map;
    torch::Tensor token;
};

class VideoEncoderImpl : public torch::nn::Module {
public:
    /// (N, C, T, H, W) -> logits (N, classes), or the embedding (N, featureDim()) without a classifier.
    virtual torch::Tensor forward(const torch::Tensor& x) = 0;
    /// Up to the layer Grad-CAM weighs.
    virtual VideoFeatureMap camFeatures(const torch::Tensor& x) = 0;
    /// The rest after camFeatures(): camHead(camFeatures(x)) == forward(x).
    virtual torch::Tensor camHead(const VideoFeatureMap& features) = 0;
    /// That layer's name in the state dict ("layer4", "blocks.15").
    virtual std::string camLayer() const = 0;
    virtual std::int64_t featureDim() const = 0;
    virtual const VideoEncoderOptions& options() const = 0;
    /// A key every state dict of this encoder has: how loadVideoEncoderWeights finds a prefix.
    virtual std::string anchorKey() const = 0;
};

/// The encoder `options.arch` names; an unknown one is an error listing the known.
std::shared_ptr<VideoEncoderImpl> makeVideoEncoder(const VideoEncoderOptions& options);

/// Loads torchvision weights (a state dict, a checkpoint nesting one, or a TorchScript module)
/// into `encoder`. `prefix` as loadPrefixedStateDict: empty = found through the encoder's
/// anchorKey() (so "video_encoder.", "module." or "model_state_dict.encoder." come off alone).
/// The file's classifier and anything else the encoder lacks is listed in `unexpected`; a
/// missing or mis-shaped weight throws naming the file and the keys.
PrefixedLoadReport loadVideoEncoderWeights(VideoEncoderImpl& encoder, const std::filesystem::path& path,
                                           const std::string& prefix = "");

}  // namespace lumen::nn
