#include "nn/mvit.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lumen::nn {

namespace {

namespace F = torch::nn::functional;
using torch::indexing::None;
using torch::indexing::Slice;

std::int64_t product(const Thw& v) { return v[0] * v[1] * v[2]; }
Thw halfOf(const Thw& k) { return {k[0] / 2, k[1] / 2, k[2] / 2}; }
torch::ExpandingArray<3> e3(const Thw& v) { return torch::ExpandingArray<3>({v[0], v[1], v[2]}); }

torch::nn::LayerNorm layerNorm(std::int64_t dim) {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6));
}

/// A depthwise pooling convolution per head channel (torchvision's pool_q / pool_k / pool_v).
MViTPool convPool(std::int64_t headDim, const Thw& kernel, const Thw& stride) {
    torch::nn::Conv3d conv(torch::nn::Conv3dOptions(headDim, headDim, e3(kernel))
                               .stride(e3(stride))
                               .padding(e3(halfOf(kernel)))
                               .groups(headDim)
                               .bias(false));
    return MViTPool(torch::nn::AnyModule(conv), headDim);
}

/// A relative position table resized to `d` rows (linear interpolation, as torchvision).
torch::Tensor resized(const torch::Tensor& table, std::int64_t d) {
    if (table.size(0) == d) return table;
    return F::interpolate(
               table.permute({1, 0}).unsqueeze(0),
               F::InterpolateFuncOptions().size(std::vector<std::int64_t>{d}).mode(torch::kLinear).align_corners(false))
        .squeeze(0)
        .permute({1, 0});
}

/// Row index into a table for every (query, key) pair along one axis (torchvision's dist_*).
torch::Tensor distances(std::int64_t q, std::int64_t k) {
    const double qRatio = std::max(double(k) / double(q), 1.0), kRatio = std::max(double(q) / double(k), 1.0);
    std::vector<std::int64_t> d(std::size_t(q * k));
    for (std::int64_t i = 0; i < q; ++i)
        for (std::int64_t j = 0; j < k; ++j)
            d[std::size_t(i * k + j)] = std::int64_t(double(i) * qRatio - (double(j) + (1.0 - double(k))) * kRatio);
    return torch::tensor(d, torch::kLong).view({q, k});
}

/// MViT v2's decomposed relative positions: q's bias towards each key by (t, h, w) offset, for
/// the patch-to-patch part of the attention logits (the class token's row and column get none),
/// as (b, heads, patches of q, patches of k).
torch::Tensor relativePositions(const torch::Tensor& q, const Thw& qThw, const Thw& kThw, const torch::Tensor& relH,
                                const torch::Tensor& relW, const torch::Tensor& relT) {
    const auto [qt, qh, qw] = qThw;
    const auto [kt, kh, kw] = kThw;
    const auto rh = resized(relH, 2 * std::max(qh, kh) - 1).index({distances(qh, kh)});  // (qh, kh, c)
    const auto rw = resized(relW, 2 * std::max(qw, kw) - 1).index({distances(qw, kw)});
    const auto rt = resized(relT, 2 * std::max(qt, kt) - 1).index({distances(qt, kt)});
    const auto b = q.size(0), heads = q.size(1), c = q.size(3);
    const auto r = q.index({Slice(), Slice(), Slice(1, None)}).reshape({b, heads, qt, qh, qw, c});
    const auto byH = torch::einsum("bythwc,hkc->bythwk", {r, rh});  // (b, heads, qt, qh, qw, kh)
    const auto byW = torch::einsum("bythwc,wkc->bythwk", {r, rw});
    const auto byT = torch::einsum("bythwc,tkc->bythwk", {r, rt});
    const auto all = byH.view({b, heads, qt, qh, qw, 1, kh, 1}) + byW.view({b, heads, qt, qh, qw, 1, 1, kw}) +
                     byT.view({b, heads, qt, qh, qw, kt, 1, 1});
    return all.reshape({b, heads, qt * qh * qw, kt * kh * kw});
}

}  // namespace

