#include "explain/script_layers.h"
#include "explain/cam_job.h"
#include "explain/grad_cam.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>

#include <atomic>
#include <cmath>
#include <set>
#include <stdexcept>

namespace lumen::explain {
namespace {

using torch::jit::Node;
using torch::jit::Value;

/// The submodule path a module value stands for: "" for `self`, "a.b" for
/// self.a.b (a chain of prim::GetAttr); nullopt for anything else.
std::optional<std::string> modulePath(Value* v, Value* self) {
    if (v == self) return std::string();
    Node* n = v->node();
    if (n->kind() != c10::prim::GetAttr) return std::nullopt;
    const auto parent = modulePath(n->input(0), self);
    if (!parent) return std::nullopt;
    const std::string name = n->s(c10::attr::name);
    return parent->empty() ? name : *parent + "." + name;
}

bool isForward(const std::string& method) { return method == "forward" || method.rfind("forward__", 0) == 0; }

bool isModuleCall(Node* n) {
    if (n->kind() != c10::prim::CallMethod) return false;
    const auto cls = n->input(0)->type()->cast<c10::ClassType>();
    return cls && cls->is_module();
}

/// Rewrites `graph` (a copy of the module's forward) until the call of every wanted path is on
/// the top level: calls on a proper prefix of a wanted path (and self's own helper methods) are
/// inlined. Returns the output value of each wanted path's last call.
std::map<std::string, Value*> inlineTowards(torch::jit::Graph& graph, const std::set<std::string>& want) {
    std::set<std::string> prefixes = {""};
    for (const auto& p : want)
        for (std::size_t dot = p.find('.'); dot != std::string::npos; dot = p.find('.', dot + 1))
            prefixes.insert(p.substr(0, dot));
    Value* self = graph.inputs().at(0);
    std::map<std::string, Value*> found;
    for (bool changed = true; changed;) {
        changed = false;
        for (Node* n : graph.nodes()) {
            if (!isModuleCall(n)) continue;
            const auto path = modulePath(n->input(0), self);
            if (!path) continue;
            const std::string method = n->s(c10::attr::name);
            const bool wanted = isForward(method) && want.count(*path) > 0;
            if (prefixes.count(*path) > 0) {
                auto& callee =
                    torch::jit::toGraphFunction(n->input(0)->type()->expect<c10::ClassType>()->getMethod(method));
                // false: the callee as written (its optimised graph is inlined all the way down already)
                Value* old = n->outputs().size() == 1 ? n->output(0) : nullptr;
                const auto outputs = torch::jit::inlineCallTo(n, &callee, /*inline_optimized_graph=*/false);
                // A layer found as this call's result (a container's last child) is now the
                // inlined body's result: the old value is gone with its node.
                for (auto& [p, v] : found)
                    if (v == old && outputs.size() == 1) v = outputs[0];
                if (wanted && outputs.size() == 1) found[*path] = outputs[0];
                changed = true;
                break;  // the node list changed: scan again from the start
            }
            if (wanted) found[*path] = n->output(0);
        }
    }
    return found;
}

/// Paths of wanted module calls left inside if/loop blocks (whose values cannot be returned).
void callsInBlocks(torch::jit::Block* block, Value* self, bool nested, std::set<std::string>& out) {
    for (Node* n : block->nodes()) {
        if (nested && isModuleCall(n))
            if (const auto path = modulePath(n->input(0), self)) out.insert(*path);
        for (torch::jit::Block* b : n->blocks()) callsInBlocks(b, self, true, out);
    }
}

/// Order of the tapped values as the graph computes them.
std::vector<std::string> executionOrder(torch::jit::Graph& graph, const std::map<std::string, Value*>& taps) {
    std::map<Value*, std::vector<std::string>> byValue;
    for (const auto& [path, v] : taps) byValue[v].push_back(path);
    std::vector<std::string> order;
    for (Node* n : graph.nodes())
        for (Value* v : n->outputs())
            if (auto it = byValue.find(v); it != byValue.end())
                for (const auto& p : it->second) order.push_back(p);
    return order;
}

std::int64_t gridSide(std::int64_t tokens) {
    const auto s = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(tokens))));
    return s * s == tokens ? s : 0;
}

