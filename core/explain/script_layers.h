#pragma once
// Any named layer of any TorchScript module (docs/explain.md, "Any named layer"): a method is
// added to the module that runs its `forward` and also returns the outputs of the named
// submodules, by rewriting a copy of the forward graph — the calls on the path to each layer
// are inlined until the layer's own call is reached, and its result becomes an extra output.
// Nothing is asked of the user's model. Torch-only header (lumen_ml).

#include <torch/script.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lumen::explain {

/// Submodule paths of `module` in definition order ("layer4", "layer4.1.conv2", ...).
std::vector<std::string> submodulePaths(const torch::jit::Module& module);

/// A method added by addLayerTaps.
struct LayerTaps {
    std::string method;  ///< name of the added method: (x) -> (forward's output, tapped outputs...)
    /// Paths whose outputs follow forward's output in the returned tuple, in execution order.
    std::vector<std::string> tapped;
    /// Paths that could not be tapped, with the reason ("never called by forward", "called
    /// inside control flow (if/loop)", "returns a List[Tensor], not a tensor").
    std::map<std::string, std::string> why;
};

/// Adds a method to `module` (its class type; the module's other methods are untouched) that
/// returns forward's output and the output of every path that can be tapped. A submodule
/// called several times is tapped at its last call. Throws std::runtime_error naming the path
/// when `paths` names no submodule of the module.
LayerTaps addLayerTaps(torch::jit::Module& module, const std::vector<std::string>& paths);

/// The first tensor of a forward output: a tensor, the first tensor of a tuple/list, or the
/// "out"/"logits" entry of a dict. Throws std::runtime_error naming `source` otherwise.
torch::Tensor firstTensor(const c10::IValue& output, const std::string& source);

/// The line of a LibTorch / TorchScript error that says what failed: its last line (TorchScript
/// errors carry the script's traceback before it), without c10's backtrace.
std::string torchErrorLine(const std::exception& e);

/// Token outputs (N, L, D) of a transformer layer as a grid (N, D, s, s), the rule of
/// pytorch-grad-cam's reshape_transform examples: batch-first (a (L, N, D) tensor whose second
/// size is the batch is transposed first); L = s² tokens form the grid as they are, L = s² + 1
/// drops the first (class) token. Anything else throws std::runtime_error naming `layer`.
torch::Tensor tokensToGrid(const torch::Tensor& tokens, std::int64_t batch, const std::string& layer);
/// Whether tokensToGrid accepts this shape (for choosing a default layer).
bool tokensFormGrid(const torch::Tensor& tokens, std::int64_t batch);

/// One submodule's output on a probe input, for `lumen-cli explain --list-layers`.
struct LayerOutput {
    std::string path;
    std::vector<std::int64_t> shape;  ///< empty when not tapped
    std::string note;                 ///< why not tapped, or "tokens -> grid s x s"
    bool explainable = false;         ///< (N,C,h,w), (N,C,d,h,w), or tokens forming a grid
};

/// Every submodule's output for `probe` (one forward of a tapped copy), in execution order,
/// then the submodules that could not be tapped.
std::vector<LayerOutput> layerOutputs(torch::jit::Module& module, const torch::Tensor& probe);

/// The default layer to explain: the last layer in execution order whose output is explainable
/// with more than one spatial position, among the module's direct children (so a backbone
/// stage rather than one of its convolutions); a feature map is preferred to tokens. nullopt
/// when none is.
std::optional<std::string> defaultLayer(torch::jit::Module& module, const torch::Tensor& probe);

/// A probe input for a module: (1, C, H, W) or (1, C, D, H, W) from its first convolution's
/// weight (C its input channels; 224² or 16×112², the torchvision defaults) unless `shape`
/// (H,W) / (D,H,W) and `channels` say otherwise. Throws std::runtime_error when the module
/// has no convolution and no shape is given.
torch::Tensor probeInput(const torch::jit::Module& module, const std::vector<std::int64_t>& shape = {},
                         int channels = 0);

}  // namespace lumen::explain
