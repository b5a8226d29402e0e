#include "nn/resnet3d.h"

#include <torch/torch.h>

#include <stdexcept>

namespace lumen::nn {

namespace {

void pushNorm(torch::nn::Sequential& s, std::int64_t channels, const std::string& norm) {
    if (norm == "batch") {
        s->push_back(torch::nn::BatchNorm3d(channels));
    } else if (norm == "group") {
        std::int64_t groups = std::min<std::int64_t>(8, channels);
        while (channels % groups != 0) --groups;
        s->push_back(torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels)));
    } else {
        throw std::invalid_argument("model.norm: unknown norm \"" + norm + "\" (known: group, batch)");
    }
}

torch::nn::Sequential makeNorm(std::int64_t channels, const std::string& norm) {
    torch::nn::Sequential s;
    pushNorm(s, channels, norm);
    return s;
}

torch::nn::Conv3d conv3(std::int64_t in, std::int64_t out, torch::ExpandingArray<3> stride) {
    return torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

std::string list(const std::vector<std::int64_t>& v) {
    std::string s;
    for (auto x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
    return "[" + s + "]";
}

}  // namespace

ResNet3dSpec resNet3dSpec(const ResNet3dOptions& o) {
    ResNet3dSpec s;
    if (o.variant == "small") {
        s = {{16, 32, 64}, {1, 1, 1}, {1, 2, 1}};
    } else if (o.variant == "r10") {
        s = {{64, 128, 256, 512}, {1, 1, 1, 1}, {1, 2, 2, 2}};
    } else if (o.variant == "r18") {
        s = {{64, 128, 256, 512}, {2, 2, 2, 2}, {1, 2, 2, 2}};
    } else {
        throw std::invalid_argument("model.variant: unknown 3-D ResNet \"" + o.variant + "\" (known: small, r10, r18)");
    }
    if (!o.widths.empty()) s.widths = o.widths;
    if (!o.depths.empty()) s.depths = o.depths;
    if (!o.strides.empty()) s.strides = o.strides;
    if (s.widths.size() != s.depths.size() || s.widths.size() != s.strides.size() || s.widths.empty())
        throw std::invalid_argument("model.widths / model.depths / model.strides must have the same length (got " +
                                    list(s.widths) + ", " + list(s.depths) + ", " + list(s.strides) + ")");
    for (std::size_t i = 0; i < s.widths.size(); ++i) {
        if (s.widths[i] < 1) throw std::invalid_argument("model.widths: " + list(s.widths) + " has a value < 1");
        if (s.depths[i] < 1) throw std::invalid_argument("model.depths: " + list(s.depths) + " has a value < 1");
        if (s.strides[i] < 1 || s.strides[i] > 2)
            throw std::invalid_argument("model.strides: " + list(s.strides) + " must hold 1 or 2");
    }
    return s;
}

BasicBlock3dImpl::BasicBlock3dImpl(std::int64_t in, std::int64_t out, std::int64_t stride, const std::string& norm) {
    conv1_ = register_module("conv1", conv3(in, out, stride));
    n1_ = register_module("n1", makeNorm(out, norm));
    conv2_ = register_module("conv2", conv3(out, out, 1));
    n2_ = register_module("n2", makeNorm(out, norm));
    if (stride != 1 || in != out) {
        torch::nn::Sequential d;
        d->push_back(torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 1).stride(stride).bias(false)));
        pushNorm(d, out, norm);
        down_ = register_module("down", d);
    }
}

torch::Tensor BasicBlock3dImpl::forward(const torch::Tensor& x) {
    auto y = torch::relu(n1_->forward(conv1_->forward(x)));
    y = n2_->forward(conv2_->forward(y));
    return torch::relu(y + (down_ ? down_->forward(x) : x));
}