bool explainableOutput(const torch::Tensor& t, std::int64_t batch) {
    if (t.dim() == 4 || t.dim() == 5) return true;
    return t.dim() == 3 && tokensFormGrid(t, batch);
}

std::int64_t spatialSize(const torch::Tensor& t, std::int64_t batch) {
    if (t.dim() == 3) return tokensToGrid(t, batch, "").size(2) * tokensToGrid(t, batch, "").size(3);
    std::int64_t n = 1;
    for (std::int64_t d = 2; d < t.dim(); ++d) n *= t.size(d);
    return n;
}

}  // namespace

std::vector<std::string> submodulePaths(const torch::jit::Module& module) {
    std::vector<std::string> out;
    for (const auto& item : module.named_modules())
        if (!item.name.empty()) out.push_back(item.name);
    return out;
}

LayerTaps addLayerTaps(torch::jit::Module& module, const std::vector<std::string>& paths) {
    const auto known = submodulePaths(module);
    const std::set<std::string> knownSet(known.begin(), known.end());
    for (const auto& p : paths)
        if (!knownSet.count(p)) {
            std::string list;
            for (std::size_t i = 0; i < known.size() && i < 12; ++i) list += (i ? ", " : "") + known[i];
            throw std::runtime_error("no submodule \"" + p + "\" in this TorchScript module (its submodules: " +
                                     (list.empty() ? std::string("none") : list + (known.size() > 12 ? ", ..." : "")) +
                                     "; `lumen-cli explain --list-layers MODEL` lists them all)");
        }
    auto graph = torch::jit::toGraphFunction(module.get_method("forward").function()).graph()->copy();
    const std::set<std::string> want(paths.begin(), paths.end());
    auto found = inlineTowards(*graph, want);

    LayerTaps taps;
    std::set<std::string> nested;
    callsInBlocks(graph->block(), graph->inputs().at(0), false, nested);
    for (const auto& p : want) {
        auto it = found.find(p);
        if (it == found.end()) {
            bool inBlock = false;  // its call, or the call of a module above it, sits in an if/loop
            for (const auto& q : nested) inBlock = inBlock || q == p || p.rfind(q.empty() ? q : q + ".", 0) == 0;
            taps.why[p] = inBlock ? "called inside control flow (if/loop), so its output cannot be returned"
                                  : "never called by forward";
        } else if (!it->second->type()->cast<c10::TensorType>()) {
            taps.why[p] = "returns " + it->second->type()->annotation_str() + ", not a tensor";
            found.erase(it);
        }
    }
    taps.tapped = executionOrder(*graph, found);

    torch::jit::WithInsertPoint guard(graph->return_node());
    std::vector<Value*> elements = {graph->outputs().at(0)};
    for (const auto& p : taps.tapped) elements.push_back(found.at(p));
    Value* tuple = graph->insertNode(graph->createTuple(elements))->output();
    graph->eraseOutput(0);
    graph->registerOutput(tuple);

    static std::atomic<int> counter{0};
    taps.method = "lumen_tap_" + std::to_string(counter++);
    auto cu = module._ivalue()->compilation_unit();
    torch::jit::Function* fn = cu->create_function(c10::QualifiedName(*module.type()->name(), taps.method), graph);
    module.type()->addMethod(fn);
    return taps;
}

torch::Tensor firstTensor(const c10::IValue& output, const std::string& source) {
    if (output.isTensor()) return output.toTensor();
    if (output.isTuple())
        for (const auto& e : output.toTupleRef().elements())
            if (e.isTensor()) return e.toTensor();
    if (output.isList())
        for (const auto& e : output.toListRef())
            if (e.isTensor()) return e.toTensor();
    if (output.isGenericDict())
        for (const char* key : {"out", "logits"})
            if (const auto dict = output.toGenericDict(); dict.contains(key) && dict.at(key).isTensor())
                return dict.at(key).toTensor();
    throw std::runtime_error(source + ": forward returned " + output.tagKind() +
                             ", not a tensor, a tuple/list holding one, or a dict with \"out\" or \"logits\"");
}

