// mvit_v2_s (core/nn/mvit.*) against tests/nn/mvit_reference.py: torchvision's state dict loads
// by name with nothing left over, the eval-mode logits and the gradient into the patch
// embedding equal torchvision's; a wrapper's checkpoint loads through its prefix with the
// classifier listed; weights of another architecture are refused naming the file; split at the
// last block (Grad-CAM's layer) the encoder gives the same embedding; an angiography model on
// it gives a study's video Grad-CAM over every real view. Torch must come before any Qt header.
#include <torch/torch.h>

#include "explain/video_cam.h"
#include "nn/angio_model.h"
#include "nn/mvit.h"
#include "nn/tensor_file.h"

#include "torch_test_support.h"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>

using namespace lumen::nn;

namespace {

VideoEncoderOptions mvitOptions(std::int64_t classes) {
    VideoEncoderOptions o;
    o.arch = "mvit_v2_s";
    o.frames = 8;
    o.resolution = 64;
    o.numClasses = classes;
    return o;
}

}  // namespace

class TestMViT : public QObject {
    Q_OBJECT
    PythonReference reference_;
    std::string file(const std::string& name) const { return reference_.file(name); }

private slots:
    void initTestCase() {
        torch::set_num_threads(1);
        const std::string error = reference_.run("nn/mvit_reference.py");
        QVERIFY2(error.empty(), error.c_str());
    }

    void equalsTorchvision() {
        MViT model(mvitOptions(10));
        const auto report = loadVideoEncoderWeights(*model, file("mvit_v2_s.pt"));
        QVERIFY(report.unexpected.empty());
        QCOMPARE(QString::fromStdString(report.strippedPrefix), QString());
        model->eval();
        const TensorMap io = readTensorFile(file("mvit_v2_s_io.pt"));
        const auto y = model->forward(io.at("x"));
        const double logits = maxAbsDiff(y.detach(), io.at("out"));
        y.square().sum().backward();
        const auto g = stateDict(*model).at("conv_proj.weight").grad();
        const auto gRef = io.at("grad_conv_proj");
        const double grad = maxAbsDiff(g, gRef) / gRef.abs().max().item<double>();
        qInfo("mvit_v2_s: max |lumen - torchvision| logits %.3g (scale %.3g), relative gradient %.3g", logits,
              io.at("out").abs().max().item<double>(), grad);
        QVERIFY2(logits <= 1e-4, std::to_string(logits).c_str());
        QVERIFY2(grad <= 1e-4, std::to_string(grad).c_str());
        // Split where Grad-CAM looks (the tokens entering the last block): the same logits.
        torch::NoGradGuard noGrad;
        const auto split = model->camFeatures(io.at("x"));
        QCOMPARE(split.map.sizes().vec(), (std::vector<std::int64_t>{2, 768, 4, 2, 2}));
        QCOMPARE(split.token.sizes().vec(), (std::vector<std::int64_t>{2, 768}));
        QVERIFY(maxAbsDiff(model->camHead(split), y.detach()) <= 1e-5);
        QCOMPARE(QString::fromStdString(model->camLayer()), QString("blocks.15"));
    }

    void wrappedCheckpointAndWrongWeights() {
        auto encoder = makeVideoEncoder(mvitOptions(0));  // no classifier: the file's head is listed
        const auto report = loadVideoEncoderWeights(*encoder, file("mvit_wrapped.pt"));
        QCOMPARE(QString::fromStdString(report.strippedPrefix), QString("state_dict.module."));
        QCOMPARE(report.unexpected.size(), std::size_t(2));
        QVERIFY(std::find(report.unexpected.begin(), report.unexpected.end(), "state_dict.module.head.1.weight") !=
                report.unexpected.end());
        const TensorMap reference = readTensorFile(file("mvit_v2_s.pt"));
        QCOMPARE(maxAbsDiff(stateDict(*encoder).at("blocks.7.attn.rel_pos_t"), reference.at("blocks.7.attn.rel_pos_t")),
                 0.0);
        // Tables built for another clip size do not take these weights: the mis-shaped keys named.
        VideoEncoderOptions wider = mvitOptions(0);
        wider.resolution = 96;
        MViT other(wider);
        try {
            loadVideoEncoderWeights(*other, file("mvit_v2_s.pt"));
            QFAIL("96² tables took 64² weights");
        } catch (const std::runtime_error& e) {
            const std::string m = e.what();
            QVERIFY2(m.find("mvit_v2_s.pt") != std::string::npos && m.find("rel_pos_h") != std::string::npos, e.what());
        }
        auto o = mvitOptions(0);
        o.widths = {8};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, makeVideoEncoder(o));
        o = mvitOptions(0);
        o.arch = "mvit_v9";
        try {
            makeVideoEncoder(o);
            QFAIL("an unknown encoder was made");
        } catch (const std::invalid_argument& e) {
            QVERIFY2(std::string(e.what()).find("mvit_v2_s") != std::string::npos, e.what());
        }
        // It runs on clips of another size than its tables (4 frames at 64²: tables interpolated).
        torch::NoGradGuard noGrad;
        other->eval();
        const auto y = other->forward(torch::randn({1, 3, 4, 64, 64}));
        QCOMPARE(y.sizes().vec(), (std::vector<std::int64_t>{1, 768}));
        QVERIFY(torch::isfinite(y).all().item<bool>());
    }

    void angioModelExplainsAStudy() {
        AngioModelOptions o;
        o.encoder = mvitOptions(0);
        o.encoder.inChannels = 1;
        o.encoder.frames = 4;
        o.aggregator.mode = "attention";
        o.aggregator.attentionHidden = 16;
        o.segments = 2;
        torch::manual_seed(3);
        AngioMultiview model(o);
        model->eval();
        QCOMPARE(QString::fromStdString(model->encoder()->camLayer()), QString("blocks.15"));
        const auto videos = torch::randn({1, 3, 1, 4, 64, 64});
        const auto mask = torch::tensor({1, 0, 1}, torch::kBool).view({1, 3});
        const auto cams =
            lumen::explain::studyVideoCams(model, videos, mask, {1, 6}, lumen::explain::CamMethod::GradCam);
        QCOMPARE(cams.views, (std::vector<std::int64_t>{0, 2}));
        QCOMPARE(int(cams.cams.size()), 2);
        for (const auto& cam : cams.cams) {
            QCOMPARE(cam.sizes().vec(), (std::vector<std::int64_t>{2, 2, 2, 2}));  // (views, t, h, w)
            QVERIFY(torch::isfinite(cam).all().item<bool>());
            QVERIFY(cam.min().item<double>() >= 0.0);
        }
        torch::NoGradGuard noGrad;
        QVERIFY(maxAbsDiff(cams.outputs, model->forward(videos, mask).outputs) <= 1e-5);
    }
};

QTEST_GUILESS_MAIN(TestMViT)
#include "test_mvit.moc"
