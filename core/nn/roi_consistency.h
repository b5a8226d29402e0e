#pragma once
// The ROI-consistency model of the NIH ChestX-ray14 recipe (the original ROI-consistency walkthrough; docs/models.md):
// a small mask net scores every pixel, the top keep_ratio of pixels form a binary mask, and
// one classifier sees the full image, the kept pixels (crop) and the rest (drop). The losses
// ask crop to agree with full and drop to be no more confident than full.
// Torch-only header (lumen_ml).

#include "nn/convnext.h"

#include <map>
#include <string>

namespace lumen::nn {

/// conv3x3 3->16, ReLU, conv3x3 16->32, ReLU, conv1x1 32->1, sigmoid. Parameter names
/// net.{0,2,4}.{weight,bias} (the original's nn.Sequential mask_net.{0,2,4}).
class MaskNetImpl : public torch::nn::Module {
public:
    explicit MaskNetImpl(int inChannels = 3);
    torch::Tensor forward(const torch::Tensor& x);  // soft mask (N, 1, H, W) in [0, 1]

private:
    torch::nn::Conv2d conv0_{nullptr}, conv2_{nullptr}, conv4_{nullptr};
};
TORCH_MODULE(MaskNet);

/// Number of pixels kept per image: max(1, floor(keepRatio * H * W)), as the original's
/// `max(1, int(keep_ratio * h * w))`.
std::int64_t topkCount(std::int64_t pixels, double keepRatio);

/// Binary mask (same shape as `soft`, float32, no gradient) keeping exactly topkCount(H*W)
/// pixels of each image: the highest scores, ties broken by the lower flat index (a stable
/// descending sort). `soft` is (N, 1, H, W) or (N, H, W). keepRatio in (0, 1].
torch::Tensor topkMask(const torch::Tensor& soft, double keepRatio);

struct RoiOutputs {
    torch::Tensor logitsFull, logitsCrop, logitsDrop;  // (N, classes)
    torch::Tensor softMask;                            // (N, 1, H, W), carries the mask net's gradient
    torch::Tensor hardMask;                            // (N, 1, H, W) binary, no gradient
};

class RoiConsistencyModelImpl : public torch::nn::Module {
public:
    RoiConsistencyModelImpl(ConvNeXtOptions options, double keepRatio);
    /// images (N, C, H, W), normalised. Gradients: the classifier gets them from all three
    /// passes; the mask net only through softMask (sparse and TV losses) - the hard top-k
    /// mask is not differentiable, exactly as in the original.
    RoiOutputs forward(const torch::Tensor& images);
    ConvNeXt classifier() { return classifier_; }
    MaskNet maskNet() { return maskNet_; }
    double keepRatio() const { return keepRatio_; }
    /// true (default): full, crop and drop go through the classifier as one batch of 3N
    /// (same numbers - ConvNeXt has no batch statistics - and faster); false: three calls
    /// as the original does.
    void setFusedBatch(bool fused) { fused_ = fused; }
    bool fusedBatch() const { return fused_; }

private:
    ConvNeXt classifier_{nullptr};
    MaskNet maskNet_{nullptr};
    double keepRatio_;
    bool fused_ = true;
};
TORCH_MODULE(RoiConsistencyModel);

/// Loss weights; defaults are the original train_roi_consistency.py's command-line defaults
/// (full 1, --alpha 1.0 consistency, --beta 0.5 drop, --gamma 1e-3 sparsity, --delta 1e-4 TV).
struct RoiLossWeights {
    double full = 1.0, consist = 1.0, drop = 0.5, sparse = 1e-3, tv = 1e-4;
};

struct RoiLoss {
    torch::Tensor total;
    std::map<std::string, torch::Tensor> components;  // "full","consist","drop","sparse","tv" (unweighted)
};

/// With p_x = sigmoid(logits_x), m the soft mask, y the multi-hot targets (N, classes):
///   full    = BCEWithLogits(logits_full, y)                        (mean over N x classes)
///   consist = mean |p_full - p_crop|
///   drop    = mean ReLU(p_drop - stopgrad(p_full))
///   sparse  = mean m
///   tv      = mean |m[:,:,1:,:] - m[:,:,:-1,:]| + mean |m[:,:,:,1:] - m[:,:,:,:-1]|
///   total   = sum of weight * component.   Computed in float32 whatever the autocast dtype.
RoiLoss roiConsistencyLoss(const RoiOutputs& outputs, const torch::Tensor& targets, const RoiLossWeights& weights = {});

}  // namespace lumen::nn