std::string torchErrorLine(const std::exception& e) {
    const auto* c10 = dynamic_cast<const c10::Error*>(&e);
    std::string why = c10 ? c10->what_without_backtrace() : e.what();
    while (!why.empty() && why.back() == '\n') why.pop_back();
    if (const auto nl = why.rfind('\n'); nl != std::string::npos) why = why.substr(nl + 1);
    return why;
}

bool tokensFormGrid(const torch::Tensor& tokens, std::int64_t batch) {
    if (tokens.dim() != 3) return false;
    const std::int64_t l = tokens.size(0) == batch ? tokens.size(1) : tokens.size(1) == batch ? tokens.size(0) : 0;
    return l > 0 && (gridSide(l) > 0 || gridSide(l - 1) > 0);
}

torch::Tensor tokensToGrid(const torch::Tensor& tokens, std::int64_t batch, const std::string& layer) {
    if (tokens.dim() != 3)
        throw std::runtime_error("layer " + layer + ": expected tokens (N, L, D), got " + std::to_string(tokens.dim()) +
                                 "-D");
    torch::Tensor t = tokens;
    if (t.size(0) != batch && t.size(1) == batch) t = t.transpose(0, 1);  // (L, N, D) layouts
    if (t.size(0) != batch)
        throw std::runtime_error("layer " + layer + ": neither size of its (" + std::to_string(tokens.size(0)) + ", " +
                                 std::to_string(tokens.size(1)) + ", D) output is the batch size " +
                                 std::to_string(batch));
    const std::int64_t l = t.size(1);
    if (gridSide(l) == 0 && gridSide(l - 1) > 0) t = t.slice(1, 1);  // drop the class token
    const std::int64_t s = gridSide(t.size(1));
    if (s == 0)
        throw std::runtime_error("layer " + layer + ": " + std::to_string(l) +
                                 " tokens form no square grid (L = s² or s² + 1 with a class token first)");
    return t.reshape({batch, s, s, t.size(2)}).permute({0, 3, 1, 2});
}

std::vector<LayerOutput> layerOutputs(torch::jit::Module& module, const torch::Tensor& probe) {
    const LayerTaps taps = addLayerTaps(module, submodulePaths(module));
    torch::NoGradGuard noGrad;
    const auto out = module.get_method(taps.method)({probe});
    const auto& elements = out.toTupleRef().elements();
    std::vector<LayerOutput> layers;
    for (std::size_t i = 0; i < taps.tapped.size(); ++i) {
        const torch::Tensor t = elements.at(i + 1).toTensor();
        LayerOutput l{taps.tapped[i], t.sizes().vec(), "", explainableOutput(t, probe.size(0))};
        if (t.dim() == 3 && l.explainable) {
            const auto g = tokensToGrid(t, probe.size(0), l.path);
            l.note = "tokens -> grid " + std::to_string(g.size(2)) + "x" + std::to_string(g.size(3));
        }
        layers.push_back(std::move(l));
    }
    for (const auto& [path, why] : taps.why) layers.push_back({path, {}, why, false});
    return layers;
}

