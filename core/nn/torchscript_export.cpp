#include "nn/torchscript_export.h"

#include "util/atomic_file.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <stdexcept>

namespace lumen::nn {
namespace {

/// Mirrors a torch::nn::Module tree as TorchScript modules: same child names, parameters and
/// buffers (copied, detached), so the exported file's state dict has our (torchvision's) names.
torch::jit::Module mirror(const torch::nn::Module& module, const std::string& className,
                          const std::shared_ptr<torch::jit::CompilationUnit>& cu) {
    torch::jit::Module out(c10::QualifiedName("__torch__.lumen." + className), cu, /*shouldMangle=*/true);
    for (const auto& p : module.named_parameters(false))
        out.register_parameter(p.key(), p.value().detach().clone(), false);
    for (const auto& b : module.named_buffers(false)) out.register_buffer(b.key(), b.value().detach().clone());
    for (const auto& c : module.named_children()) {
        std::string childClass = className + "_" + c.key();
        out.register_module(c.key(), mirror(*c.value(), childClass, cu));
    }
    return out;
}

/// TorchScript expression for a dotted module path: "features.1.0" ->
/// getattr(getattr(self.features, "1"), "0").
std::string at(const std::string& path) {
    std::string expr = "self";
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '.')) {
        if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0])))
            expr = "getattr(" + expr + ", \"" + part + "\")";
        else expr += "." + part;
    }
    return expr;
}

const char* kHelpers = R"TS(
def _ln2d(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    y = torch.layer_norm(x.float().permute(0, 2, 3, 1), [w.size(0)], w, b, 1e-6)
    return y.permute(0, 3, 1, 2)

def _block(self, x: Tensor, ls: Tensor, dw_w: Tensor, dw_b: Tensor, ln_w: Tensor, ln_b: Tensor,
           w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    y = torch.conv2d(x, dw_w, dw_b, [1, 1], [3, 3], [1, 1], dw_w.size(0)).permute(0, 2, 3, 1)
    y = torch.layer_norm(y.float(), [ln_w.size(0)], ln_w, ln_b, 1e-6)
    y = torch.linear(torch.gelu(torch.linear(y, w1, b1)), w2, b2)
    return ls * y.permute(0, 3, 1, 2) + x
)TS";

/// The statements of features.`index` (a stage's blocks or a downsampling), indented by `pad`.
std::string featureStep(const ConvNeXtSpec& spec, const std::string& root, int index, const std::string& pad) {
    std::ostringstream s;
    const std::string name = root + "features." + std::to_string(index);
    if (index % 2 == 1) {
        const auto st = static_cast<std::size_t>((index - 1) / 2);
        for (std::int64_t i = 0; i < spec.depths[st]; ++i) {
            const std::string b = name + "." + std::to_string(i);
            const std::string blk = b + ".block";
            s << pad << "x = self._block(x, " << at(b) << ".layer_scale, " << at(blk + ".0") << ".weight, "
              << at(blk + ".0") << ".bias, " << at(blk + ".2") << ".weight, " << at(blk + ".2") << ".bias, "
              << at(blk + ".3") << ".weight, " << at(blk + ".3") << ".bias, " << at(blk + ".5") << ".weight, "
              << at(blk + ".5") << ".bias)\n";
        }
    } else {
        s << pad << "x = self._ln2d(x, " << at(name + ".0") << ".weight, " << at(name + ".0") << ".bias)\n";
        s << pad << "x = torch.conv2d(x, " << at(name + ".1") << ".weight, " << at(name + ".1") << ".bias, [2, 2])\n";
    }
    return s.str();
}

/// forward_until(x, last) -> the output of features.`last`; forward_from(f, done) -> logits
/// from the output of features.`done`: the split points Grad-CAM uses for layers features.N.
std::string stageSplitSource(const ConvNeXtImpl& model, const std::string& root, const std::string& suffix) {
    const ConvNeXtSpec spec = convNeXtSpec(model.options().variant);
    std::ostringstream s;
    const std::string stem = root + "features.0";
    s << "\ndef forward_until" << suffix << "(self, x: Tensor, last: int) -> Tensor:\n";
    s << "    x = torch.conv2d(x, " << at(stem + ".0") << ".weight, " << at(stem + ".0") << ".bias, [4, 4])\n";
    s << "    x = self._ln2d(x, " << at(stem + ".1") << ".weight, " << at(stem + ".1") << ".bias)\n";
    for (int index = 1; index <= 7; ++index) {
        s << "    if last >= " << index << ":\n";
        s << featureStep(spec, root, index, "        ");
    }
    s << "    return x\n";
    s << "\ndef forward_from" << suffix << "(self, x: Tensor, done: int) -> Tensor:\n";
    for (int index = 1; index <= 7; ++index) {
        s << "    if done < " << index << ":\n";
        s << featureStep(spec, root, index, "        ");
    }
    s << "    return self.forward_head" << suffix << "(x)\n";
    return s.str();
}

/// Methods forward_features / forward_head / forward of a ConvNeXt living at `root` ("" or
/// "classifier."), named with `suffix` ("" or "_classifier").
std::string convnextSource(const ConvNeXtImpl& model, const std::string& root, const std::string& suffix) {
    const ConvNeXtSpec spec = convNeXtSpec(model.options().variant);
    std::ostringstream s;
    s << "\ndef forward_features" << suffix << "(self, x: Tensor) -> Tensor:\n";
    const std::string stem = root + "features.0";
    s << "    x = torch.conv2d(x, " << at(stem + ".0") << ".weight, " << at(stem + ".0") << ".bias, [4, 4])\n";
    s << "    x = self._ln2d(x, " << at(stem + ".1") << ".weight, " << at(stem + ".1") << ".bias)\n";
    int index = 1;
    for (std::size_t st = 0; st < 4; ++st) {
        const std::string stage = root + "features." + std::to_string(index++);
        for (std::int64_t i = 0; i < spec.depths[st]; ++i) {
            const std::string b = stage + "." + std::to_string(i);
            const std::string blk = b + ".block";
            s << "    x = self._block(x, " << at(b) << ".layer_scale, " << at(blk + ".0") << ".weight, "
              << at(blk + ".0") << ".bias, " << at(blk + ".2") << ".weight, " << at(blk + ".2") << ".bias, "
              << at(blk + ".3") << ".weight, " << at(blk + ".3") << ".bias, " << at(blk + ".5") << ".weight, "
              << at(blk + ".5") << ".bias)\n";
        }
        if (st < 3) {
            const std::string down = root + "features." + std::to_string(index++);
            s << "    x = self._ln2d(x, " << at(down + ".0") << ".weight, " << at(down + ".0") << ".bias)\n";
            s << "    x = torch.conv2d(x, " << at(down + ".1") << ".weight, " << at(down + ".1") << ".bias, [2, 2])\n";
        }
    }
    s << "    return x\n";
    s << stageSplitSource(model, root, suffix);
    const std::string head = root + "classifier";
    s << "\ndef forward_head" << suffix << "(self, x: Tensor) -> Tensor:\n";
    s << "    x = self._ln2d(torch.adaptive_avg_pool2d(x, [1, 1]), " << at(head + ".0") << ".weight, "
      << at(head + ".0") << ".bias).flatten(1)\n";
    s << "    return torch.linear(x, " << at(head + ".2") << ".weight, " << at(head + ".2") << ".bias)\n";
    return s.str();
}

void save(torch::jit::Module& module, const std::string& source, const std::filesystem::path& path) {
    try {
        module.define(source);
        module.eval();
        std::ostringstream bytes;
        module.save(bytes);
        util::writeFileAtomically(path, bytes.view());
    } catch (const c10::Error& e) {
        throw std::runtime_error(path.string() + ": TorchScript export failed: " + e.what_without_backtrace());
    }
}

}  // namespace

