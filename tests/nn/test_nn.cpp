// core/nn against Python references (tests/nn/nn_reference.py, Debian's torch 1.13 and
// torchvision 0.14): ConvNeXt forward, torchvision weights loaded into our ConvNeXt, the
// top-k mask, every ROI-consistency loss component and gradients.
// Torch must come before any Qt header (Qt's `slots` macro breaks ATen's headers).
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "nn/convnext.h"
#include "nn/roi_consistency.h"
#include "nn/layer_norm_bf16.h"
#include "nn/tensor_file.h"
#include "nn/torchscript_export.h"

#include <torch/script.h>

#include "torch_test_support.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <fstream>
#include <functional>

using namespace lumen::nn;

namespace {

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kDouble); }

/// Gives every block a visible contribution (layer_scale 1e-6 would hide wrong blocks).
void randomizeScales(torch::nn::Module& m) {
    torch::NoGradGuard g;
    for (auto& p : m.named_parameters(true)) {
        const std::string& n = p.key();
        if (n.size() >= 11 && n.compare(n.size() - 11, 11, "layer_scale") == 0) p.value().uniform_(0.2, 1.0);
        else if (p.value().dim() == 1 && n.find("maskNet") == std::string::npos && n.find("norm") == std::string::npos)
            p.value().normal_(n.find("bias") != std::string::npos ? 0.0 : 1.0, 0.1);
    }
}

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

}  // namespace

