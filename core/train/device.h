#pragma once
// Where a model and its batches live (docs/distributed.md, "Devices"): `device: auto|cpu|cuda|
// cuda:N` resolved against what this LibTorch and machine have, the autocast switch for CPU
// bf16 and CUDA fp16/bf16, a gradient scaler for fp16, the CUDA switches (TF32, cuDNN
// benchmark) and what the environment record says about GPUs. Every path here runs on the CPU
// in the tests; the CUDA branches are taken only where LibTorch has CUDA. Torch-only header.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lumen::train {

/// The device `spec` names: "auto" = cuda:0 when LibTorch has CUDA and a GPU is present, else
/// cpu. Throws std::invalid_argument (naming `key` and the value) for an unknown spec, or for
/// cuda when this LibTorch or machine has no CUDA device / has fewer than N+1.
torch::Device resolveDevice(const std::string& spec, const std::string& key = "device");

/// Autocast precision actually used.
enum class Autocast { Off, Bf16, Fp16 };

/// What `precision` ("fp32", "bf16", "fp16") becomes on `device`: bf16 on a CPU with native
/// bf16 or on CUDA, fp16 on CUDA only. `why` gets a warning when the request cannot be met.
Autocast autocastFor(const std::string& precision, const torch::Device& device, std::string* why);

/// Autocast switched on for the scope's lifetime (thread-local state, always switched off
/// again, exceptions included).
class AutocastScope {
public:
    AutocastScope(Autocast mode, torch::DeviceType device);
    explicit AutocastScope(bool cpuBf16) : AutocastScope(cpuBf16 ? Autocast::Bf16 : Autocast::Off, torch::kCPU) {}
    ~AutocastScope();
    AutocastScope(const AutocastScope&) = delete;
    AutocastScope& operator=(const AutocastScope&) = delete;

private:
    Autocast mode_;
    torch::DeviceType device_;
};

/// True when bf16 autocast runs on native instructions here (avx512_bf16 or amx_bf16).
bool cpuSupportsBf16();

/// TF32 and cuDNN benchmark as the config asks (no effect without CUDA).
void applyCudaSwitches(bool tf32, bool cudnnBenchmark);

/// `x` on `device`; from the CPU to CUDA through pinned memory with a non-blocking copy.
torch::Tensor toDevice(const torch::Tensor& x, const torch::Device& device);

/// PyTorch's GradScaler for fp16 (init scale 2^16, growth x2 every 2000 finite steps, backoff
/// x0.5 on a non-finite gradient). Disabled, it scales by 1 and never skips.
class GradScaler {
public:
    explicit GradScaler(bool enabled) : enabled_(enabled) {}
    bool enabled() const { return enabled_; }
    double scale() const { return enabled_ ? scale_ : 1.0; }
    /// Divides the gradients by the scale; true when they are all finite (the step may run).
    bool unscale(const std::vector<torch::Tensor>& params);
    /// After a step (or a skipped one): grows or backs off the scale.
    void update(bool finite);
    void setScale(double s, std::int64_t goodSteps) {
        scale_ = s;
        good_ = goodSteps;
    }
    std::int64_t goodSteps() const { return good_; }

private:
    bool enabled_;
    double scale_ = 65536.0;
    std::int64_t good_ = 0;
};

/// Bytes the CUDA caching allocator holds on `device` now (0 on the CPU or without CUDA).
std::int64_t cudaAllocatedBytes(const torch::Device& device);

/// "NVIDIA H200 (139.8 GiB, sm_90)" per CUDA device; empty without CUDA.
std::vector<std::string> cudaDevices();

}  // namespace lumen::train
