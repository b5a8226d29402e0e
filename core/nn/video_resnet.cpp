#include "nn/video_resnet.h"

#include <torch/torch.h>

#include <stdexcept>

namespace lumen::nn {

namespace {

using torch::nn::BatchNorm3d;
using torch::nn::Conv3d;
using torch::nn::Conv3dOptions;
using torch::nn::ReLU;
using torch::nn::Sequential;
using E3 = torch::ExpandingArray<3>;

Conv3d conv(std::int64_t in, std::int64_t out, E3 kernel, E3 stride, E3 padding) {
    return Conv3d(Conv3dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

/// torchvision's Conv2Plus1D: a Sequential {0: Conv3d (1,3,3), 1: BN, 2: ReLU, 3: Conv3d (3,1,1)}.
/// LibTorch cannot hold a plain Sequential inside another, so it is a Sequential subclass with
/// a non-template forward.
class Conv2Plus1dImpl : public torch::nn::SequentialImpl {
public:
    Conv2Plus1dImpl(std::int64_t in, std::int64_t mid, std::int64_t out, std::int64_t stride) {
        push_back(conv(in, mid, {1, 3, 3}, {1, stride, stride}, {0, 1, 1}));
        push_back(BatchNorm3d(mid));
        push_back(ReLU());
        push_back(conv(mid, out, {3, 1, 1}, {stride, 1, 1}, {1, 0, 0}));
    }
    torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Conv2Plus1d);

bool temporalAt(const std::string& arch, int stage) { return arch != "mc3_18" || stage == 0; }

/// torchvision's conv builders: the convolution of a block (a Sequential for (2+1)D).
void pushConv(Sequential& s, const std::string& arch, int stage, std::int64_t in, std::int64_t out, std::int64_t mid,
              std::int64_t stride) {
    if (arch == "r2plus1d_18") {
        s->push_back(Conv2Plus1d(in, mid, out, stride));
    } else if (temporalAt(arch, stage)) {
        s->push_back(conv(in, out, {3, 3, 3}, {stride, stride, stride}, {1, 1, 1}));
    } else {
        s->push_back(conv(in, out, {1, 3, 3}, {1, stride, stride}, {0, 1, 1}));
    }
}

Sequential makeStem(const std::string& arch, std::int64_t in, std::int64_t width) {
    Sequential s;
    if (arch == "r2plus1d_18") {
        const std::int64_t mid = width == 64 ? 45 : std::max<std::int64_t>(1, width * 45 / 64);
        s->push_back(conv(in, mid, {1, 7, 7}, {1, 2, 2}, {0, 3, 3}));
        s->push_back(BatchNorm3d(mid));
        s->push_back(ReLU());
        s->push_back(conv(mid, width, {3, 1, 1}, {1, 1, 1}, {1, 0, 0}));
    } else {
        s->push_back(conv(in, width, {3, 7, 7}, {1, 2, 2}, {1, 3, 3}));
    }
    s->push_back(BatchNorm3d(width));
    s->push_back(ReLU());
    return s;
}

}  // namespace

std::int64_t r2plus1dMidplanes(std::int64_t in, std::int64_t out) { return (in * out * 27) / (in * 9 + 3 * out); }

VideoBasicBlockImpl::VideoBasicBlockImpl(const std::string& arch, int stage, std::int64_t in, std::int64_t out,
                                         std::int64_t stride) {
    const std::int64_t mid = r2plus1dMidplanes(in, out);
    Sequential c1;
    pushConv(c1, arch, stage, in, out, mid, stride);
    c1->push_back(BatchNorm3d(out));
    c1->push_back(ReLU());
    conv1_ = register_module("conv1", c1);
    Sequential c2;
    pushConv(c2, arch, stage, out, out, mid, 1);
    c2->push_back(BatchNorm3d(out));
    conv2_ = register_module("conv2", c2);
    if (stride != 1 || in != out) {
        const std::int64_t t = temporalAt(arch, stage) ? stride : 1;
        Sequential d;
        d->push_back(conv(in, out, {1, 1, 1}, {t, stride, stride}, {0, 0, 0}));
        d->push_back(BatchNorm3d(out));
        downsample_ = register_module("downsample", d);
    }
}

torch::Tensor VideoBasicBlockImpl::forward(const torch::Tensor& x) {
    auto y = conv2_->forward(conv1_->forward(x));
    return torch::relu(y + (downsample_ ? downsample_->forward(x) : x));
}

VideoResNetImpl::VideoResNetImpl(VideoResNetOptions options) : options_(std::move(options)) {
    const auto& arch = options_.arch;
    if (arch != "r3d_18" && arch != "mc3_18" && arch != "r2plus1d_18")
        throw std::invalid_argument("model.encoder: unknown video ResNet \"" + arch +
                                    "\" (known: r3d_18, mc3_18, r2plus1d_18)");
    if (options_.pool != "avg" && options_.pool != "max")
        throw std::invalid_argument("model.encoder_pool: \"" + options_.pool + "\" is neither avg nor max");
    widths_ = options_.widths.empty() ? std::vector<std::int64_t>{64, 128, 256, 512} : options_.widths;
    depths_ = options_.depths.empty() ? std::vector<std::int64_t>(widths_.size(), 2) : options_.depths;
    if (widths_.empty() || widths_.size() != depths_.size())
        throw std::invalid_argument("model.encoder_widths and model.encoder_depths must have the same length (got " +
                                    std::to_string(widths_.size()) + " and " + std::to_string(depths_.size()) + ")");
    for (std::size_t i = 0; i < widths_.size(); ++i)
        if (widths_[i] < 1 || depths_[i] < 1)
            throw std::invalid_argument("model.encoder_widths / encoder_depths: every value must be >= 1");
    stem_ = register_module("stem", makeStem(arch, options_.inChannels, widths_[0]));
    std::int64_t in = widths_[0];
    for (std::size_t i = 0; i < widths_.size(); ++i) {
        Sequential layer;
        for (std::int64_t b = 0; b < depths_[i]; ++b) {
            const std::int64_t stride = (i > 0 && b == 0) ? 2 : 1;
            layer->push_back(VideoBasicBlock(arch, static_cast<int>(i), in, widths_[i], stride));
            in = widths_[i];
        }
        layers_.push_back(register_module("layer" + std::to_string(i + 1), layer));
    }
    if (options_.numClasses > 0) fc_ = register_module("fc", torch::nn::Linear(in, options_.numClasses));
    // torchvision's initialisation: Kaiming fan-out convolutions, unit BN, N(0, 0.01) Linear.
    for (auto& m : modules(/*include_self=*/false)) {
        if (auto* c = m->as<torch::nn::Conv3d>()) {
            torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
        } else if (auto* bn = m->as<torch::nn::BatchNorm3d>()) {
            torch::nn::init::ones_(bn->weight);
            torch::nn::init::zeros_(bn->bias);
        } else if (auto* l = m->as<torch::nn::Linear>()) {
            torch::nn::init::normal_(l->weight, 0.0, 0.01);
            torch::nn::init::zeros_(l->bias);
        }
    }
}

torch::Tensor VideoResNetImpl::forwardFeatures(const torch::Tensor& x) {
    if (x.dim() != 5 || x.size(1) != options_.inChannels)
        throw std::invalid_argument("video encoder: expected (N, " + std::to_string(options_.inChannels) +
                                    ", T, H, W) input, got " + std::to_string(x.dim()) + " dimensions");
    auto y = stem_->forward(x);
    for (auto& layer : layers_) y = layer->forward(y);
    return y;
}

torch::Tensor VideoResNetImpl::forwardHead(const torch::Tensor& features) {
    auto y = options_.pool == "max" ? features.amax({2, 3, 4}) : features.mean({2, 3, 4});
    return fc_ ? fc_->forward(y) : y;
}

torch::Tensor VideoResNetImpl::forward(const torch::Tensor& x) { return forwardHead(forwardFeatures(x)); }

}  // namespace lumen::nn
