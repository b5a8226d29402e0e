#include "config/torch_environment.h"

#include "dist/process_group.h"
#include "train/device.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>

namespace lumen::config {

nlohmann::json torchEnvironment() {
    return {{"libtorch", TORCH_VERSION},
            {"threads", {{"intra_op", at::get_num_threads()}, {"inter_op", at::get_num_interop_threads()}}},
            {"parallel_info", at::get_parallel_info()},
            {"mkldnn", at::hasMKLDNN()},
            {"cuda_available", torch::cuda::is_available()},
            {"cuda_built", at::hasCUDA()},
            {"cuda_devices", train::cudaDevices()},
            {"c10d_gloo", dist::haveGloo()}};
}

}  // namespace lumen::config

extern "C" __attribute__((visibility("default"))) char* lumen_ml_torch_environment_json() {
    const std::string text = lumen::config::torchEnvironment().dump();
    char* out = static_cast<char*>(std::malloc(text.size() + 1));
    if (out) std::memcpy(out, text.c_str(), text.size() + 1);
    return out;
}
