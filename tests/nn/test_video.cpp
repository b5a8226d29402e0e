// The angiography model's parts against tests/nn/video_reference.py: torchvision's video
// ResNets (r3d_18, mc3_18, r2plus1d_18) load by name and give the same logits, training-mode
// outputs and gradients; a wrapper's checkpoint loads through its prefix; the MIL aggregators
// equal the Python definitions and their weights sum to 1 over the real views; the masked loss
// equals torch.nn.functional's on the labelled entries (value and gradient); the whole model
// never encodes padding and gives a study the same outputs alone or in a batch; the video
// Grad-CAM of a study equals its closed form for the mean aggregator and average pooling.
// Torch must come before any Qt header.
#include <torch/torch.h>

#include "explain/video_cam.h"
#include "nn/angio_model.h"
#include "nn/mil.h"
#include "nn/tensor_file.h"
#include "nn/video_resnet.h"

#include "torch_test_support.h"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>

using namespace lumen::nn;

namespace {

bool listed(const std::vector<std::string>& names, const std::string& key) {
    return std::find(names.begin(), names.end(), key) != names.end();
}

MilOptions milOptions(const std::string& mode) {
    MilOptions o;
    o.mode = mode;
    o.dim = 16;
    o.attentionHidden = 8;
    o.heads = 4;
    o.feedforward = 32;
    return o;
}

AngioModelOptions tinyAngio(const std::string& aggregator) {
    AngioModelOptions o;
    o.encoder.arch = "r3d_18";
    o.encoder.widths = {8, 16};
    o.encoder.depths = {1, 1};
    o.encoder.inChannels = 1;
    o.aggregator.mode = aggregator;
    o.aggregator.heads = 2;
    o.aggregator.attentionHidden = 8;
    o.segments = 4;
    return o;
}

}  // namespace

class TestVideo : public QObject {
    Q_OBJECT
    PythonReference reference_;
    std::string file(const std::string& name) const { return reference_.file(name); }

    void compareEncoder(const std::string& arch) {
        VideoResNetOptions o;
        o.arch = arch;
        o.numClasses = 10;
        VideoResNet model(o);
        const auto report = loadVideoEncoderWeights(model, file(arch + ".pt"));
        QVERIFY(report.unexpected.empty());
        QCOMPARE(QString::fromStdString(report.strippedPrefix), QString());
        model->eval();
        const TensorMap io = readTensorFile(file(arch + "_io.pt"));
        torch::NoGradGuard noGrad;
        const double d = maxAbsDiff(model->forward(io.at("x")), io.at("out"));
        qInfo("%s: max |lumen - torchvision| logits %.3g", arch.c_str(), d);
        QVERIFY2(d <= 1e-4, std::to_string(d).c_str());
    }

private slots:
    void initTestCase() {
        torch::set_num_threads(1);
        const std::string error = reference_.run("nn/video_reference.py");
        QVERIFY2(error.empty(), error.c_str());
    }

    void r3dEqualsTorchvision() { compareEncoder("r3d_18"); }
    void mc3EqualsTorchvision() { compareEncoder("mc3_18"); }
    void r2plus1dEqualsTorchvision() { compareEncoder("r2plus1d_18"); }

    void r3dTrainingModeAndGradients() {
        VideoResNetOptions o;
        o.numClasses = 10;
        VideoResNet model(o);
        loadVideoEncoderWeights(model, file("r3d_18.pt"));
        model->train();
        const TensorMap io = readTensorFile(file("r3d_18_io.pt"));
        const auto y = model->forward(io.at("x"));
        y.square().sum().backward();
        const TensorMap own = stateDict(*model);
        const double out = maxAbsDiff(y.detach(), io.at("out_train"));
        const auto gStem = own.at("stem.0.weight").grad(), gFc = own.at("fc.weight").grad();
        const double stem = maxAbsDiff(gStem, io.at("grad_stem")) / io.at("grad_stem").abs().max().item<double>();
        const double fc = maxAbsDiff(gFc, io.at("grad_fc")) / io.at("grad_fc").abs().max().item<double>();
        qInfo("r3d_18 training mode: outputs %.3g, relative gradient stem %.3g, fc %.3g", out, stem, fc);
        QVERIFY2(out <= 1e-4, std::to_string(out).c_str());
        QVERIFY2(stem <= 1e-4, std::to_string(stem).c_str());
        QVERIFY2(fc <= 1e-4, std::to_string(fc).c_str());
    }