std::vector<MViTBlockConfig> mvitV2SmallBlocks() {
    const std::vector<std::int64_t> heads{1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8};
    const std::vector<std::int64_t> in{96, 96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768};
    const std::vector<std::int64_t> out{96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768};
    std::vector<MViTBlockConfig> blocks;
    for (std::size_t i = 0; i < heads.size(); ++i) {
        const bool downsample = i == 1 || i == 3 || i == 14;
        const Thw strideKv = i == 0 ? Thw{1, 8, 8} : i < 3 ? Thw{1, 4, 4} : i < 14 ? Thw{1, 2, 2} : Thw{1, 1, 1};
        blocks.push_back(
            {heads[i], in[i], out[i], {3, 3, 3}, {3, 3, 3}, downsample ? Thw{1, 2, 2} : Thw{1, 1, 1}, strideKv});
    }
    return blocks;
}

MViTPoolImpl::MViTPoolImpl(torch::nn::AnyModule pool, std::optional<std::int64_t> normDim) : pool_(std::move(pool)) {
    register_module("pool", pool_.ptr());
    if (normDim) {
        normAct_ = torch::nn::Sequential(layerNorm(*normDim));
        register_module("norm_act", normAct_);
    }
}

std::pair<torch::Tensor, Thw> MViTPoolImpl::forward(const torch::Tensor& x, const Thw& thw) {
    const bool threeD = x.dim() == 3;
    const auto in = threeD ? x.unsqueeze(1) : x;  // (B, N, 1 + thw, C)
    const auto token = in.index({Slice(), Slice(), Slice(0, 1)});
    const auto b = in.size(0), n = in.size(1), c = in.size(3);
    auto patches =
        in.index({Slice(), Slice(), Slice(1, None)}).transpose(2, 3).reshape({b * n, c, thw[0], thw[1], thw[2]});
    patches = pool_.forward(patches.contiguous());
    const Thw pooled{patches.size(2), patches.size(3), patches.size(4)};
    auto y = torch::cat({token, patches.reshape({b, n, c, -1}).transpose(2, 3)}, 2);
    if (normAct_) y = normAct_->forward(y);
    return {threeD ? y.squeeze(1) : y, pooled};
}

MViTAttentionImpl::MViTAttentionImpl(const Thw& inputSize, const MViTBlockConfig& c, std::int64_t outDim)
    : heads_(c.heads), headDim_(outDim / c.heads), outDim_(outDim) {
    qkv_ = register_module("qkv", torch::nn::Linear(c.in, 3 * outDim));
    project_ = register_module("project", torch::nn::Sequential(torch::nn::Linear(outDim, outDim)));
    if (product(c.kernelQ) > 1 || product(c.strideQ) > 1)
        poolQ_ = register_module("pool_q", convPool(headDim_, c.kernelQ, c.strideQ));
    if (product(c.kernelKv) > 1 || product(c.strideKv) > 1) {
        poolK_ = register_module("pool_k", convPool(headDim_, c.kernelKv, c.strideKv));
        poolV_ = register_module("pool_v", convPool(headDim_, c.kernelKv, c.strideKv));
    }
    const auto size = std::max(inputSize[1], inputSize[2]);
    const auto spatial = 2 * std::max(size / c.strideQ[1], size / c.strideKv[1]) - 1;
    const auto temporal = 2 * inputSize[0] - 1;
    relH_ = register_parameter("rel_pos_h", torch::randn({spatial, headDim_}) * 0.02);
    relW_ = register_parameter("rel_pos_w", torch::randn({spatial, headDim_}) * 0.02);
    relT_ = register_parameter("rel_pos_t", torch::randn({temporal, headDim_}) * 0.02);
}

