#include "nn/convnext.h"

#include "nn/layer_norm_bf16.h"
#include "nn/tensor_file.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>

namespace lumen::nn {
namespace {

/// A parameterless container, so that children get torchvision's Sequential indices as names.
std::shared_ptr<torch::nn::Module> container(torch::nn::Module& parent, const std::string& name) {
    return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

/// torchvision's init: trunc_normal_(std=0.02) on conv/linear weights (bounds +-2 are ~100
/// sigma away, so this is a plain normal), zero biases.
void initWeight(torch::Tensor& w, torch::Tensor& b) {
    torch::NoGradGuard noGrad;
    w.normal_(0.0, 0.02).clamp_(-2.0, 2.0);
    if (b.defined()) b.zero_();
}

/// Stochastic depth, "row" mode: drops whole samples of the residual branch.
torch::Tensor dropPath(const torch::Tensor& x, double p, bool training) {
    if (!training || p == 0.0) return x;
    const double survival = 1.0 - p;
    std::vector<std::int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
    shape[0] = x.size(0);
    torch::Tensor noise = torch::empty(shape, x.options()).bernoulli_(survival);
    if (survival > 0.0) noise.div_(survival);
    return x * noise;
}

std::atomic<bool> gFusedBf16LayerNorm{true};

}  // namespace

void setFusedBf16LayerNorm(bool on) { gFusedBf16LayerNorm = on; }
bool fusedBf16LayerNorm() { return gFusedBf16LayerNorm; }

ConvNeXtSpec convNeXtSpec(const std::string& variant) {
    if (variant == "atto") return {{40, 80, 160, 320}, {2, 2, 6, 2}};
    if (variant == "tiny") return {{96, 192, 384, 768}, {3, 3, 9, 3}};
    if (variant == "base") return {{128, 256, 512, 1024}, {3, 3, 27, 3}};
    throw std::invalid_argument("unknown ConvNeXt variant '" + variant + "' (known: atto, tiny, base)");
}

ChannelLayerNormImpl::ChannelLayerNormImpl(std::int64_t channels, bool channelsFirst, double eps)
    : channels_(channels), channelsFirst_(channelsFirst), eps_(eps) {
    weight = register_parameter("weight", torch::ones({channels}));
    bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor ChannelLayerNormImpl::forward(const torch::Tensor& x) {
    if (!channelsFirst_ && x.scalar_type() == torch::kBFloat16 && gFusedBf16LayerNorm)
        return layerNormBf16(x, weight, bias, eps_);
    torch::Tensor in = x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat);
    if (!channelsFirst_) return torch::layer_norm(in, {channels_}, weight, bias, eps_);
    torch::Tensor y = torch::layer_norm(in.permute({0, 2, 3, 1}), {channels_}, weight, bias, eps_);
    return y.permute({0, 3, 1, 2});
}

CNBlockImpl::CNBlockImpl(std::int64_t dim, double layerScaleInit, double dropPathProb) : dropPathProb_(dropPathProb) {
    auto block = container(*this, "block");
    dwconv_ = torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, 7).padding(3).groups(dim).bias(true));
    norm_ = ChannelLayerNorm(dim, false);
    pwconv1_ = torch::nn::Linear(dim, 4 * dim);
    pwconv2_ = torch::nn::Linear(4 * dim, dim);
    block->register_module("0", dwconv_);  // 1: Permute
    block->register_module("2", norm_);
    block->register_module("3", pwconv1_);  // 4: GELU
    block->register_module("5", pwconv2_);  // 6: Permute
    layer_scale = register_parameter("layer_scale", torch::full({dim, 1, 1}, layerScaleInit));
    initWeight(dwconv_->weight, dwconv_->bias);
    initWeight(pwconv1_->weight, pwconv1_->bias);
    initWeight(pwconv2_->weight, pwconv2_->bias);
}

torch::Tensor CNBlockImpl::forward(const torch::Tensor& x) {
    torch::Tensor y = dwconv_->forward(x).permute({0, 2, 3, 1});
    y = pwconv2_->forward(torch::gelu(pwconv1_->forward(norm_->forward(y))));
    y = layer_scale * y.permute({0, 3, 1, 2});
    return dropPath(y, dropPathProb_, is_training()) + x;
}

ConvNeXtImpl::ConvNeXtImpl(ConvNeXtOptions options)
    : options_(std::move(options)), spec_(convNeXtSpec(options_.variant)) {
    if (options_.numClasses < 1) throw std::invalid_argument("ConvNeXt: numClasses must be >= 1");
    if (options_.inChannels < 1) throw std::invalid_argument("ConvNeXt: inChannels must be >= 1");
    if (options_.dropPath < 0.0 || options_.dropPath >= 1.0)
        throw std::invalid_argument("ConvNeXt: dropPath must be in [0, 1)");
    features_ = container(*this, "features");
    auto stem = container(*features_, "0");
    stemConv_ = stem->register_module(
        "0", torch::nn::Conv2d(torch::nn::Conv2dOptions(options_.inChannels, spec_.dims[0], 4).stride(4).bias(true)));
    stemNorm_ = stem->register_module("1", ChannelLayerNorm(spec_.dims[0], true));
    initWeight(stemConv_->weight, stemConv_->bias);

    std::int64_t totalBlocks = 0;
    for (auto d : spec_.depths) totalBlocks += d;
    std::int64_t blockId = 0;
    int index = 1;
    for (std::size_t s = 0; s < 4; ++s) {
        auto stage = container(*features_, std::to_string(index++));
        std::vector<CNBlock> blocks;
        for (std::int64_t i = 0; i < spec_.depths[s]; ++i, ++blockId) {
            const double p =
                options_.dropPath * static_cast<double>(blockId) / (static_cast<double>(totalBlocks) - 1.0);
            blocks.push_back(
                stage->register_module(std::to_string(i), CNBlock(spec_.dims[s], options_.layerScaleInit, p)));
        }
        stages_.push_back(std::move(blocks));
        if (s < 3) {
            auto down = container(*features_, std::to_string(index++));
            downNorms_.push_back(down->register_module("0", ChannelLayerNorm(spec_.dims[s], true)));
            downConvs_.push_back(down->register_module(
                "1", torch::nn::Conv2d(torch::nn::Conv2dOptions(spec_.dims[s], spec_.dims[s + 1], 2).stride(2))));
            initWeight(downConvs_.back()->weight, downConvs_.back()->bias);
        }
    }
    classifier_ = container(*this, "classifier");
    headNorm_ = classifier_->register_module("0", ChannelLayerNorm(spec_.dims[3], true));  // 1: Flatten
    headLinear_ = classifier_->register_module("2", torch::nn::Linear(spec_.dims[3], options_.numClasses));
    initWeight(headLinear_->weight, headLinear_->bias);
}