namespace {

/// "[a, b, c]"
std::string triple(const std::array<std::int64_t, 3>& v) {
    return "[" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " + std::to_string(v[2]) + "]";
}

/// TorchScript for the 3-D ResNet's inference forward, walking the module tree built by
/// ResNet3dImpl (features.stem.{0,1}, features.layerN.B.{conv1, n1.0, conv2, n2.0, down.{0,1}},
/// classifier.fc).
std::string resnet3dSource(ResNet3dImpl& model) {
    std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
    for (const auto& m : model.named_modules("", false)) modules[m.key()] = m.value();
    const auto norm = [&](const std::string& path, const std::string& x) {
        const auto it = modules.find(path);
        if (it == modules.end()) throw std::runtime_error("3-D ResNet export: no module " + path);
        if (auto* g = it->second->as<torch::nn::GroupNorm>())
            return "torch.group_norm(" + x + ", " + std::to_string(g->options.num_groups()) + ", " + at(path) +
                   ".weight, " + at(path) + ".bias, " + std::to_string(g->options.eps()) + ", False)";
        if (auto* b = it->second->as<torch::nn::BatchNorm3d>())
            return "torch.batch_norm(" + x + ", " + at(path) + ".weight, " + at(path) + ".bias, " + at(path) +
                   ".running_mean, " + at(path) + ".running_var, False, 0.0, " + std::to_string(b->options.eps()) +
                   ", False)";
        throw std::runtime_error("3-D ResNet export: " + path + " is not a GroupNorm or BatchNorm3d");
    };
    const auto conv = [&](const std::string& path, const std::string& x, std::int64_t stride, int pad) {
        const std::string p = std::to_string(pad);
        return "torch.conv3d(" + x + ", " + at(path) + ".weight, None, " + triple({stride, stride, stride}) + ", [" +
               p + ", " + p + ", " + p + "])";
    };
    const auto& o = model.options();
    const auto& spec = model.spec();
    std::ostringstream s;
    s << "\ndef forward_features(self, x: Tensor) -> Tensor:\n";
    s << "    x = torch.relu("
      << norm("features.stem.1",
              "torch.conv3d(x, " + at("features.stem.0") + ".weight, None, " + triple(o.stemStride) + ", [1, 1, 1])")
      << ")\n";
    for (std::size_t i = 0; i < spec.widths.size(); ++i)
        for (std::int64_t b = 0; b < spec.depths[i]; ++b) {
            const std::string blk = "features.layer" + std::to_string(i + 1) + "." + std::to_string(b);
            const std::int64_t stride = b == 0 ? spec.strides[i] : 1;
            s << "    y = torch.relu(" << norm(blk + ".n1.0", conv(blk + ".conv1", "x", stride, 1)) << ")\n";
            s << "    y = " << norm(blk + ".n2.0", conv(blk + ".conv2", "y", 1, 1)) << "\n";
            if (modules.count(blk + ".down"))
                s << "    x = torch.relu(y + " << norm(blk + ".down.1", conv(blk + ".down.0", "x", stride, 0)) << ")\n";
            else s << "    x = torch.relu(y + x)\n";
        }
    s << "    return x\n";
    s << "\ndef forward_head(self, x: Tensor) -> Tensor:\n";
    if (o.pool == "avg") s << "    p = x.mean([2, 3, 4])\n";
    else if (o.pool == "max") s << "    p = x.amax([2, 3, 4])\n";
    else s << "    p = torch.cat([x.mean([2, 3, 4]), x.amax([2, 3, 4])], 1)\n";
    s << "    return torch.linear(p, self.classifier.fc.weight, self.classifier.fc.bias)\n";
    s << "\ndef forward(self, x: Tensor) -> Tensor:\n    return self.forward_head(self.forward_features(x))\n";
    return s.str();
}

}  // namespace