std::pair<torch::Tensor, Thw> MViTAttentionImpl::forward(const torch::Tensor& x, const Thw& thw) {
    const auto b = x.size(0), n = x.size(1);
    const auto qkv = qkv_->forward(x).reshape({b, n, 3, heads_, headDim_}).transpose(1, 3).unbind(2);
    auto q = qkv[0], k = qkv[1], v = qkv[2];  // (B, heads, N, head dim)
    Thw kThw = thw, qThw = thw;
    if (poolK_) std::tie(k, kThw) = poolK_->forward(k, thw);
    if (poolV_) v = poolV_->forward(v, thw).first;
    if (poolQ_) std::tie(q, qThw) = poolQ_->forward(q, thw);
    // The position bias and the residual are added in place to the patch rows/columns only:
    // torchvision pads them with zeros for the class token and adds whole tensors, which costs
    // a zero-filled copy and a new tensor of the (queries x keys) logits per block. x + 0 = x,
    // so the results are the same bits (test_mvit).
    auto attn = torch::matmul(q * (1.0 / std::sqrt(double(headDim_))), k.transpose(2, 3));
    attn.index({Slice(), Slice(), Slice(1, None), Slice(1, None)}) +=
        relativePositions(q, qThw, kThw, relH_, relW_, relT_);
    auto y = torch::matmul(attn.softmax(-1), v);
    // Residual pooling: the pooled query added to the patch tokens' output (not the class token's).
    y.index({Slice(), Slice(), Slice(1, None)}) += q.index({Slice(), Slice(), Slice(1, None)});
    return {project_->forward(y.transpose(1, 2).reshape({b, -1, outDim_})), qThw};
}

MViTBlockImpl::MViTBlockImpl(const Thw& inputSize, const MViTBlockConfig& c, double dropPath) : dropPath_(dropPath) {
    // v2 projects after the attention: the attention and the MLP work at the output width.
    norm1_ = register_module("norm1", layerNorm(c.in));
    norm2_ = register_module("norm2", layerNorm(c.out));
    attn_ = register_module("attn", MViTAttention(inputSize, c, c.out));
    mlp_ = register_module(
        "mlp", torch::nn::Sequential(torch::nn::Linear(c.out, 4 * c.out), torch::nn::GELU(), torch::nn::Dropout(0.0),
                                     torch::nn::Linear(4 * c.out, c.out), torch::nn::Dropout(0.0)));
    if (c.in != c.out) project_ = register_module("project", torch::nn::Linear(c.in, c.out));
    if (product(c.strideQ) > 1) {
        Thw kernel = c.strideQ;
        for (auto& k : kernel) k = k > 1 ? k + 1 : k;
        poolSkip_ = register_module(
            "pool_skip",
            MViTPool(torch::nn::AnyModule(torch::nn::MaxPool3d(
                         torch::nn::MaxPool3dOptions(e3(kernel)).stride(e3(c.strideQ)).padding(e3(halfOf(kernel))))),
                     std::nullopt));
    }
}

torch::Tensor MViTBlockImpl::dropPath(const torch::Tensor& x) const {
    if (!is_training() || dropPath_ <= 0.0) return x;
    const double keep = 1.0 - dropPath_;  // one draw per sample ("row" mode), survivors scaled up
    const auto mask = torch::empty({x.size(0), 1, 1}, x.options()).bernoulli_(keep);
    return x * mask / keep;
}

std::pair<torch::Tensor, Thw> MViTBlockImpl::forward(const torch::Tensor& x, const Thw& thw) {
    const auto xNorm1 = norm1_->forward(x);
    auto [xAttn, thwNew] = attn_->forward(xNorm1, thw);
    const auto widened = project_ ? project_->forward(xNorm1) : x;
    const auto skip = poolSkip_ ? poolSkip_->forward(widened, thw).first : widened;
    const auto y = skip + dropPath(xAttn);
    return {y + dropPath(mlp_->forward(norm2_->forward(y))), thwNew};
}