torch::Tensor ConvNeXtImpl::forwardFeatures(const torch::Tensor& x) { return forwardFeaturesUntil(x, 7); }

torch::Tensor ConvNeXtImpl::forwardFeaturesUntil(const torch::Tensor& x, int lastIndex) {
    if (x.dim() != 4 || x.size(1) != options_.inChannels)
        throw std::invalid_argument("ConvNeXt: expected input (N, " + std::to_string(options_.inChannels) +
                                    ", H, W), got " + std::to_string(x.dim()) + "-D with " +
                                    std::to_string(x.dim() > 1 ? x.size(1) : 0) + " channels");
    if (lastIndex < 0 || lastIndex > 7)
        throw std::invalid_argument("ConvNeXt: no layer features." + std::to_string(lastIndex) + " (0..7)");
    torch::Tensor y = stemNorm_->forward(stemConv_->forward(x));
    return runFeatures(y, 0, lastIndex);
}

torch::Tensor ConvNeXtImpl::forwardFrom(const torch::Tensor& y, int lastIndexDone) {
    if (lastIndexDone < 0 || lastIndexDone > 7)
        throw std::invalid_argument("ConvNeXt: no layer features." + std::to_string(lastIndexDone) + " (0..7)");
    return forwardHead(runFeatures(y, lastIndexDone, 7));
}

/// features.(from+1) .. features.(to): stage s is index 2s+1, its downsampling 2s+2.
torch::Tensor ConvNeXtImpl::runFeatures(const torch::Tensor& x, int from, int to) {
    torch::Tensor y = x;
    for (int index = from + 1; index <= to; ++index) {
        const auto s = static_cast<std::size_t>((index - 1) / 2);
        if (index % 2 == 1)
            for (auto& block : stages_[s]) y = block->forward(y);
        else y = downConvs_[s]->forward(downNorms_[s]->forward(y));
    }
    return y;
}

torch::Tensor ConvNeXtImpl::forwardHead(const torch::Tensor& features) {
    torch::Tensor pooled = torch::adaptive_avg_pool2d(features, {1, 1});
    return headLinear_->forward(headNorm_->forward(pooled).flatten(1));
}

torch::Tensor ConvNeXtImpl::forward(const torch::Tensor& x) { return forwardHead(forwardFeatures(x)); }

torch::nn::Module& ConvNeXtImpl::backbone() { return *features_; }
torch::nn::Module& ConvNeXtImpl::head() { return *classifier_; }

void loadPretrained(ConvNeXt& model, const std::filesystem::path& path) {
    TensorMap file = readTensorFile(path);
    // Find where the ConvNeXt lives inside the file (plain state dict, checkpoint, DataParallel).
    const std::string probe = "features.0.0.weight";
    std::string prefix;
    bool found = false;
    for (const std::string p : {"", "module.", "model.", "model.module.", "state_dict.", "state_dict.module.",
                                "backbone.", "model.backbone.", "classifier."}) {
        if (file.count(p + probe)) {
            prefix = p;
            found = true;
            break;
        }
    }
    if (!found) {
        for (const auto& [name, t] : file) {
            const auto at = name.rfind(probe);
            if (at != std::string::npos && at + probe.size() == name.size()) {
                prefix = name.substr(0, at);
                found = true;
                break;
            }
        }
    }
    if (!found) {
        std::string some;
        int n = 0;
        for (auto it = file.begin(); it != file.end() && n < 10; ++it, ++n) some += "\n    " + it->first;
        throw std::runtime_error(path.string() + ": no ConvNeXt weights found (no key ending in '" + probe +
                                 "'); the file's first keys are:" + some);
    }
    TensorMap weights;
    for (auto& [name, t] : file)
        if (name.compare(0, prefix.size(), prefix) == 0) weights[name.substr(prefix.size())] = t;

    std::vector<std::string> skip;
    const auto head = weights.find("classifier.2.weight");
    if (head != weights.end() && head->second.dim() == 2 && head->second.size(0) != model->options().numClasses) {
        // Different label set (e.g. ImageNet's 1000 classes): keep our freshly initialised head.
        skip = {"classifier.2.weight", "classifier.2.bias"};
    }
    loadStateDict(*model, weights, path.string() + " (ConvNeXt-" + model->options().variant + ")", skip);
}

void toChannelsLast(torch::nn::Module& module) {
    torch::NoGradGuard noGrad;
    for (auto& p : module.parameters(true))
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

}  // namespace lumen::nn
