#include "nn/torchscript_export.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace lumen::nn {
namespace {

/// Mirrors a torch::nn::Module tree as TorchScript modules: same child names, parameters and
/// buffers (copied, detached), so the exported file's state dict has our (torchvision's) names.
torch::jit::Module mirror(const torch::nn::Module& module, const std::string& className,
                          const std::shared_ptr<torch::jit::CompilationUnit>& cu) {
    torch::jit::Module out(c10::QualifiedName("__torch__.lumen." + className), cu, /*shouldMangle=*/true);
    for (const auto& p : module.named_parameters(false)) out.register_parameter(p.key(), p.value().detach().clone(), false);
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
        if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) expr = "getattr(" + expr + ", \"" + part + "\")";
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
            s << "    x = self._block(x, " << at(b) << ".layer_scale, " << at(blk + ".0") << ".weight, " << at(blk + ".0")
              << ".bias, " << at(blk + ".2") << ".weight, " << at(blk + ".2") << ".bias, " << at(blk + ".3")
              << ".weight, " << at(blk + ".3") << ".bias, " << at(blk + ".5") << ".weight, " << at(blk + ".5")
              << ".bias)\n";
        }
        if (st < 3) {
            const std::string down = root + "features." + std::to_string(index++);
            s << "    x = self._ln2d(x, " << at(down + ".0") << ".weight, " << at(down + ".0") << ".bias)\n";
            s << "    x = torch.conv2d(x, " << at(down + ".1") << ".weight, " << at(down + ".1")
              << ".bias, [2, 2])\n";
        }
    }
    s << "    return x\n";
    const std::string head = root + "classifier";
    s << "\ndef forward_head" << suffix << "(self, x: Tensor) -> Tensor:\n";
    s << "    x = self._ln2d(torch.adaptive_avg_pool2d(x, [1, 1]), " << at(head + ".0") << ".weight, " << at(head + ".0")
      << ".bias).flatten(1)\n";
    s << "    return torch.linear(x, " << at(head + ".2") << ".weight, " << at(head + ".2") << ".bias)\n";
    return s.str();
}

void save(torch::jit::Module& module, const std::string& source, const std::filesystem::path& path) {
    try {
        module.define(source);
        module.eval();
        module.save(path.string());
    } catch (const c10::Error& e) {
        throw std::runtime_error(path.string() + ": TorchScript export failed: " + e.what_without_backtrace());
    }
}

}  // namespace

void exportTorchScript(ConvNeXt& model, const std::filesystem::path& path) {
    auto cu = std::make_shared<torch::jit::CompilationUnit>();
    torch::jit::Module module = mirror(*model, "ConvNeXt", cu);
    std::string source = kHelpers + convnextSource(*model, "", "");
    source += "\ndef forward(self, x: Tensor) -> Tensor:\n    return self.forward_head(self.forward_features(x))\n";
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
    k = min(max(1, int()TS" + std::string(ratio) + R"TS( * float(pixels))), pixels)
    order = torch.sort(flat, dim=1, descending=True, stable=True)[1]
    mask = torch.zeros_like(flat).scatter_(1, order.narrow(1, 0, k), 1.0)
    return mask.view(soft.size())

def predict(self, images: Tensor) -> Tensor:
    return self.classify(images)

def forward_features(self, images: Tensor) -> Tensor:
    return self.forward_features_classifier(images)

def forward_head(self, features: Tensor) -> Tensor:
    return self.forward_head_classifier(features)

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