std::optional<std::string> defaultLayer(torch::jit::Module& module, const torch::Tensor& probe) {
    std::vector<std::string> children;
    for (const auto& c : module.named_children()) children.push_back(c.name);
    if (children.empty()) return std::nullopt;
    const LayerTaps taps = addLayerTaps(module, children);
    torch::NoGradGuard noGrad;
    const auto out = module.get_method(taps.method)({probe});
    const auto& elements = out.toTupleRef().elements();
    std::optional<std::string> map, tokens;
    for (std::size_t i = 0; i < taps.tapped.size(); ++i) {
        const torch::Tensor t = elements.at(i + 1).toTensor();
        if (!explainableOutput(t, probe.size(0)) || spatialSize(t, probe.size(0)) <= 1) continue;
        (t.dim() == 3 ? tokens : map) = taps.tapped[i];
    }
    // A feature map first: at a transformer's output only the class token reaches the head, so
    // its patch tokens get no gradient (docs/explain.md names the layer to use for ViTs).
    return map ? map : tokens;
}

torch::Tensor probeInput(const torch::jit::Module& module, const std::vector<std::int64_t>& shape, int channels) {
    std::int64_t weightDim = 0, weightChannels = 0;
    for (const auto& p : module.named_parameters())
        if (p.value.dim() == 4 || p.value.dim() == 5) {
            weightDim = p.value.dim();
            weightChannels = p.value.size(1);
            break;
        }
    std::vector<std::int64_t> spatial = shape;
    if (spatial.empty()) {
        if (weightDim == 0)
            throw std::runtime_error(
                "the module has no convolution to tell its input: give the input size (--size HxW or DxHxW)");
        spatial = weightDim == 4 ? std::vector<std::int64_t>{224, 224} : std::vector<std::int64_t>{16, 112, 112};
    }
    std::vector<std::int64_t> full = {1, channels > 0 ? channels : (weightChannels > 0 ? weightChannels : 3)};
    full.insert(full.end(), spatial.begin(), spatial.end());
    return torch::randn(full, at::detail::createCPUGenerator(0));  // the global generator stays as it was
}

}  // namespace lumen::explain

namespace lumen::explain {
namespace {

void fillListing(const std::filesystem::path& file, const std::vector<std::size_t>& inputShape, int channels,
                 LayerListing& out) {
    const auto model = loadCamModel(file);  // names the file in its errors; refuses what cannot be explained
    out.model = model->description();
    torch::jit::Module module;
    try {
        module = torch::jit::load(file.string(), torch::kCPU);
    } catch (const c10::Error& e) {
        throw std::runtime_error(file.string() + ": " + e.what_without_backtrace());
    }
    if (module.hasattr("sealed") || module.hasattr("config_yaml")) {  // a Lumen checkpoint: its native layers
        for (const auto& l : model->layers()) out.layers.push_back({l, {}, "", true});
        out.defaultLayer = model->layers().front();
        return;
    }
    module.eval();
    std::vector<std::int64_t> shape(inputShape.begin(), inputShape.end());
    const torch::Tensor probe = [&] {
        try {
            return probeInput(module, shape, channels);
        } catch (const std::exception& e) {
            throw std::runtime_error(file.string() + ": " + e.what());
        }
    }();
    out.probeShape = probe.sizes().vec();
    try {
        {
            torch::NoGradGuard noGrad;
            out.outputShape = firstTensor(module.forward({probe}), file.string()).sizes().vec();
        }
        for (auto& l : layerOutputs(module, probe)) out.layers.push_back({l.path, l.shape, l.note, l.explainable});
        out.defaultLayer = defaultLayer(module, probe).value_or("");
    } catch (const std::exception& e) {
        std::string probeText;
        for (auto v : out.probeShape) probeText += (probeText.empty() ? "" : "x") + std::to_string(v);
        throw std::runtime_error(file.string() + ": the probe input " + probeText +
                                 " failed (give the model's input with --size and --channels): " + torchErrorLine(e));
    }
}

}  // namespace
}  // namespace lumen::explain

/// Entry point for explain::listLayers (lumen_core), found with dlsym.
extern "C" __attribute__((visibility("default"))) void lumen_ml_list_layers(const std::filesystem::path* model,
                                                                            const std::vector<std::size_t>* shape,
                                                                            int channels,
                                                                            lumen::explain::LayerListing* out) {
    lumen::explain::fillListing(*model, *shape, channels, *out);
}
