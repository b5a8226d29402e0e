// core/nn/contrastive_loss against tests/nn/contrastive_reference.py (float64): values and
// gradients of CLIP's InfoNCE, SigLIP's sigmoid loss, multi-positive InfoNCE and the
// hard-negative weighting; the temperature clamp; shape errors.
// Torch must come before any Qt header.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "nn/contrastive_loss.h"
#include "nn/tensor_file.h"

#include "torch_test_support.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <functional>

using namespace lumen::nn;

namespace {

torch::Tensor leaf(double v) { return torch::tensor(v, torch::kDouble).requires_grad_(true); }

}  // namespace

class TestContrastiveLoss : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    TensorMap ref_;

    /// Runs `loss` on fresh leaves of a (and b), compares value and d/da with the reference.
    void compare(const std::string& name, const std::function<torch::Tensor(const torch::Tensor&)>& loss) {
        const torch::Tensor a = ref_.at("a").clone().requires_grad_(true);
        const torch::Tensor value = loss(a);
        value.backward();
        const double dv = maxAbsDiff(value, ref_.at(name)), dg = maxAbsDiff(a.grad(), ref_.at(name + "_grad_a"));
        qInfo("%s: %.6f, |lumen - python| value %.3g, gradient %.3g", name.c_str(), value.item<double>(), dv, dg);
        QVERIFY2(dv <= 1e-6, (name + " value differs by " + std::to_string(dv)).c_str());
        QVERIFY2(dg <= 1e-6, (name + " gradient differs by " + std::to_string(dg)).c_str());
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        QProcess py;
        py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                 {QStringLiteral(LUMEN_SOURCE_DIR "/tests/nn/contrastive_reference.py"), dir_.path()});
        QVERIFY2(py.waitForFinished(300000), "python reference timed out");
        const QByteArray log = py.readAllStandardOutput() + py.readAllStandardError();
        QVERIFY2(py.exitCode() == 0 && py.exitStatus() == QProcess::NormalExit, log.constData());
        ref_ = readTensorFile(dir_.filePath("contrastive.pt").toStdString());
    }

    void temperatureIsClampedAsClip() {
        QCOMPARE(temperatureFromLog(leaf(std::log(0.1))).item<double>(), 0.1);
        QVERIFY(std::abs(temperatureFromLog(leaf(std::log(0.001))).item<double>() - 0.01) < 1e-12);
        QCOMPARE(temperatureFromLog(leaf(0.5)).item<double>(), 1.0);
    }

    void clipInfoNce() {
        const torch::Tensor logT = leaf(std::log(0.1));
        compare("clip", [&](const torch::Tensor& a) { return clipLoss(a, ref_.at("b"), temperatureFromLog(logT)); });
        QVERIFY(maxAbsDiff(logT.grad(), ref_.at("clip_grad_log_t")) <= 1e-6);
    }

    void sigLip() {
        const torch::Tensor logScale = leaf(std::log(10.0)), bias = leaf(-10.0);
        compare("siglip", [&](const torch::Tensor& a) { return sigLipLoss(a, ref_.at("b"), logScale, bias); });
        QVERIFY(maxAbsDiff(logScale.grad(), ref_.at("siglip_grad_log_scale")) <= 1e-6);
        QVERIFY(maxAbsDiff(bias.grad(), ref_.at("siglip_grad_bias")) <= 1e-6);
    }

    void multiPositive() {
        const torch::Tensor t = torch::tensor(0.1, torch::kDouble);
        compare("multi",
                [&](const torch::Tensor& a) { return multiPositiveLoss(a, ref_.at("b"), ref_.at("positive"), t); });
        compare("multi_many", [&](const torch::Tensor& a) {
            return multiPositiveLoss(a, ref_.at("b_many"), ref_.at("positive_many"), t);
        });
        compare("multi_identity", [&](const torch::Tensor& a) {
            return multiPositiveLoss(a, ref_.at("b"), torch::eye(6, torch::kBool), t);
        });
        // With the identity as mask it is CLIP's loss.
        const torch::Tensor a = ref_.at("a");
        QVERIFY(maxAbsDiff(multiPositiveLoss(a, ref_.at("b"), torch::eye(6, torch::kBool), t),
                           clipLoss(a, ref_.at("b"), t)) <= 1e-12);
    }

    void hardNegatives() {
        const torch::Tensor t = torch::tensor(0.1, torch::kDouble);
        compare("hard", [&](const torch::Tensor& a) { return hardNegativeLoss(a, ref_.at("b"), t, 2, 3.0); });
        const torch::Tensor a = ref_.at("a"), b = ref_.at("b");
        QVERIFY(maxAbsDiff(hardNegativeLoss(a, b, t, 0, 3.0), clipLoss(a, b, t)) <= 1e-12);
        QVERIFY(maxAbsDiff(hardNegativeLoss(a, b, t, 3, 1.0), clipLoss(a, b, t)) <= 1e-12);
        QVERIFY(hardNegativeLoss(a, b, t, 2, 3.0).item<double>() > clipLoss(a, b, t).item<double>());
    }

    void zeroShotAsCtClip() {
        const torch::Tensor p = zeroShotProbabilities(ref_.at("a"), ref_.at("present"), ref_.at("absent"),
                                                      torch::tensor(0.1, torch::kDouble));
        QCOMPARE(p.sizes(), (std::vector<std::int64_t>{6, 4}));
        QVERIFY(maxAbsDiff(p, ref_.at("zero_shot")) <= 1e-12);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 zeroShotProbabilities(ref_.at("a"), ref_.at("present"),
                                                       ref_.at("absent").slice(0, 0, 3), torch::tensor(0.1)));
    }

    void maskingFollowsBert() {
        const torch::Tensor ids = torch::randint(5, 100, {100, 200}, torch::kLong);
        torch::Tensor maskable = torch::ones({100, 200}, torch::kBool);
        maskable.select(1, 0).fill_(false);  // e.g. [CLS]
        auto [corrupted, labels] = maskTokens(ids, maskable, 4, 100, 0.15, at::make_generator<at::CPUGeneratorImpl>(9));
        const torch::Tensor chosen = labels != -100;
        const double n = chosen.sum().item<double>(), total = 100.0 * 199;
        qInfo("chosen %.0f of %.0f", n, total);
        QVERIFY(std::abs(n / total - 0.15) < 0.01);        // sd ~0.0025
        QVERIFY(!chosen.select(1, 0).any().item<bool>());  // never an unmaskable position
        QVERIFY(labels.masked_select(chosen).equal(ids.masked_select(chosen)));
        QVERIFY(corrupted.masked_select(chosen.logical_not()).equal(ids.masked_select(chosen.logical_not())));
        const double masked = (corrupted == 4).logical_and(chosen).sum().item<double>() / n;
        const double kept = (corrupted == ids).logical_and(chosen).sum().item<double>() / n;
        QVERIFY2(std::abs(masked - 0.8) < 0.03, std::to_string(masked).c_str());
        // 10 % kept, plus the random draws that hit the same id (1 %).
        QVERIFY2(std::abs(kept - 0.101) < 0.03, std::to_string(kept).c_str());
        // Seeded: the same generator seed, the same corruption.
        auto again = maskTokens(ids, maskable, 4, 100, 0.15, at::make_generator<at::CPUGeneratorImpl>(9));
        QVERIFY(again.first.equal(corrupted) && again.second.equal(labels));
    }

    void shapesAreChecked() {
        const torch::Tensor t = torch::tensor(0.1);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, clipLoss(torch::randn({4, 8}), torch::randn({5, 8}), t));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, clipLoss(torch::randn({4, 8}), torch::randn({4, 7}), t));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 multiPositiveLoss(torch::randn({4, 8}), torch::randn({5, 8}), torch::eye(4), t));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, multiPositiveLoss(torch::randn({2, 8}), torch::randn({2, 8}),
                                                                          torch::zeros({2, 2}), t));
    }
};

QTEST_GUILESS_MAIN(TestContrastiveLoss)
#include "test_contrastive_loss.moc"