MViTImpl::MViTImpl(VideoEncoderOptions options) : options_(std::move(options)) {
    if (options_.arch != "mvit_v2_s")
        throw std::invalid_argument("model.encoder: unknown MViT \"" + options_.arch + "\" (known: mvit_v2_s)");
    if (!options_.widths.empty() || !options_.depths.empty())
        throw std::invalid_argument("model.encoder_widths / encoder_depths apply to the video ResNets, not mvit_v2_s");
    if (options_.frames < 2 || options_.resolution < 32)
        throw std::invalid_argument("mvit_v2_s: needs at least 2 frames at 32² (got " +
                                    std::to_string(options_.frames) + " at " + std::to_string(options_.resolution) +
                                    "²)");
    const auto blocks = mvitV2SmallBlocks();
    convProj_ = register_module("conv_proj",
                                torch::nn::Conv3d(torch::nn::Conv3dOptions(options_.inChannels, blocks[0].in, {3, 7, 7})
                                                      .stride({2, 4, 4})
                                                      .padding({1, 3, 3})));
    auto positions = register_module("pos_encoding", std::make_shared<torch::nn::Module>());
    classToken_ = positions->register_parameter("class_token", torch::randn({blocks[0].in}) * 0.02);
    Thw size{options_.frames / 2, options_.resolution / 4, options_.resolution / 4};
    auto list = register_module("blocks", torch::nn::ModuleList());
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        const double drop = options_.stochasticDepth * double(i) / double(blocks.size() - 1);
        blocks_.push_back(MViTBlock(size, blocks[i], drop));
        list->push_back(blocks_.back());
        for (int d = 0; d < 3; ++d) size[std::size_t(d)] /= blocks[i].strideQ[std::size_t(d)];
    }
    dim_ = blocks.back().out;
    norm_ = register_module("norm", layerNorm(dim_));
    if (options_.numClasses > 0)
        head_ = register_module(
            "head", torch::nn::Sequential(torch::nn::Dropout(0.5), torch::nn::Linear(dim_, options_.numClasses)));
    // torchvision's initialisation: Linear N(0, 0.02) (truncated at ±2, never reached), bias 0.
    for (auto& m : modules(/*include_self=*/false))
        if (auto* l = m->as<torch::nn::Linear>()) {
            torch::NoGradGuard noGrad;
            l->weight.normal_(0.0, 0.02);
            l->bias.zero_();
        }
}

std::pair<torch::Tensor, Thw> MViTImpl::tokens(const torch::Tensor& x, std::size_t end) {
    if (x.dim() != 5 || x.size(1) != options_.inChannels)
        throw std::invalid_argument("video encoder: expected (N, " + std::to_string(options_.inChannels) +
                                    ", T, H, W) input, got " + std::to_string(x.dim()) + " dimensions");
    const auto patches = convProj_->forward(x);
    Thw thw{patches.size(2), patches.size(3), patches.size(4)};
    auto y = torch::cat({classToken_.expand({x.size(0), 1, -1}), patches.flatten(2).transpose(1, 2)}, 1);
    for (std::size_t i = 0; i < end; ++i) std::tie(y, thw) = blocks_[i]->forward(y, thw);
    return {y, thw};
}

torch::Tensor MViTImpl::finish(const torch::Tensor& tokens) {
    const auto cls = norm_->forward(tokens).select(1, 0);
    return head_ ? head_->forward(cls) : cls;
}

torch::Tensor MViTImpl::forward(const torch::Tensor& x) { return finish(tokens(x, blocks_.size()).first); }

VideoFeatureMap MViTImpl::camFeatures(const torch::Tensor& x) {
    const auto [y, thw] = tokens(x, blocks_.size() - 1);
    const auto map =
        y.index({Slice(), Slice(1, None)}).transpose(1, 2).reshape({y.size(0), y.size(2), thw[0], thw[1], thw[2]});
    return {map, y.select(1, 0)};
}

torch::Tensor MViTImpl::camHead(const VideoFeatureMap& f) {
    if (!f.token.defined()) throw std::invalid_argument("mvit_v2_s: camHead needs the class token");
    const Thw thw{f.map.size(2), f.map.size(3), f.map.size(4)};
    const auto y = torch::cat({f.token.unsqueeze(1), f.map.flatten(2).transpose(1, 2)}, 1);
    return finish(blocks_.back()->forward(y, thw).first);
}

}  // namespace lumen::nn
