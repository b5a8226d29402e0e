#pragma once
// Named-tensor files shared with Python PyTorch: reading torch.save() checkpoints and
// TorchScript modules, writing files that torch.load() reads as a plain dict.
// Torch-only header (lumen_ml): never include it from Qt code.

#include <torch/nn/module.h>
#include <torch/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lumen::nn {

/// Tensors by dotted name ("features.1.0.block.3.weight"), sorted.
using TensorMap = std::map<std::string, torch::Tensor>;

/// Reads every tensor of a PyTorch file, whatever produced it:
/// - a TorchScript module (torch.jit.save of a scripted or traced module): its parameters and
///   buffers under their module paths;
/// - a torch.save() zip file (PyTorch >= 1.6 default) holding a state dict (OrderedDict or
///   dict) or a checkpoint dict nesting state dicts; nested dicts are flattened with "."
///   ({"model": {"fc.weight": t}} -> "model.fc.weight"); non-tensor values (ints, strings,
///   pathlib paths, optimizer hyper-parameters...) are skipped.
/// Throws std::runtime_error naming the file when it is missing, is the pre-1.6 legacy
/// format, or holds no tensor.
TensorMap readTensorFile(const std::filesystem::path& path);

/// Writes `tensors` as a torch.save()-compatible zip holding a plain dict name -> tensor
/// (contiguous CPU copies), so Python reads it with `torch.load(path)` and a model takes it
/// with `model.load_state_dict(torch.load(path))`. Throws naming the file on I/O failure.
void writeTensorFile(const std::filesystem::path& path, const TensorMap& tensors);

/// The module's parameters and buffers by dotted name (the Python state_dict names when the
/// module mirrors a Python module's layout). Tensors are shared, not copied.
TensorMap stateDict(const torch::nn::Module& module);

/// Keys that did not line up when loading a state dict.
struct StateDictMismatch {
    std::vector<std::string> missing;        // in the module, not in the file
    std::vector<std::string> unexpected;     // in the file, not in the module
    std::vector<std::string> shapeMismatch;  // "name: file [..] vs module [..]"
    bool empty() const { return missing.empty() && unexpected.empty() && shapeMismatch.empty(); }
    /// Human-readable listing (at most `maxPerList` names per list, then "... and N more").
    std::string describe(std::size_t maxPerList = 20) const;
};

/// Copies tensors into the module's parameters/buffers of the same name (values converted to
/// the destination's dtype, memory format kept). Names in `skip` are left alone and not
/// reported. Nothing is copied unless everything matches; otherwise throws
/// std::runtime_error whose message starts with `what` and lists the mismatches.
void loadStateDict(torch::nn::Module& module, const TensorMap& tensors, const std::string& what,
                   const std::vector<std::string>& skip = {});

/// What loading a sub-model's weights out of a larger file found.
struct PrefixedLoadReport {
    std::vector<std::string> unexpected;  ///< file keys the module has no use for (listed, not fatal)
    std::string strippedPrefix;           ///< the prefix taken off the file's keys ("" when none)
};

/// Loads the tensors of `path` (readTensorFile) whose keys start with `prefix` into `module`,
/// the prefix taken off. An empty `prefix` means: the shortest prefix under which the file has
/// `anchor` (a key every such module has, e.g. "stem.0.weight"), so "module.", a wrapper's
/// "video_encoder." or a checkpoint's "model_state_dict.encoder." are found alone; no such key
/// -> no prefix. Every parameter and buffer of the module must be there with its shape,
/// otherwise throws std::runtime_error starting with the file and `what` and listing the
/// missing and mis-shaped keys.
PrefixedLoadReport loadPrefixedStateDict(torch::nn::Module& module, const std::filesystem::path& path,
                                         const std::string& prefix, const std::string& anchor, const std::string& what);

}  // namespace lumen::nn