    void wrappedCheckpointLoadsThroughItsPrefix() {
        VideoResNet found(VideoResNetOptions{});  // no fc: the file's fc.* is listed, not fatal
        const auto report = loadVideoEncoderWeights(found, file("wrapped_checkpoint.pt"));
        QCOMPARE(QString::fromStdString(report.strippedPrefix), QString("model_state_dict.video_encoder."));
        QVERIFY(listed(report.unexpected, "model_state_dict.video_encoder.fc.weight"));
        QVERIFY(listed(report.unexpected, "model_state_dict.video_encoder.fc.bias"));
        QCOMPARE(report.unexpected.size(), std::size_t(2));
        const TensorMap file0 = readTensorFile(file("r3d_18.pt"));
        QCOMPARE(maxAbsDiff(stateDict(*found).at("layer4.1.conv2.0.weight"), file0.at("layer4.1.conv2.0.weight")), 0.0);
        VideoResNet given(VideoResNetOptions{});
        QVERIFY(loadVideoEncoderWeights(given, file("wrapped_checkpoint.pt"), "model_state_dict.video_encoder.")
                    .strippedPrefix == "model_state_dict.video_encoder.");
        // An architecture the weights are not for: the mis-shaped keys are named with the file.
        VideoResNetOptions mc3;
        mc3.arch = "mc3_18";
        VideoResNet wrong(mc3);
        try {
            loadVideoEncoderWeights(wrong, file("r3d_18.pt"));
            QFAIL("r3d_18 weights loaded into mc3_18");
        } catch (const std::runtime_error& e) {
            const std::string m = e.what();
            QVERIFY2(m.find("r3d_18.pt") != std::string::npos && m.find("layer2.0.conv1.0.weight") != std::string::npos,
                     m.c_str());
        }
    }

    void aggregatorsEqualPython_data() {
        QTest::addColumn<QString>("mode");
        for (const char* m : {"mean", "max", "attention", "cls_token", "attention_cls"}) QTest::newRow(m) << m;
    }
    void aggregatorsEqualPython() {
        QFETCH(QString, mode);
        const std::string m = mode.toStdString();
        MilAggregator agg(milOptions(m));
        if (m != "mean" && m != "max") loadStateDict(*agg, readTensorFile(file("mil_" + m + ".pt")), "mil_" + m);
        agg->eval();
        const TensorMap io = readTensorFile(file("mil_" + m + "_io.pt"));
        torch::NoGradGuard noGrad;
        const auto mask = io.at("mask").to(torch::kBool);
        const MilOutput out = agg->forward(io.at("x"), mask);
        const double pooled = maxAbsDiff(out.pooled, io.at("pooled")), w = maxAbsDiff(out.weights, io.at("weights"));
        qInfo("%s: max |lumen - python| pooled %.3g, weights %.3g", m.c_str(), pooled, w);
        QVERIFY2(pooled <= 1e-5, std::to_string(pooled).c_str());
        QVERIFY2(w <= 1e-6, std::to_string(w).c_str());
        QCOMPARE(out.pooled.size(1), agg->outputDim());
        // Weights: zero on padding, one in all over the real views.
        QCOMPARE(out.weights.masked_select(mask.logical_not()).abs().max().item<double>(), 0.0);
        QVERIFY(maxAbsDiff(out.weights.sum(1), torch::ones({3})) <= 1e-6);
    }

    void unknownAggregatorIsNamed() {
        try {
            MilAggregator agg(milOptions("median"));
            QFAIL("an unknown aggregator was accepted");
        } catch (const std::invalid_argument& e) {
            QVERIFY(std::string(e.what()).find("\"median\"") != std::string::npos);
        }
    }

    void maskedLossEqualsPyTorch() {
        const TensorMap io = readTensorFile(file("loss_io.pt"));
        const auto outputs = io.at("outputs").clone().requires_grad_(true);
        const AngioLoss l = angioLoss(outputs, io.at("targets"), AngioLossOptions{});
        l.total.backward();
        QVERIFY(maxAbsDiff(l.huber, io.at("huber")) <= 1e-12);
        QVERIFY(maxAbsDiff(l.bce, io.at("bce")) <= 1e-12);
        QVERIFY(maxAbsDiff(l.total, io.at("total")) <= 1e-12);
        QVERIFY(maxAbsDiff(outputs.grad(), io.at("grad")) <= 1e-12);
        // Unlabelled entries get no gradient at all (a missing label is never a zero).
        const auto missing = io.at("targets").isnan();
        QVERIFY(missing.any().item<bool>());
        QCOMPARE(outputs.grad().masked_select(missing).abs().max().item<double>(), 0.0);
        // Nothing labelled: a zero loss, not a NaN.
        const auto none = torch::full({2, 10}, std::numeric_limits<double>::quiet_NaN(), torch::kDouble);
        const AngioLoss empty = angioLoss(torch::zeros({2, 10}, torch::kDouble), none, AngioLossOptions{});
        QCOMPARE(empty.total.item<double>(), 0.0);
        QCOMPARE(empty.labelledStenosis, std::int64_t(0));
    }

