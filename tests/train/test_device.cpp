// Devices (train/device.h) on a CPU-only LibTorch: what `device` resolves to, the errors for
// CUDA that is not there, what a precision becomes, and the fp16 gradient scaler's rule
// (PyTorch's GradScaler: 2^16, x0.5 and skip on overflow, x2 after 2000 finite steps).
#include "train/device.h"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <QtTest>

#include <limits>
#include <string>

using namespace lumen;

namespace {
std::string errorOf(const std::string& spec) {
    try {
        train::resolveDevice(spec);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return {};
}
}  // namespace

class TestDevice : public QObject {
    Q_OBJECT
private slots:
    void devicesResolve() {
        QVERIFY(train::resolveDevice("cpu").is_cpu());
        if (torch::cuda::is_available()) {
            QVERIFY(train::resolveDevice("auto").is_cuda());
            return;
        }
        QVERIFY(train::resolveDevice("auto").is_cpu());
        QVERIFY(train::resolveDevice("").is_cpu());
        const auto cuda = errorOf("cuda");
        QVERIFY2(cuda.find("device: \"cuda\" requested") != std::string::npos, cuda.c_str());
        QVERIFY2(cuda.find("without CUDA") != std::string::npos || cuda.find("no CUDA device") != std::string::npos,
                 cuda.c_str());
        QVERIFY(!errorOf("cuda:1").empty());
        for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda1", "CPU"})
            QVERIFY2(errorOf(bad).find("is not a device") != std::string::npos, bad);
    }

    void precisionsFollowTheDevice() {
        std::string why;
        QCOMPARE(train::autocastFor("fp32", torch::kCPU, &why), train::Autocast::Off);
        QVERIFY(why.empty());
        QCOMPARE(train::autocastFor("fp16", torch::kCPU, &why), train::Autocast::Off);
        QVERIFY2(why.find("CUDA only") != std::string::npos, why.c_str());
        why.clear();
        const auto bf16 = train::autocastFor("bf16", torch::kCPU, &why);
        QCOMPARE(bf16 == train::Autocast::Bf16, train::cpuSupportsBf16());
        QCOMPARE(why.empty(), train::cpuSupportsBf16());
        // On CUDA both reduced precisions are available (no GPU needed to decide it).
        QCOMPARE(train::autocastFor("fp16", torch::Device(torch::kCUDA, 0), nullptr), train::Autocast::Fp16);
        QCOMPARE(train::autocastFor("bf16", torch::Device(torch::kCUDA, 0), nullptr), train::Autocast::Bf16);
    }

    void autocastScopeSwitchesBackOff() {
        QVERIFY(!at::autocast::is_cpu_enabled());
        if (train::cpuSupportsBf16()) {
            train::AutocastScope on(train::Autocast::Bf16, torch::kCPU);
            QVERIFY(at::autocast::is_cpu_enabled());
            const auto y = torch::mm(torch::ones({2, 2}), torch::ones({2, 2}));
            QCOMPARE(y.scalar_type(), torch::kBFloat16);
        }
        QVERIFY(!at::autocast::is_cpu_enabled());
        try {
            train::AutocastScope on(train::Autocast::Bf16, torch::kCPU);
            throw std::runtime_error("inside");
        } catch (const std::runtime_error&) {
        }
        QVERIFY(!at::autocast::is_cpu_enabled());
    }

    void toDeviceOnTheCpuIsTheSameTensor() {
        const auto x = torch::ones({3});
        QVERIFY(train::toDevice(x, torch::kCPU).is_same(x));
        QVERIFY(!train::toDevice(torch::Tensor(), torch::kCPU).defined());
        QCOMPARE(train::cudaAllocatedBytes(torch::kCPU), std::int64_t(0));
    }

    void gradScalerFollowsPyTorchsRule() {
        train::GradScaler off(false);
        QCOMPARE(off.scale(), 1.0);
        auto p = torch::zeros({2}, torch::requires_grad());
        p.mutable_grad() = torch::full({2}, 3.0);
        QVERIFY(off.unscale({p}));
        QCOMPARE(p.grad()[0].item<double>(), 3.0);  // disabled: untouched

        train::GradScaler s(true);
        QCOMPARE(s.scale(), 65536.0);
        p.mutable_grad() = torch::full({2}, 2.0 * 65536.0);
        QVERIFY(s.unscale({p}));
        QCOMPARE(p.grad()[1].item<double>(), 2.0);
        s.update(true);
        QCOMPARE(s.goodSteps(), std::int64_t(1));
        p.mutable_grad() = torch::tensor({1.0f, std::numeric_limits<float>::infinity()});
        QVERIFY(!s.unscale({p}));
        s.update(false);
        QCOMPARE(s.scale(), 32768.0);
        QCOMPARE(s.goodSteps(), std::int64_t(0));
        for (int i = 0; i < 1999; ++i) s.update(true);
        QCOMPARE(s.scale(), 32768.0);
        s.update(true);
        QCOMPARE(s.scale(), 65536.0);
    }
};

QTEST_GUILESS_MAIN(TestDevice)
#include "test_device.moc"