ResNet3dImpl::ResNet3dImpl(ResNet3dOptions options) : options_(std::move(options)), spec_(resNet3dSpec(options_)) {
    features_ = register_module("features", std::make_shared<torch::nn::Module>("features"));
    classifier_ = register_module("classifier", std::make_shared<torch::nn::Module>("classifier"));
    const auto& s = spec_;
    stem_ = torch::nn::Sequential(torch::nn::Conv3d(
        torch::nn::Conv3dOptions(options_.inChannels, s.widths[0], 3)
            .stride(torch::ExpandingArray<3>({options_.stemStride[0], options_.stemStride[1], options_.stemStride[2]}))
            .padding(1)
            .bias(false)));
    pushNorm(stem_, s.widths[0], options_.norm);
    features_->register_module("stem", stem_);
    std::int64_t in = s.widths[0];
    for (std::size_t i = 0; i < s.widths.size(); ++i) {
        torch::nn::Sequential layer;
        for (std::int64_t b = 0; b < s.depths[i]; ++b) {
            layer->push_back(BasicBlock3d(in, s.widths[i], b == 0 ? s.strides[i] : 1, options_.norm));
            in = s.widths[i];
        }
        layers_.push_back(features_->register_module("layer" + std::to_string(i + 1), layer));
    }
    if (options_.pool != "avg" && options_.pool != "max" && options_.pool != "avgmax")
        throw std::invalid_argument("model.pool: unknown pooling \"" + options_.pool + "\" (known: avg, max, avgmax)");
    dropout_ = classifier_->register_module("dropout", torch::nn::Dropout(options_.dropout));
    fc_ = classifier_->register_module("fc",
                                       torch::nn::Linear(options_.pool == "avgmax" ? 2 * in : in, options_.numClasses));
    if (options_.init != "kaiming" && options_.init != "default")
        throw std::invalid_argument("model.init: unknown initialisation \"" + options_.init +
                                    "\" (known: kaiming, default)");
    // torchvision's ResNet initialisation: Kaiming (fan_out) convolutions, unit norms.
    const bool kaiming = options_.init == "kaiming";
    for (auto& m : modules(/*include_self=*/false)) {
        if (auto* c = m->as<torch::nn::Conv3d>(); c && kaiming) {
            torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
        } else if (auto* g = m->as<torch::nn::GroupNorm>()) {
            torch::nn::init::ones_(g->weight);
            torch::nn::init::zeros_(g->bias);
        } else if (auto* bn = m->as<torch::nn::BatchNorm3d>()) {
            torch::nn::init::ones_(bn->weight);
            torch::nn::init::zeros_(bn->bias);
        }
    }
}

int ResNet3dImpl::stageIndex(int stage) const {
    const int n = numStages();
    if (stage == -1) return n;
    if (stage < 1 || stage > n)
        throw std::invalid_argument("3-D ResNet: stage " + std::to_string(stage) + " out of range 1.." +
                                    std::to_string(n));
    return stage;
}

torch::Tensor ResNet3dImpl::forwardFeatures(const torch::Tensor& x, int stage) {
    const int last = stageIndex(stage);
    auto y = torch::relu(stem_->forward(x));
    for (int i = 0; i < last; ++i) y = layers_[std::size_t(i)]->forward(y);
    return y;
}

torch::Tensor ResNet3dImpl::forwardHead(const torch::Tensor& features, int stage) {
    auto y = features;
    for (int i = stageIndex(stage); i < numStages(); ++i) y = layers_[std::size_t(i)]->forward(y);
    if (options_.pool == "avg") y = y.mean({2, 3, 4});
    else if (options_.pool == "max") y = y.amax({2, 3, 4});
    else y = torch::cat({y.mean({2, 3, 4}), y.amax({2, 3, 4})}, 1);
    return fc_->forward(dropout_->forward(y));
}

torch::Tensor ResNet3dImpl::forward(const torch::Tensor& x) { return forwardHead(forwardFeatures(x)); }

torch::nn::Module& ResNet3dImpl::backbone() { return *features_; }
torch::nn::Module& ResNet3dImpl::head() { return *classifier_; }

std::array<std::int64_t, 3> ResNet3dImpl::featureStride(int stage) const {
    std::array<std::int64_t, 3> s = options_.stemStride;
    for (int i = 0; i < stageIndex(stage); ++i)
        for (auto& v : s) v *= spec_.strides[std::size_t(i)];
    return s;
}

}  // namespace lumen::nn