    void modelSkipsPaddingAndIsBatchInvariant() {
        torch::manual_seed(3);
        AngioMultiview model(tinyAngio("attention_cls"));
        model->eval();
        torch::NoGradGuard noGrad;
        auto videos = torch::randn({3, 4, 1, 4, 24, 24});
        const auto mask = torch::tensor({1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1}, torch::kBool).view({3, 4});
        const AngioOutput out = model->forward(videos, mask);
        QCOMPARE(out.outputs.sizes().vec(), (std::vector<std::int64_t>{3, 20}));
        QVERIFY(maxAbsDiff(out.viewWeights.sum(1), torch::ones({3})) <= 1e-6);
        // Garbage in the padded views changes nothing: they are never encoded.
        auto noisy = videos.clone();
        noisy.index_put_({0, 3}, torch::full({1, 4, 24, 24}, 1e6));
        QCOMPARE(maxAbsDiff(model->forward(noisy, mask).outputs, out.outputs), 0.0);
        // Study 1 alone (cut to its two views) gives what it gave in the batch.
        const AngioOutput alone =
            model->forward(videos.slice(0, 1, 2).slice(1, 0, 2), mask.slice(0, 1, 2).slice(1, 0, 2));
        const double d = maxAbsDiff(alone.outputs, out.outputs.slice(0, 1, 2));
        qInfo("study alone vs in a batch of 3: max difference %.3g", d);
        QVERIFY2(d <= 1e-5, std::to_string(d).c_str());
        const auto predictions = angioPredictions(out.outputs);
        QVERIFY(predictions.min().item<double>() >= 0.0 && predictions.max().item<double>() <= 100.0);
    }

    void modelLearnsAndGradientsReachTheEncoder() {
        torch::manual_seed(4);
        AngioMultiview model(tinyAngio("cls_token"));
        model->train();
        auto videos = torch::randn({2, 2, 1, 4, 16, 16});
        const auto mask = torch::ones({2, 2}, torch::kBool);
        auto targets = torch::full({2, 20}, std::numeric_limits<float>::quiet_NaN());
        targets.index_put_({0, 0}, 80.0);
        targets.index_put_({1, 1}, 1.0);
        const AngioLoss l = angioLoss(model->forward(videos, mask).outputs, targets, AngioLossOptions{});
        l.total.backward();
        QCOMPARE(l.labelledStenosis, std::int64_t(1));
        QCOMPARE(l.labelledBinary, std::int64_t(1));
        const auto g = stateDict(*model).at("encoder.stem.0.weight").grad();
        QVERIFY(g.defined() && g.abs().sum().item<double>() > 0.0);
        QVERIFY(stateDict(*model).count("aggregator.cls_layer.self_attn.in_proj_weight") == 1);
        QVERIFY(stateDict(*model).count("heads.weight") == 1);
    }

    void videoCamEqualsItsClosedForm() {
        // Mean over the R real views, average pool over the n = t h w positions, a Linear head:
        // d out_k / d F_v[c, p] = W[k, c] / (R n) everywhere, so Grad-CAM's (and HiResCAM's)
        // CAM of view v is ReLU(sum_c W[k, c] F_v[c] / (R n)), computed here without autograd.
        torch::manual_seed(5);
        AngioMultiview model(tinyAngio("mean"));
        model->eval();
        auto videos = torch::randn({1, 4, 1, 8, 32, 32});
        const auto mask = torch::tensor({1, 0, 1, 1}, torch::kBool).view({1, 4});
        const std::vector<std::int64_t> columns = {1, 7, 12};
        for (const auto method : {lumen::explain::CamMethod::GradCam, lumen::explain::CamMethod::HiResCam}) {
            const auto cams = lumen::explain::studyVideoCams(model, videos, mask, columns, method);
            QCOMPARE(cams.views, (std::vector<std::int64_t>{0, 2, 3}));
            torch::NoGradGuard noGrad;
            QVERIFY(maxAbsDiff(cams.outputs, model->forward(videos, mask).outputs) <= 1e-6);
            const auto maps = model->encoder()->camFeatures(videos[0].index_select(0, torch::tensor({0, 2, 3}))).map;
            const double n = double(maps.size(2) * maps.size(3) * maps.size(4));
            const auto heads = stateDict(*model).at("heads.weight");
            QCOMPARE(int(cams.cams.size()), 3);
            for (std::size_t i = 0; i < columns.size(); ++i) {
                const auto w = heads[columns[i]].view({1, -1, 1, 1, 1}) / (3.0 * n);
                const auto expected = torch::relu((w * maps).sum(1));
                QCOMPARE(cams.cams[i].sizes().vec(), expected.sizes().vec());
                const double scale = expected.abs().max().item<double>();
                QVERIFY(scale > 0);
                QVERIFY2(maxAbsDiff(cams.cams[i], expected) <= 1e-5 * scale, std::to_string(i).c_str());
            }
        }
        // A batch of two studies and a column past the outputs are refused by name.
        QVERIFY_THROWS_EXCEPTION(
            std::invalid_argument,
            lumen::explain::studyVideoCams(model, torch::cat({videos, videos}), torch::cat({mask, mask}), {1},
                                           lumen::explain::CamMethod::GradCam));
        QVERIFY_THROWS_EXCEPTION(
            std::invalid_argument,
            lumen::explain::studyVideoCams(model, videos, mask, {20}, lumen::explain::CamMethod::GradCam));
    }
};

QTEST_GUILESS_MAIN(TestVideo)
#include "test_video.moc"
