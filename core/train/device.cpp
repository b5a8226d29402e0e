#include "train/device.h"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#ifdef LUMEN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace lumen::train {

torch::Device resolveDevice(const std::string& spec, const std::string& key) {
    const bool haveCuda = torch::cuda::is_available();
    if (spec == "auto" || spec.empty()) return haveCuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    if (spec == "cpu") return torch::Device(torch::kCPU);
    if (spec.rfind("cuda", 0) != 0)
        throw std::invalid_argument(key + ": \"" + spec + "\" is not a device (auto, cpu, cuda or cuda:N)");
    int index = 0;
    if (spec.size() > 4) {
        const std::string n = spec.substr(4);
        if (n.size() < 2 || n[0] != ':' || n.find_first_not_of("0123456789", 1) != std::string::npos)
            throw std::invalid_argument(key + ": \"" + spec + "\" is not a device (auto, cpu, cuda or cuda:N)");
        index = std::stoi(n.substr(1));
    }
    if (!haveCuda)
        throw std::invalid_argument(key + ": \"" + spec + "\" requested, but " +
                                    (torch::cuda::device_count() == 0 && !at::hasCUDA()
                                         ? std::string("this LibTorch was built without CUDA (Debian's is CPU-only; "
                                                       "build against a CUDA LibTorch, docs/building.md)")
                                         : std::string("no CUDA device is visible")));
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (index >= count)
        throw std::invalid_argument(key + ": \"" + spec + "\" requested, but this machine has " +
                                    std::to_string(count) + " CUDA device(s)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

bool cpuSupportsBf16() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("flags", 0) != 0) continue;
        return line.find(" avx512_bf16") != std::string::npos || line.find(" amx_bf16") != std::string::npos;
    }
    return false;
}

Autocast autocastFor(const std::string& precision, const torch::Device& device, std::string* why) {
    auto warn = [&](const std::string& m) {
        if (why) *why = m;
    };
    if (precision == "bf16") {
        if (device.is_cuda() || cpuSupportsBf16()) return Autocast::Bf16;
        warn("precision bf16 requested, but this CPU has no native bf16 (avx512_bf16 / amx_bf16): training in fp32");
        return Autocast::Off;
    }
    if (precision == "fp16") {
        if (device.is_cuda()) return Autocast::Fp16;
        warn(
            "precision fp16 requested: fp16 autocast is for CUDA only; on the CPU training runs in fp32 "
            "(bf16 is the CPU's reduced precision)");
        return Autocast::Off;
    }
    return Autocast::Off;
}

AutocastScope::AutocastScope(Autocast mode, torch::DeviceType device) : mode_(mode), device_(device) {
    if (mode_ == Autocast::Off) return;
    if (device_ == torch::kCUDA) {
        at::autocast::set_autocast_gpu_dtype(mode_ == Autocast::Fp16 ? at::kHalf : at::kBFloat16);
        at::autocast::set_enabled(true);
    } else {
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        at::autocast::set_cpu_enabled(true);
    }
}

AutocastScope::~AutocastScope() {
    if (mode_ == Autocast::Off) return;
    if (device_ == torch::kCUDA) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
}

void applyCudaSwitches(bool tf32, bool cudnnBenchmark) {
    if (!torch::cuda::is_available()) return;
    at::globalContext().setAllowTF32CuBLAS(tf32);
    at::globalContext().setAllowTF32CuDNN(tf32);
    at::globalContext().setBenchmarkCuDNN(cudnnBenchmark);
}

torch::Tensor toDevice(const torch::Tensor& x, const torch::Device& device) {
    if (!x.defined() || x.device() == device) return x;
    if (device.is_cuda() && x.device().is_cpu()) return x.pin_memory().to(device, /*non_blocking=*/true);
    return x.to(device);
}

bool GradScaler::unscale(const std::vector<torch::Tensor>& params) {
    if (!enabled_) return true;
    torch::NoGradGuard guard;
    bool finite = true;
    for (const auto& p : params) {
        if (!p.grad().defined()) continue;
        auto g = p.grad();
        g.mul_(1.0 / scale_);
        if (finite && !torch::isfinite(g).all().item<bool>()) finite = false;
    }
    return finite;
}

void GradScaler::update(bool finite) {
    if (!enabled_) return;
    if (!finite) {
        scale_ *= 0.5;
        good_ = 0;
        return;
    }
    if (++good_ >= 2000) {
        scale_ *= 2.0;
        good_ = 0;
    }
}

std::int64_t cudaAllocatedBytes(const torch::Device& device) {
#ifdef LUMEN_WITH_CUDA
    if (!device.is_cuda()) return 0;
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return stats.allocated_bytes[static_cast<std::size_t>(c10::cuda::CUDACachingAllocator::StatType::AGGREGATE)].current;
#else
    (void)device;
    return 0;
#endif
}

std::vector<std::string> cudaDevices() {
    std::vector<std::string> out;
#ifdef LUMEN_WITH_CUDA
    for (int i = 0; i < static_cast<int>(torch::cuda::device_count()); ++i) {
        const auto* p = at::cuda::getDeviceProperties(i);
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s (%.1f GiB, sm_%d%d)", p->name, p->totalGlobalMem / double(1ull << 30),
                      p->major, p->minor);
        out.emplace_back(buf);
    }
#endif
    return out;
}

}  // namespace lumen::train