void exportTorchScript(ConvNeXt& model, const std::filesystem::path& path) {
    auto cu = std::make_shared<torch::jit::CompilationUnit>();
    torch::jit::Module module = mirror(*model, "ConvNeXt", cu);
    std::string source = kHelpers + convnextSource(*model, "", "");
    source += "\ndef forward(self, x: Tensor) -> Tensor:\n    return self.forward_head(self.forward_features(x))\n";
    save(module, source, path);
}

void exportTorchScript(ResNet3d& model, const std::filesystem::path& path) {
    auto cu = std::make_shared<torch::jit::CompilationUnit>();
    torch::jit::Module module = mirror(*model, "ResNet3d", cu);
    std::string source;
    try {
        source = resnet3dSource(*model);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(path.string() + ": TorchScript export failed: " + e.what());
    }
    save(module, source, path);
}

void exportTorchScript(RoiConsistencyModel& model, const std::filesystem::path& path) {
    auto cu = std::make_shared<torch::jit::CompilationUnit>();
    torch::jit::Module module = mirror(*model, "RoiConsistencyModel", cu);
    char ratio[64];
    std::snprintf(ratio, sizeof ratio, "%.17g", model->keepRatio());
    std::string source = kHelpers + convnextSource(*model->classifier(), "classifier.", "_classifier");
    source += R"TS(
def classify(self, x: Tensor) -> Tensor:
    return self.forward_head_classifier(self.forward_features_classifier(x))

def soft_mask(self, x: Tensor) -> Tensor:
)TS";
    source += "    y = torch.relu(torch.conv2d(x, " + at("maskNet.net.0") + ".weight, " + at("maskNet.net.0") +
              ".bias, [1, 1], [1, 1]))\n";
    source += "    y = torch.relu(torch.conv2d(y, " + at("maskNet.net.2") + ".weight, " + at("maskNet.net.2") +
              ".bias, [1, 1], [1, 1]))\n";
    source += "    return torch.sigmoid(torch.conv2d(y, " + at("maskNet.net.4") + ".weight, " + at("maskNet.net.4") +
              ".bias))\n";
    source += R"TS(
def topk_mask(self, soft: Tensor) -> Tensor:
    n = soft.size(0)
    flat = soft.reshape(n, -1).float()
    pixels = flat.size(1)
    k = min(max(1, int()TS" +
              std::string(ratio) + R"TS( * float(pixels))), pixels)
    order = torch.sort(flat, dim=1, descending=True, stable=True)[1]
    mask = torch.zeros_like(flat).scatter_(1, order.narrow(1, 0, k), 1.0)
    return mask.view(soft.size())

def predict(self, images: Tensor) -> Tensor:
    return self.classify(images)

def forward_features(self, images: Tensor) -> Tensor:
    return self.forward_features_classifier(images)

def forward_head(self, features: Tensor) -> Tensor:
    return self.forward_head_classifier(features)

def forward_until(self, images: Tensor, last: int) -> Tensor:
    return self.forward_until_classifier(images, last)

def forward_from(self, features: Tensor, done: int) -> Tensor:
    return self.forward_from_classifier(features, done)

def forward(self, images: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    soft = self.soft_mask(images)
    hard = self.topk_mask(soft)
    n = images.size(0)
    logits = self.classify(torch.cat([images, images * hard, images * (1.0 - hard)], 0))
    return logits.narrow(0, 0, n), logits.narrow(0, n, n), logits.narrow(0, 2 * n, n), soft, hard
)TS";
    save(module, source, path);
}

}  // namespace lumen::nn
