// Grad-CAM of any named layer of a TorchScript module (core/explain/script_layers.*): torchvision
// models scripted by Python with random weights (resnet18, densenet121, convnext_tiny, the 3-D
// r3d_18, a small ViT whose tokens become a grid), against pytorch-grad-cam's definitions
// computed with a forward hook on the eager model (layer_cam_reference.py); the default layer;
// the layer listing; `lumen-cli explain --list-layers` and `--layer` end to end.
// Torch must come before any Qt header (Qt's `slots` macro breaks ATen's headers).
#include <torch/torch.h>

#include "explain/cam_job.h"
#include "explain/grad_cam.h"
#include "explain/heatmap.h"
#include "explain/script_layers.h"
#include "io/npy_writer.h"
#include "nn/tensor_file.h"
#include "util/atomic_file.h"

#include "../test_support.h"

#include "torch_test_support.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

using namespace lumen;
using namespace lumen::explain;

namespace {}  // namespace

class TestLayerCam : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::filesystem::path d_;
    nn::TensorMap ref_;

    std::filesystem::path file(const std::string& name) const { return d_ / name; }
    torch::Tensor ref(const std::string& key) const {
        const auto it = ref_.find(key);
        if (it == ref_.end()) throw std::runtime_error("reference has no " + key);
        return it->second;
    }

    /// Every method and target of one model's layer against the Python reference.
    void compare(const std::string& name, const std::string& layer, const std::vector<int>& targets) {
        auto model = loadCamModel(file(name + ".pt"));
        const SplitForward sf = model->forward(ref(name + ".x"), layer);
        const double logitDiff = maxAbsDiff(sf.logits, ref(name + ".logits"));
        QVERIFY2(logitDiff <= 1e-5, (name + ": logits differ by " + std::to_string(logitDiff)).c_str());
        int nonZero = 0;  // a CAM may be all zero after the ReLU (random weights); most are not
        for (int t : targets)
            for (const auto m : {CamMethod::GradCam, CamMethod::GradCamPlusPlus, CamMethod::HiResCam}) {
                const std::string key = name + "." + layer + "." + camMethodName(m) + "_" + std::to_string(t);
                const torch::Tensor expected = ref(key);
                // One score per sample: the sum over the batch is what the reference differentiates.
                const torch::Tensor cam = camFromFeatures(sf.features, sf.logits.select(1, t), m, sf.toGrid);
                const double scale = std::max(1.0, expected.abs().max().item<double>());
                const double diff = maxAbsDiff(cam, expected);
                qInfo("%s: max |lumen - python| = %.3g (CAM max %.3g)", key.c_str(), diff,
                      expected.max().item<double>());
                nonZero += expected.max().item<double>() > 0 ? 1 : 0;
                QVERIFY2(diff <= 1e-5 * scale, (key + ": differs by " + std::to_string(diff)).c_str());
            }
        QVERIFY2(nonZero * 2 >= int(targets.size()) * 3,
                 (name + "." + layer + ": most reference CAMs are zero").c_str());
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        d_ = dir_.path().toStdString();
        torch::set_num_threads(1);
        QProcess py;
        py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                 {QStringLiteral(LUMEN_SOURCE_DIR "/tests/explain/layer_cam_reference.py"), dir_.path()});
        QVERIFY2(py.waitForFinished(600000), "python reference timed out");
        const QByteArray log = py.readAllStandardOutput() + py.readAllStandardError();
        QVERIFY2(py.exitCode() == 0 && py.exitStatus() == QProcess::NormalExit, log.constData());
        ref_ = nn::readTensorFile(file("layer_ref.pt"));
    }

    void resnet18InnerLayers() {
        compare("resnet18", "layer3", {0, 7});
        compare("resnet18", "layer4", {0, 7});
    }
    void densenet121DenseBlocks() {
        compare("densenet121", "features.denseblock4", {1, 4});
        compare("densenet121", "features.denseblock3", {1, 4});
    }
    void convnextTinyStage() { compare("convnext_tiny", "features.5", {2}); }
    void r3d18VideoLayer() { compare("r3d_18", "layer3", {0, 2}); }
    void vitTokensBecomeAGrid() {
        // The last block's first LayerNorm (pytorch-grad-cam's choice for ViTs): at a block's
        // output only the class token reaches the head, so the grid's gradient would be zero.
        compare("vit_tiny", "encoder.layers.encoder_layer_1.ln_1", {0, 1});
    }

    void repeatedCallsKeepTheGraph() {
        // One model, many batches (the CAM job's loop): every call must equal the reference.
        auto model = loadCamModel(file("seqrelu.pt"));
        for (int call = 0; call < 4; ++call) {
            const SplitForward sf = model->forward(ref("seqrelu.x"), "features");
            for (int t : {0, 3}) {
                const auto cam = camFromFeatures(sf.features, sf.logits.select(1, t), CamMethod::GradCam, sf.toGrid);
                const auto expected = ref("seqrelu.features.gradcam_" + std::to_string(t));
                QVERIFY2(maxAbsDiff(cam, expected) <= 1e-5 * std::max(1.0, expected.max().item<double>()),
                         ("call " + std::to_string(call)).c_str());
            }
        }
    }

    void defaultLayerIsTheLastFeatureMap() {
        // resnet18's children: ... layer4 (N,512,2,2), avgpool (N,512,1,1: one position), fc.
        auto model = loadCamModel(file("resnet18.pt"));
        QCOMPARE(model->layers().front(), std::string("default"));
        const SplitForward sf = model->forward(ref("resnet18.x"), "");
        QVERIFY2(model->description().find("layer4") != std::string::npos, model->description().c_str());
        const auto cam = camFromFeatures(sf.features, sf.logits.select(1, 7), CamMethod::GradCam, sf.toGrid);
        QVERIFY(maxAbsDiff(cam, ref("resnet18.layer4.gradcam_7")) <= 1e-5);
        // r3d_18 likewise picks layer4; the ViT its patch embedding, a map (its encoder's tokens
        // would get no gradient outside the class token).
        auto r3d = torch::jit::load(file("r3d_18.pt").string());
        QCOMPARE(*defaultLayer(r3d, ref("r3d_18.x")), std::string("layer4"));
        auto vit = torch::jit::load(file("vit_tiny.pt").string());
        QCOMPARE(*defaultLayer(vit, ref("vit_tiny.x")), std::string("conv_proj"));
    }

    void layerListingShapes() {
        auto m = torch::jit::load(file("resnet18.pt").string());
        m.eval();
        const auto probe = probeInput(m, {64, 64});
        QCOMPARE(probe.sizes().vec(), (std::vector<std::int64_t>{1, 3, 64, 64}));
        const auto layers = layerOutputs(m, probe);
        QCOMPARE(layers.size(), submodulePaths(m).size());
        std::map<std::string, LayerOutput> byPath;
        for (const auto& l : layers) byPath[l.path] = l;
        QCOMPARE(byPath.at("layer3").shape, (std::vector<std::int64_t>{1, 256, 4, 4}));
        QVERIFY(byPath.at("layer3").explainable);
        QCOMPARE(byPath.at("layer4.1.conv2").shape, (std::vector<std::int64_t>{1, 512, 2, 2}));
        QCOMPARE(byPath.at("fc").shape, (std::vector<std::int64_t>{1, 15}));
        QVERIFY(!byPath.at("fc").explainable);
        // Execution order: conv1 first, fc last among the tapped ones.
        QCOMPARE(layers.front().path, std::string("conv1"));
        QCOMPARE(layers.at(submodulePaths(m).size() - 1).path, std::string("fc"));
        // The ViT's encoder layers give tokens (1, 17, 32): class token + 4x4 grid.
        auto vit = torch::jit::load(file("vit_tiny.pt").string());
        for (const auto& l : layerOutputs(vit, probeInput(vit, {32, 32})))
            if (l.path == "encoder.layers.encoder_layer_0") {
                QCOMPARE(l.shape, (std::vector<std::int64_t>{1, 17, 32}));
                QVERIFY(l.explainable);
                QCOMPARE(l.note, std::string("tokens -> grid 4x4"));
            }
    }

    void tokenRule() {
        const auto t = torch::arange(2 * 5 * 3, torch::kFloat).reshape({2, 5, 3});  // 1 class + 2x2
        const auto g = tokensToGrid(t, 2, "x");
        QCOMPARE(g.sizes().vec(), (std::vector<std::int64_t>{2, 3, 2, 2}));
        // channel c at (i, j) is token 1 + 2i + j's feature c
        QCOMPARE(g[1][2][1][0].item<float>(), t[1][1 + 2 * 1 + 0][2].item<float>());
        // sequence-first (L, N, D) is transposed first
        QCOMPARE(maxAbsDiff(tokensToGrid(t.transpose(0, 1).contiguous(), 2, "x"), g), 0.0);
        const std::string e = errorOf<std::runtime_error>([&] { tokensToGrid(torch::zeros({2, 7, 3}), 2, "blk"); });
        QVERIFY2(e.find("blk") != std::string::npos && e.find("7 tokens") != std::string::npos, e.c_str());
    }

    void unknownLayerIsNamed() {
        auto model = loadCamModel(file("resnet18.pt"));
        const std::string e = errorOf<std::invalid_argument>([&] { model->forward(ref("resnet18.x"), "layer9"); });
        QVERIFY2(e.find("layer9") != std::string::npos && e.find("--list-layers") != std::string::npos, e.c_str());
    }

    void cliListsLayersAndExplainsOne() {
        auto r = runLumenCli(
            {"explain", "--list-layers", QString::fromStdString(file("resnet18.pt").string()), "--size", "64"});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY2(r.out.find("default layer: layer4") != std::string::npos, r.out.c_str());
        QVERIFY2(r.out.find("1x256x4x4") != std::string::npos, r.out.c_str());
        QVERIFY2(r.out.find("probe input: 1x3x64x64") != std::string::npos, r.out.c_str());
        // Images through the CLI at an inner layer: CAMs of layer3's 4x4 grid in the cache.
        std::filesystem::create_directories(file("imgs"));
        for (int i = 0; i < 2; ++i) {
            const torch::Tensor x = ref("resnet18.x")[i].contiguous();
            std::vector<std::size_t> shape(x.sizes().begin(), x.sizes().end());
            util::writeFileAtomically(file("imgs/" + std::to_string(i) + ".npy"),
                                      io::npyBytes(x.data_ptr<float>(), x.numel() * sizeof(float), "<f4", shape));
        }
        r = runLumenCli({"explain", "--model", QString::fromStdString(file("resnet18.pt").string()), "--images",
                         QString::fromStdString(file("imgs").string()), "--workspace",
                         QString::fromStdString(file("ws").string()), "--layer", "layer3", "--labels", "7", "--size",
                         "64", "--no-faithfulness"});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        const auto cache = readCamCache(camCacheDir(file("ws"), file("resnet18.pt"), "layer3", "gradcam"));
        QCOMPARE(cache.entries.size(), std::size_t(2));
        for (const auto& e : cache.entries) {
            const Heatmap h = loadCam(e);
            QCOMPARE(h.shape, (std::vector<std::size_t>{4, 4}));
            // Batch of two in the reference: each image's CAM is its own (scores per sample).
            const auto expected = ref("resnet18.layer3.gradcam_7")[std::stoi(e.id)];
            const auto got = torch::from_blob(const_cast<float*>(h.values.data()), {4, 4}, torch::kFloat);
            QVERIFY2(maxAbsDiff(got, expected) <= 1e-5 * std::max(1.0, expected.max().item<double>()), e.id.c_str());
        }
        r = runLumenCli({"explain", "--list-layers", QString::fromStdString(file("nope.pt").string())});
        QCOMPARE(r.code, 2);
        QVERIFY2((r.out + r.err).find("nope.pt") != std::string::npos, (r.out + r.err).c_str());
    }
};

QTEST_GUILESS_MAIN(TestLayerCam)
#include "test_layer_cam.moc"