class TestNn : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::filesystem::path d_;
    ConvNeXt atto_{nullptr};
    torch::Tensor attoX_;
    RoiConsistencyModel roi_{nullptr};
    RoiOutputs roiOut_;
    RoiLoss roiLoss_;
    RoiLossWeights weights_;
    TensorMap lossIn_, topkIn_;
    torch::Tensor targets_, roiImages_;

    std::filesystem::path file(const char* name) const { return d_ / name; }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        d_ = dir_.path().toStdString();
        torch::manual_seed(7);
        torch::set_num_threads(1);

        // ConvNeXt-atto forward.
        atto_ = ConvNeXt(ConvNeXtOptions{"atto", 5, 3, 0.0, 1e-6});
        randomizeScales(*atto_);
        atto_->eval();
        attoX_ = torch::randn({2, 3, 64, 64});
        writeTensorFile(file("atto_params.pt"), stateDict(*atto_));
        writeTensorFile(file("atto_in.pt"), {{"x", attoX_}, {"num_classes", torch::tensor(5)}});
        exportTorchScript(atto_, file("atto_ts.pt"));

        // ROI consistency: forward (fused 3N batch), loss, backward.
        roi_ = RoiConsistencyModel(ConvNeXtOptions{"atto", 4, 3, 0.0, 1e-6}, 0.1);
        randomizeScales(*roi_);
        roi_->train();
        const torch::Tensor images = torch::randn({3, 3, 48, 48});
        targets_ = torch::randint(0, 2, {3, 4}).to(torch::kFloat);
        weights_ = RoiLossWeights{1.0, 1.0, 0.5, 1e-3, 1e-4};
        writeTensorFile(file("roi_params.pt"), stateDict(*roi_));
        writeTensorFile(file("roi_in.pt"), {{"images", images},
                                            {"targets", targets_},
                                            {"keep_ratio", scalar(0.1)},
                                            {"w_full", scalar(weights_.full)},
                                            {"w_consist", scalar(weights_.consist)},
                                            {"w_drop", scalar(weights_.drop)},
                                            {"w_sparse", scalar(weights_.sparse)},
                                            {"w_tv", scalar(weights_.tv)}});
        exportTorchScript(roi_, file("roi_ts.pt"));
        roiImages_ = images;
        roiOut_ = roi_->forward(images);
        roiLoss_ = roiConsistencyLoss(roiOut_, targets_, weights_);
        roiLoss_.total.backward();

        // Losses on fixed tensors (different weights so each component shows).
        const RoiLossWeights w{0.7, 1.3, 0.9, 0.11, 0.23};
        lossIn_ = {{"logits_full", torch::randn({4, 5}) * 2},
                   {"logits_crop", torch::randn({4, 5}) * 2},
                   {"logits_drop", torch::randn({4, 5}) * 2},
                   {"soft", torch::rand({4, 1, 9, 7})},
                   {"targets", torch::randint(0, 2, {4, 5}).to(torch::kFloat)},
                   {"w_full", scalar(w.full)},
                   {"w_consist", scalar(w.consist)},
                   {"w_drop", scalar(w.drop)},
                   {"w_sparse", scalar(w.sparse)},
                   {"w_tv", scalar(w.tv)}};
        writeTensorFile(file("loss_in.pt"), lossIn_);

        // Top-k with many ties: scores quantised to eighths.
        topkIn_ = {{"soft", torch::floor(torch::rand({4, 1, 16, 16}) * 8) / 8}, {"keep_ratio", scalar(0.1)}};
        writeTensorFile(file("topk_in.pt"), topkIn_);

        QProcess py;
        const QString python = qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3");
        py.start(python, {QStringLiteral(LUMEN_SOURCE_DIR "/tests/nn/nn_reference.py"), dir_.path()});
        QVERIFY2(py.waitForFinished(600000), "python reference timed out");
        const QByteArray log = py.readAllStandardOutput() + py.readAllStandardError();
        QVERIFY2(py.exitCode() == 0 && py.exitStatus() == QProcess::NormalExit, log.constData());
    }

    void attoForwardMatchesTorchvision() {
        const TensorMap ref = readTensorFile(file("atto_out.pt"));
        torch::NoGradGuard g;
        const torch::Tensor feats = atto_->forwardFeatures(attoX_);
        const torch::Tensor logits = atto_->forward(attoX_);
        QCOMPARE(logits.sizes().vec(), (std::vector<std::int64_t>{2, 5}));
        const double dl = maxAbsDiff(logits, ref.at("logits"));
        const double df = maxAbsDiff(feats, ref.at("features"));
        qInfo("atto: max |logits - torchvision| = %.3g, features %.3g", dl, df);
        QVERIFY(dl <= 1e-4);
        QVERIFY(df <= 1e-4);
        // Channels-last weights and input give the same numbers.
        ConvNeXt cl(ConvNeXtOptions{"atto", 5, 3, 0.0, 1e-6});
        loadStateDict(*cl, stateDict(*atto_), "copy");
        toChannelsLast(*cl);
        cl->eval();
        QVERIFY(maxAbsDiff(cl->forward(attoX_.contiguous(torch::MemoryFormat::ChannelsLast)), logits) <= 1e-4);
    }

    void parameterNamesAreTorchvisions() {
        const TensorMap sd = stateDict(*atto_);
        QVERIFY(sd.count("features.0.0.weight"));
        QVERIFY(sd.count("features.0.1.bias"));
        QVERIFY(sd.count("features.1.0.layer_scale"));
        QVERIFY(sd.count("features.1.1.block.5.weight"));
        QVERIFY(sd.count("features.2.1.weight"));
        QVERIFY(sd.count("features.5.5.block.2.weight"));
        QVERIFY(sd.count("classifier.0.weight"));
        QVERIFY(sd.count("classifier.2.bias"));
        QCOMPARE(sd.at("features.1.0.layer_scale").sizes().vec(), (std::vector<std::int64_t>{40, 1, 1}));
        // torchvision's strict load_state_dict of our export already passed in the reference.
        const TensorMap roi = stateDict(*roi_);
        QVERIFY(roi.count("maskNet.net.0.weight") && roi.count("maskNet.net.4.bias"));
        QVERIFY(roi.count("classifier.features.7.1.block.3.weight"));
    }

    void torchvisionTinyWeightsLoad() {
        const TensorMap ref = readTensorFile(file("tiny_out.pt"));
        const torch::Tensor x = ref.at("x");
        torch::NoGradGuard g;
        for (const char* name : {"tiny_state_dict.pt", "tiny_checkpoint.pt", "tiny_scripted.pt"}) {
            ConvNeXt tiny(ConvNeXtOptions{"tiny", 1000, 3, 0.0, 1e-6});
            loadPretrained(tiny, file(name));
            tiny->eval();
            const double d = maxAbsDiff(tiny->forward(x), ref.at("logits"));
            qInfo("convnext_tiny from %s: max |logits - torchvision| = %.3g", name, d);
            QVERIFY2(d <= 1e-4, name);
        }
        // 15 classes: the 1000-class head is skipped, the backbone still loads.
        ConvNeXt tiny15(ConvNeXtOptions{"tiny", 15, 3, 0.0, 1e-6});
        loadPretrained(tiny15, file("tiny_state_dict.pt"));
        tiny15->eval();
        QVERIFY(maxAbsDiff(tiny15->forwardFeatures(x), ref.at("features")) <= 1e-4);
        QCOMPARE(tiny15->forward(x).size(1), 15);
    }

    void loadErrorsNameTheProblem() {
        ConvNeXt atto(ConvNeXtOptions{"atto", 15, 3, 0.0, 1e-6});
        const std::string e1 = errorOf([&] { loadPretrained(atto, file("tiny_state_dict.pt")); });
        QVERIFY2(e1.find("tiny_state_dict.pt") != std::string::npos, e1.c_str());
        QVERIFY2(e1.find("shape mismatches") != std::string::npos, e1.c_str());
        QVERIFY2(e1.find("features.0.0.weight: file [96, 3, 4, 4] vs model [40, 3, 4, 4]") != std::string::npos,
                 e1.c_str());
        QVERIFY2(e1.find("unexpected keys") != std::string::npos, e1.c_str());  // tiny's 3rd block of stage 1

        TensorMap partial = readTensorFile(file("atto_params.pt"));
        partial.erase("features.3.1.layer_scale");
        partial["features.9.0.weight"] = torch::zeros({1});
        writeTensorFile(file("partial.pt"), partial);
        ConvNeXt atto5(ConvNeXtOptions{"atto", 5, 3, 0.0, 1e-6});
        const std::string e2 = errorOf([&] { loadPretrained(atto5, file("partial.pt")); });
        QVERIFY2(e2.find("missing keys (1):\n    features.3.1.layer_scale") != std::string::npos, e2.c_str());
        QVERIFY2(e2.find("unexpected keys (1):\n    features.9.0.weight") != std::string::npos, e2.c_str());

        const std::string e3 = errorOf([&] { loadPretrained(atto5, file("loss_in.pt")); });
        QVERIFY2(e3.find("no ConvNeXt weights found") != std::string::npos, e3.c_str());
        std::ofstream(file("legacy.pt"), std::ios::binary) << "\x80\x02garbage";
        const std::string e4 = errorOf([&] { readTensorFile(file("legacy.pt")); });
        QVERIFY2(e4.find("legacy.pt: not a PyTorch zip archive") != std::string::npos, e4.c_str());
        const std::string e5 = errorOf([&] { readTensorFile(file("absent.pt")); });
        QVERIFY2(e5.find("absent.pt: cannot open") != std::string::npos, e5.c_str());
        QVERIFY(!errorOf([] { ConvNeXt(ConvNeXtOptions{"huge"}); }).empty());
    }

    void topkMaskExactKTiesByIndex() {
        const TensorMap ref = readTensorFile(file("topk_out.pt"));
        const torch::Tensor mask = topkMask(topkIn_.at("soft"), 0.1);
        QCOMPARE(topkCount(256, 0.1), std::int64_t(25));
        QVERIFY(torch::equal(mask, ref.at("exact")));
        const torch::Tensor counts = mask.sum({1, 2, 3});
        QVERIFY(torch::all(counts == 25).item<bool>());
        // The original's `>= k-th value` keeps every tie: more than k on these scores.
        qInfo("original top-k kept %s pixels (k = 25)", c10::str(ref.at("original_count")).c_str());
        QVERIFY(torch::any(ref.at("original_count") > 25).item<bool>());
        // bf16 scores (many ties) still give exactly k.
        const torch::Tensor soft16 = torch::rand({2, 1, 224, 224}).to(torch::kBFloat16);
        QVERIFY(torch::all(topkMask(soft16, 0.1).sum({1, 2, 3}) == topkCount(224 * 224, 0.1)).item<bool>());
        QVERIFY(!errorOf([] { topkMask(torch::rand({2, 3, 4, 4}), 0.1); }).empty());
        QVERIFY(!errorOf([] { topkMask(torch::rand({2, 1, 4, 4}), 0.0); }).empty());
    }

    void lossComponentsMatch() {
        const TensorMap ref = readTensorFile(file("loss_out.pt"));
        RoiOutputs o;
        o.logitsFull = lossIn_.at("logits_full").clone().requires_grad_(true);
        o.logitsCrop = lossIn_.at("logits_crop").clone().requires_grad_(true);
        o.logitsDrop = lossIn_.at("logits_drop").clone().requires_grad_(true);
        o.softMask = lossIn_.at("soft").clone().requires_grad_(true);
        const RoiLossWeights w{0.7, 1.3, 0.9, 0.11, 0.23};
        const RoiLoss loss = roiConsistencyLoss(o, lossIn_.at("targets"), w);
        for (const char* c : {"full", "consist", "drop", "sparse", "tv"}) {
            const double d = maxAbsDiff(loss.components.at(c), ref.at(std::string("loss_") + c));
            QVERIFY2(d <= 1e-5, c);
        }
        QVERIFY(maxAbsDiff(loss.total, ref.at("total")) <= 1e-5);
        loss.total.backward();
        QVERIFY(maxAbsDiff(o.logitsFull.grad(), ref.at("grad_full")) <= 1e-6);
        QVERIFY(maxAbsDiff(o.logitsCrop.grad(), ref.at("grad_crop")) <= 1e-6);
        QVERIFY(maxAbsDiff(o.logitsDrop.grad(), ref.at("grad_drop")) <= 1e-6);
        QVERIFY(maxAbsDiff(o.softMask.grad(), ref.at("grad_soft")) <= 1e-6);
        QVERIFY(!errorOf([&] { roiConsistencyLoss(o, torch::zeros({4, 6}), w); }).empty());
    }

    void roiStepMatchesOriginal() {
        const TensorMap ref = readTensorFile(file("roi_out.pt"));
        QVERIFY(maxAbsDiff(roiOut_.softMask, ref.at("soft")) <= 1e-5);
        QVERIFY(torch::equal(roiOut_.hardMask, ref.at("hard")));
        const double dl = std::max({maxAbsDiff(roiOut_.logitsFull, ref.at("logits_full")),
                                    maxAbsDiff(roiOut_.logitsCrop, ref.at("logits_crop")),
                                    maxAbsDiff(roiOut_.logitsDrop, ref.at("logits_drop"))});
        qInfo("roi: max |logits - python| = %.3g", dl);
        QVERIFY(dl <= 1e-4);
        double worstLoss = 0;
        for (const char* c : {"full", "consist", "drop", "sparse", "tv"})
            worstLoss = std::max(worstLoss, maxAbsDiff(roiLoss_.components.at(c), ref.at(std::string("loss_") + c)));
        worstLoss = std::max(worstLoss, maxAbsDiff(roiLoss_.total, ref.at("total")));
        qInfo("roi: max |loss component - python| = %.3g", worstLoss);
        QVERIFY(worstLoss <= 1e-5);
        // Gradients of every parameter (backbone from all three passes, mask net via sparse+TV).
        double worstGrad = 0;
        std::string worstName;
        int compared = 0;
        for (const auto& p : roi_->named_parameters(true)) {
            const auto it = ref.find("grad." + p.key());
            QVERIFY2(it != ref.end(), p.key().c_str());
            QVERIFY2(p.value().grad().defined(), p.key().c_str());
            const double d = maxAbsDiff(p.value().grad(), it->second);
            if (d > worstGrad) worstGrad = d, worstName = p.key();
            ++compared;
        }
        qInfo("roi: %d parameter gradients, max |grad - python| = %.3g (%s)", compared, worstGrad, worstName.c_str());
        QVERIFY(worstGrad <= 1e-4);
        // The mask net gets gradient only through the soft mask, as in the original.
        QVERIFY(roi_->maskNet()->parameters()[0].grad().abs().sum().item<double>() > 0);
    }

    void fusedBatchEqualsThreeCalls() {
        roi_->eval();
        torch::NoGradGuard g;
        const torch::Tensor images = torch::randn({2, 3, 32, 32});
        roi_->setFusedBatch(true);
        const RoiOutputs a = roi_->forward(images);
        roi_->setFusedBatch(false);
        const RoiOutputs b = roi_->forward(images);
        roi_->setFusedBatch(true);
        QVERIFY(maxAbsDiff(a.logitsFull, b.logitsFull) <= 1e-5);
        QVERIFY(maxAbsDiff(a.logitsCrop, b.logitsCrop) <= 1e-5);
        QVERIFY(maxAbsDiff(a.logitsDrop, b.logitsDrop) <= 1e-5);
        roi_->train();
    }

    void bf16AutocastRuns() {
        // LayerNorm in fp32 under autocast: without it LibTorch 1.13 throws on bf16 input.
        torch::NoGradGuard g;
        const torch::Tensor ref = atto_->forward(attoX_);
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        at::autocast::set_cpu_enabled(true);
        torch::Tensor logits;
        const std::string e = errorOf([&] { logits = atto_->forward(attoX_); });
        at::autocast::set_cpu_enabled(false);
        at::autocast::clear_cache();
        QVERIFY2(e.empty(), e.c_str());
        QCOMPARE(logits.scalar_type(), torch::kBFloat16);
        const double d = maxAbsDiff(logits, ref);
        qInfo("atto bf16 autocast vs fp32: max |diff| = %.3g", d);
        QVERIFY(d < 0.25 * std::max(1.0, ref.abs().max().item<double>()));
    }

    void torchScriptExportRunsEverywhere() {
        // Python: torch.jit.load(Lumen's export) gives our logits, names are torchvision's.
        const TensorMap ref = readTensorFile(file("atto_out.pt"));
        torch::NoGradGuard g;
        const torch::Tensor logits = atto_->forward(attoX_);
        QVERIFY(maxAbsDiff(ref.at("ts_logits"), logits) <= 1e-4);
        QVERIFY(maxAbsDiff(ref.at("ts_features"), atto_->forwardFeatures(attoX_)) <= 1e-4);
        QVERIFY(torch::all(ref.at("ts_names")).item<bool>());
        // LibTorch: torch::jit::load, and our own reader maps it back 1:1 (loadPretrained).
        torch::jit::Module ts = torch::jit::load(file("atto_ts.pt").string());
        QVERIFY(maxAbsDiff(ts.forward({attoX_}).toTensor(), logits) <= 1e-4);
        ConvNeXt back(ConvNeXtOptions{"atto", 5, 3, 0.0, 1e-6});
        loadPretrained(back, file("atto_ts.pt"));
        back->eval();
        QVERIFY(maxAbsDiff(back->forward(attoX_), logits) <= 1e-6);
        // ROI model: (full, crop, drop, soft, hard) as our forward in eval mode.
        const TensorMap roiRef = readTensorFile(file("roi_out.pt"));
        roi_->eval();
        const RoiOutputs o = roi_->forward(roiImages_);
        roi_->train();
        QVERIFY(maxAbsDiff(roiRef.at("ts_logits_full"), o.logitsFull) <= 1e-4);
        QVERIFY(maxAbsDiff(roiRef.at("ts_logits_crop"), o.logitsCrop) <= 1e-4);
        QVERIFY(maxAbsDiff(roiRef.at("ts_logits_drop"), o.logitsDrop) <= 1e-4);
        QVERIFY(maxAbsDiff(roiRef.at("ts_soft"), o.softMask) <= 1e-5);
        QVERIFY(torch::equal(roiRef.at("ts_hard"), o.hardMask));
    }

    void bf16LayerNormKernelMatchesCastPath() {
        // layerNormBf16 == bf16(layer_norm(float(x))) and its gradients == the cast path's.
        const torch::Tensor x0 = (torch::randn({3, 5, 7, 96}) * 3 + 1).to(torch::kBFloat16);
        const torch::Tensor w0 = torch::randn({96}) * 0.5 + 1, b0 = torch::randn({96}) * 0.2;
        const torch::Tensor gy = torch::randn({3, 5, 7, 96}).to(torch::kBFloat16);
        torch::Tensor x1 = x0.clone().requires_grad_(true), w1 = w0.clone().requires_grad_(true),
                      b1 = b0.clone().requires_grad_(true);
        const torch::Tensor ref = torch::layer_norm(x1.to(torch::kFloat), {96}, w1, b1, 1e-6).to(torch::kBFloat16);
        ref.backward(gy);
        torch::Tensor x2 = x0.clone().requires_grad_(true), w2 = w0.clone().requires_grad_(true),
                      b2 = b0.clone().requires_grad_(true);
        const torch::Tensor out = layerNormBf16(x2, w2, b2, 1e-6);
        out.backward(gy);
        QCOMPARE(out.scalar_type(), torch::kBFloat16);
        const double scale = ref.to(torch::kFloat).abs().max().item<double>();
        const double dy = maxAbsDiff(out, ref);
        const double dgx = maxAbsDiff(x2.grad(), x1.grad()) / x1.grad().to(torch::kFloat).abs().max().item<double>();
        const double dgw = maxAbsDiff(w2.grad(), w1.grad()) / w1.grad().abs().max().item<double>();
        const double dgb = maxAbsDiff(b2.grad(), b1.grad()) / b1.grad().abs().max().item<double>();
        qInfo("bf16 LayerNorm kernel: |y| %.3g (max %.3g), rel grad x %.3g, w %.3g, b %.3g", dy, scale, dgx, dgw, dgb);
        QVERIFY(dy <= scale / 128);  // at most one bf16 rounding step apart
        QVERIFY(dgx <= 1e-2);
        QVERIFY(dgw <= 1e-4);
        QVERIFY(dgb <= 1e-4);
        // Inside the model under autocast: same logits as the cast path, up to bf16 noise.
        torch::NoGradGuard g;
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        at::autocast::set_cpu_enabled(true);
        const torch::Tensor fused = atto_->forward(attoX_);
        setFusedBf16LayerNorm(false);
        const torch::Tensor cast = atto_->forward(attoX_);
        setFusedBf16LayerNorm(true);
        at::autocast::set_cpu_enabled(false);
        at::autocast::clear_cache();
        qInfo("atto bf16 logits, fused vs cast LayerNorm: max |diff| = %.3g", maxAbsDiff(fused, cast));
        QVERIFY(maxAbsDiff(fused, cast) <= 0.05 * std::max(1.0, cast.to(torch::kFloat).abs().max().item<double>()));
    }

    void exportLoadsInPython() {
        // writeTensorFile's output is what torch.load reads: the reference loaded atto_params.pt
        // into torchvision's ConvNeXt with strict=True. Round trip through our reader too.
        const TensorMap back = readTensorFile(file("atto_params.pt"));
        const TensorMap own = stateDict(*atto_);
        QCOMPARE(back.size(), own.size());
        for (const auto& [n, t] : own) QVERIFY2(torch::equal(back.at(n), t), n.c_str());
    }
};

QTEST_GUILESS_MAIN(TestNn)
#include "test_nn.moc"
