#pragma once
// LibTorch's part of the environment record. It lives in liblumen_ml (the torch-linked half
// of the engine); captureEnvironment() loads that library on demand to include it, so that
// torch-free tools (audit, metrics) never pay LibTorch's start-up cost.

#include <nlohmann/json.hpp>

namespace lumen::config {

/// {"libtorch": version, "threads": {intra_op, inter_op}, "parallel_info", "mkldnn",
///  "cuda_available"}.
nlohmann::json torchEnvironment();

}  // namespace lumen::config

/// C entry point looked up by captureEnvironment(): the JSON text of torchEnvironment().
/// The caller frees the returned string with std::free.
extern "C" char* lumen_ml_torch_environment_json();
