#pragma once
// MViT v2 (Multiscale Vision Transformers v2, Li et al. 2022) with torchvision's module layout
// (torchvision/models/video/mvit.py, mvit_v2_s), so a state dict saved from
// `torchvision.models.video.mvit_v2_s()` loads by name (docs/angio.md):
//   conv_proj                        Conv3d (3,7,7) stride (2,4,4): the patch embedding
//   pos_encoding.class_token         the class token (v2: relative positions, no absolute table)
//   blocks.<i>.norm1 / norm2         LayerNorm (eps 1e-6)
//   blocks.<i>.attn.qkv              Linear (in, 3 out)
//   blocks.<i>.attn.project.0        Linear (out, out)
//   blocks.<i>.attn.pool_{q,k,v}.pool          depthwise Conv3d per head (no bias)
//   blocks.<i>.attn.pool_{q,k,v}.norm_act.0    LayerNorm (head dim)
//   blocks.<i>.attn.rel_pos_{h,w,t}  relative position tables (head dim columns)
//   blocks.<i>.mlp.0 / mlp.3         Linear (out, 4 out), Linear (4 out, out); GELU between
//   blocks.<i>.project               Linear (in, out) where the width changes
//   norm                             LayerNorm; the class token's row is the embedding
//   head.1                           Linear (absent when numClasses == 0)
// Sixteen blocks: widths 96 -> 192 -> 384 -> 768, heads 1, 2, 4, 8, query pooling (1,2,2) at
// blocks 1, 3 and 14, key/value pooling from (1,8,8) down to none, residual pooling, stochastic
// depth. Torch-only header (lumen_ml).

#include "nn/video_encoder.h"

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace lumen::nn {

using Thw = std::array<std::int64_t, 3>;

/// One block's configuration (torchvision's MSBlockConfig).
struct MViTBlockConfig {
    std::int64_t heads, in, out;
    Thw kernelQ, kernelKv, strideQ, strideKv;
};

/// mvit_v2_s's sixteen blocks.
std::vector<MViTBlockConfig> mvitV2SmallBlocks();

/// torchvision's Pool: the class token split off, the patch tokens pooled over (t, h, w), the
/// token put back, then the norm (when there is one) over every token.
class MViTPoolImpl : public torch::nn::Module {
public:
    MViTPoolImpl(torch::nn::AnyModule pool, std::optional<std::int64_t> normDim);
    /// x (B, [heads,] 1 + t h w, C) -> the pooled tokens and their new (t, h, w).
    std::pair<torch::Tensor, Thw> forward(const torch::Tensor& x, const Thw& thw);

private:
    torch::nn::AnyModule pool_;
    torch::nn::Sequential normAct_{nullptr};
};
TORCH_MODULE(MViTPool);

class MViTAttentionImpl : public torch::nn::Module {
public:
    MViTAttentionImpl(const Thw& inputSize, const MViTBlockConfig& c, std::int64_t outDim);
    std::pair<torch::Tensor, Thw> forward(const torch::Tensor& x, const Thw& thw);

private:
    std::int64_t heads_, headDim_, outDim_;
    torch::nn::Linear qkv_{nullptr};
    torch::nn::Sequential project_{nullptr};
    MViTPool poolQ_{nullptr}, poolK_{nullptr}, poolV_{nullptr};
    torch::Tensor relH_, relW_, relT_;
};
TORCH_MODULE(MViTAttention);

class MViTBlockImpl : public torch::nn::Module {
public:
    MViTBlockImpl(const Thw& inputSize, const MViTBlockConfig& c, double dropPath);
    std::pair<torch::Tensor, Thw> forward(const torch::Tensor& x, const Thw& thw);

private:
    torch::Tensor dropPath(const torch::Tensor& x) const;
    double dropPath_;
    torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
    MViTAttention attn_{nullptr};
    torch::nn::Sequential mlp_{nullptr};
    torch::nn::Linear project_{nullptr};
    MViTPool poolSkip_{nullptr};
};
TORCH_MODULE(MViTBlock);

class MViTImpl : public VideoEncoderImpl {
public:
    explicit MViTImpl(VideoEncoderOptions options);
    torch::Tensor forward(const torch::Tensor& x) override;
    /// The tokens entering the last block (Grad-CAM's layer, as pytorch-grad-cam takes a ViT's
    /// last block): patch tokens as (N, C, t, h, w) and the class token (N, C).
    VideoFeatureMap camFeatures(const torch::Tensor& x) override;
    torch::Tensor camHead(const VideoFeatureMap& features) override;
    std::string camLayer() const override { return "blocks." + std::to_string(blocks_.size() - 1); }
    std::int64_t featureDim() const override { return dim_; }
    const VideoEncoderOptions& options() const override { return options_; }
    std::string anchorKey() const override { return "conv_proj.weight"; }

private:
    /// Patch embedding + class token + blocks [0, end): tokens (N, 1 + t h w, C) and (t, h, w).
    std::pair<torch::Tensor, Thw> tokens(const torch::Tensor& x, std::size_t end);
    torch::Tensor finish(const torch::Tensor& tokens);

    VideoEncoderOptions options_;
    std::int64_t dim_ = 0;
    torch::nn::Conv3d convProj_{nullptr};
    torch::Tensor classToken_;
    std::vector<MViTBlock> blocks_;
    torch::nn::LayerNorm norm_{nullptr};
    torch::nn::Sequential head_{nullptr};
};
TORCH_MODULE(MViT);

}  // namespace lumen::nn
