// The pieces of the ct_multilabel task below the plugin: focal / BCE losses against
// torchvision and PyTorch (/usr/bin/python3), the 3-D ResNet's feature/head split, the
// trainer's freeze schedule on it, and volume preprocessing (orientation, resampling against
// torch's trilinear interpolate, HU window, DICOM series == NIfTI of the same volume).
#include "test_support.h"

#include "data/volume_preprocessing.h"
#include "demo/demo_workspace.h"
#include "io/npy_writer.h"
#include "io/read_error.h"
#include "jobs/job.h"
#include "nn/multilabel_loss.h"
#include "nn/resnet3d.h"
#include "nn/torchscript_export.h"
#include "train/trainer.h"
#include "util/atomic_file.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace lumen;

namespace {

void writeTensor(const fs::path& file, const torch::Tensor& t) {
    const auto c = t.to(torch::kFloat).contiguous();
    std::vector<std::size_t> shape;
    for (auto d : c.sizes()) shape.push_back(static_cast<std::size_t>(d));
    util::writeFileAtomically(file,
                              io::npyBytes(c.data_ptr<float>(), static_cast<std::size_t>(c.numel()) * 4, "<f4", shape));
}

/// A tiny task on random volumes: the ResNet3d's groups for the freeze schedule.
class TinyTask : public train::TrainableTask {
public:
    explicit TinyTask(nn::ResNet3d m) : model_(std::move(m)) {
        torch::manual_seed(0);
        x_ = torch::randn({8, 1, 8, 8, 8});
        y_ = (torch::rand({8, 3}) > 0.5).to(torch::kFloat);
    }
    std::shared_ptr<torch::nn::Module> model() override { return model_.ptr(); }
    std::map<std::string, std::vector<torch::Tensor>> parameterGroups() override {
        return {{"backbone", model_->backbone().parameters()}, {"head", model_->head().parameters()}};
    }
    std::int64_t batchesPerEpoch() override { return 2; }
    void startEpoch(std::int64_t e, std::int64_t first) override {
        if (onEpoch) onEpoch(e);
        next_ = first;
    }
    std::optional<train::TensorBatch> nextBatch() override {
        if (next_ >= 2) return std::nullopt;
        const auto i = next_++;
        return train::TensorBatch{x_.slice(0, i * 4, i * 4 + 4), y_.slice(0, i * 4, i * 4 + 4), {}};
    }
    train::LossOutput loss(const train::TensorBatch& b) override {
        return {nn::sigmoidFocalLoss(model_->forward(b.inputs), b.targets, 0.25, 2.0), {}};
    }
    std::map<std::string, double> validate(const std::function<torch::Tensor(const torch::Tensor&)>&) override {
        return {};
    }
    std::function<void(std::int64_t)> onEpoch;
    nn::ResNet3d model_;

private:
    torch::Tensor x_, y_;
    std::int64_t next_ = 0;
};

std::vector<torch::Tensor> snapshot(torch::nn::Module& m) {
    std::vector<torch::Tensor> out;
    for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
    return out;
}
bool same(const std::vector<torch::Tensor>& a, torch::nn::Module& m) {
    const auto b = m.parameters();
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!torch::equal(a[i], b[i])) return false;
    return true;
}

}  // namespace

class TestCtModel : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private slots:
    void lossesMatchTorchvision() {
        // Fixed tensors: logits spread over [-6, 6], targets with both classes in every label.
        const auto logits = (torch::arange(0, 72, torch::kFloat).mul(0.7).sin() * 6).view({4, 18});
        const auto targets = (torch::arange(0, 72, torch::kFloat).mul(1.3).cos() > 0.2).to(torch::kFloat).view({4, 18});
        const auto posWeight = torch::linspace(0.5, 4.0, 18);
        const fs::path d = dir_.path().toStdString();
        writeTensor(d / "logits.npy", logits);
        writeTensor(d / "targets.npy", targets);
        writeTensor(d / "pos_weight.npy", posWeight);
        const std::vector<std::pair<double, double>> cases = {{0.25, 2.0}, {-1, 0.0}, {0.85, 4.0}, {0.5, 1.5}};
        std::ostringstream py;
        py << "import numpy as np, torch, json\nfrom torchvision.ops import sigmoid_focal_loss\n"
           << "d='" << d.string() << "'\n"
           << "x=torch.from_numpy(np.load(d+'/logits.npy')); t=torch.from_numpy(np.load(d+'/targets.npy'))\n"
           << "w=torch.from_numpy(np.load(d+'/pos_weight.npy'))\nout=[]\n"
           << "for a,g in "
           << "[(0.25,2.0),(-1,0.0),(0.85,4.0),(0.5,1.5)]"
           << ":\n"
           << "  out.append(float(sigmoid_focal_loss(x,t,alpha=a,gamma=g,reduction='mean')))\n"
           << "  out.append(float((sigmoid_focal_loss(x,t,alpha=a,gamma=g,reduction='none')*(t*w+(1-t))).mean()))\n"
           << "out.append(float(torch.nn.functional.binary_cross_entropy_with_logits(x,t)))\n"
           << "out.append(float(torch.nn.functional.binary_cross_entropy_with_logits(x,t,pos_weight=w)))\n"
           << "print(json.dumps(out))\n";
        const auto script = writeTextFile(dir_, "focal.py", py.str());
        QProcess p;
        p.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"), {QString::fromStdString(script)});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        std::string text = p.readAllStandardOutput().toStdString();
        std::vector<double> ref;
        for (char& ch : text)
            if (ch == '[' || ch == ']' || ch == ',') ch = ' ';
        std::istringstream in(text);
        for (double v; in >> v;) ref.push_back(v);
        QCOMPARE(ref.size(), std::size_t(10));
        std::vector<double> ours;
        for (const auto& [a, g] : cases) {
            ours.push_back(nn::sigmoidFocalLoss(logits, targets, a, g).item<double>());
            ours.push_back(nn::sigmoidFocalLoss(logits, targets, a, g, posWeight).item<double>());
        }
        ours.push_back(nn::bceWithLogitsLoss(logits, targets).item<double>());
        nn::MultiLabelLossOptions o;
        o.type = "bce";
        for (int k = 0; k < 18; ++k) o.posWeight.push_back(posWeight[k].item<double>());
        ours.push_back(nn::multiLabelLoss(logits, targets, o).item<double>());
        double worst = 0;
        for (std::size_t i = 0; i < ref.size(); ++i) {
            worst = std::max(worst, std::abs(ours[i] - ref[i]) / std::max(1e-6, std::abs(ref[i])));
            QVERIFY2(
                std::abs(ours[i] - ref[i]) <= 1e-5 * std::max(1.0, std::abs(ref[i])),
                qPrintable(
                    QString("case %1: ours %2 python %3").arg(i).arg(ours[i], 0, 'g', 10).arg(ref[i], 0, 'g', 10)));
        }
        qInfo("focal/BCE: max relative difference to torchvision/PyTorch %.3g", worst);
        // gamma 0 without alpha is plain BCE.
        QVERIFY(std::abs(ours[2] - ours[8]) < 1e-6);
        // Errors name the key.
        o.posWeight.resize(3);
        QVERIFY(errorOf<std::invalid_argument>([&] {
                    nn::multiLabelLoss(logits, targets, o);
                }).find("loss.pos_weight") != std::string::npos);
    }

    void resnetSplitsAtEveryStage() {
        nn::ResNet3dOptions o;
        o.numClasses = 5;
        nn::ResNet3d m(o);
        m->eval();
        torch::NoGradGuard g;
        const auto x = torch::randn({2, 1, 16, 24, 32});
        const auto logits = m->forward(x);
        QCOMPARE(logits.sizes().vec(), (std::vector<std::int64_t>{2, 5}));
        // small: stem stride 2, stages 1, 2, 1 -> the last map is (16/4, 24/4, 32/4).
        const auto f = m->forwardFeatures(x);
        QCOMPARE(f.sizes().vec(), (std::vector<std::int64_t>{2, 64, 4, 6, 8}));
        QCOMPARE(m->featureStride(), (std::array<std::int64_t, 3>{4, 4, 4}));
        QCOMPARE(m->featureStride(1), (std::array<std::int64_t, 3>{2, 2, 2}));
        for (int s : {1, 2, 3, -1})
            QVERIFY(torch::allclose(m->forwardHead(m->forwardFeatures(x, s), s), logits, 1e-5, 1e-6));
        QVERIFY(errorOf<std::invalid_argument>([&] { m->forwardFeatures(x, 4); }).find("stage 4") != std::string::npos);
        // Configured widths/depths/strides and the named groups.
        o.variant = "r10";
        o.widths = {4, 8};
        o.depths = {2, 1};
        o.strides = {1, 2};
        o.stemStride = {1, 2, 2};
        o.norm = "batch";
        nn::ResNet3d r(o);
        r->eval();
        QCOMPARE(r->forwardFeatures(x).sizes().vec(), (std::vector<std::int64_t>{2, 8, 8, 6, 8}));
        std::vector<std::string> children;
        for (const auto& c : r->named_children()) children.push_back(c.key());
        QCOMPARE(children, (std::vector<std::string>{"features", "classifier"}));
        QVERIFY(r->named_parameters().contains("features.layer1.1.conv2.weight"));
        QVERIFY(r->named_parameters().contains("classifier.fc.weight"));
        o.strides = {1};
        QVERIFY(errorOf<std::invalid_argument>([&] { nn::ResNet3d bad(o); }).find("same length") != std::string::npos);
        o.strides = {1, 2};
        o.pool = "median";
        QVERIFY(errorOf<std::invalid_argument>([&] { nn::ResNet3d bad(o); }).find("model.pool") != std::string::npos);
        o.pool = "avgmax";
        nn::ResNet3d both(o);
        both->eval();
        QCOMPARE(both->forward(x).sizes().vec(), (std::vector<std::int64_t>{2, 5}));
        o.variant = "r99";
        QVERIFY(errorOf<std::invalid_argument>([&] { nn::ResNet3d bad(o); }).find("r99") != std::string::npos);
    }

    void freezeScheduleFreezesTheBackbone() {
        nn::ResNet3dOptions o;
        o.numClasses = 3;
        o.widths = {4, 8, 8};
        TinyTask task{nn::ResNet3d(o)};
        auto& m = task.model_;
        const auto backbone0 = snapshot(m->backbone()), head0 = snapshot(m->head());
        bool checkedAfterFrozen = false;
        task.onEpoch = [&](std::int64_t e) {
            if (e == 1) {  // epoch 1 (frozen) is done: backbone untouched, head trained
                QVERIFY(same(backbone0, m->backbone()));
                QVERIFY(!same(head0, m->head()));
                checkedAfterFrozen = true;
            }
        };
        train::TrainerOptions to;
        to.epochs = 2;
        to.lr = 1e-2;
        to.freezeEpochs = 1;
        to.threads = 2;
        jobs::CancellationToken token;
        jobs::JobContext job(1, token, nullptr);
        train::Trainer(to, task, job).run();
        QVERIFY(checkedAfterFrozen);
        QVERIFY(!same(backbone0, m->backbone()));  // unfrozen in epoch 2
        for (const auto& p : m->backbone().parameters()) QVERIFY(p.requires_grad());
    }

    void preprocessingResamplesLikeTorch() {
        // A 10 x 12 x 7 (x, y, z) volume in RAS order, resampled to half the voxels in x and y.
        io::ImageVolume v;
        v.columns = 10, v.rows = 12, v.depth = 7, v.isVolume = true;
        v.spacing = {1.0, 1.0, 2.0};
        v.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};  // RAS axes in LPS form
        v.values.resize(v.elementCount());
        for (std::size_t i = 0; i < v.values.size(); ++i) v.values[i] = float(std::sin(i * 0.37) * 1500.0);
        data::VolumePreprocessing p;
        p.spacing = {2.0, 2.0, 0};
        p.huMin = -1000;
        p.huMax = 500;
        const auto out = data::prepareVolume(v, p);
        QCOMPARE(out.nx, 5);
        QCOMPARE(out.ny, 6);
        QCOMPARE(out.nz, 7);
        const auto src = torch::from_blob(v.values.data(), {1, 1, 7, 12, 10}, torch::kFloat);
        namespace F = torch::nn::functional;
        auto ref = F::interpolate(src, F::InterpolateFuncOptions()
                                           .size(std::vector<std::int64_t>{7, 6, 5})
                                           .mode(torch::kTrilinear)
                                           .align_corners(false));
        ref = (ref.clamp(-1000, 500) + 1000) * (2.0 / 1500) - 1;
        const auto ours = torch::from_blob(const_cast<float*>(out.values.data()), {1, 1, 7, 6, 5}, torch::kFloat);
        const double diff = (ours - ref).abs().max().item<double>();
        qInfo("resampling: max |ours - torch trilinear| = %.3g", diff);
        QVERIFY(diff < 1e-5);
        // Crop / pad to a size: centred, padding is the window's low end (-1).
        p.size = {3, 8, 7};
        const auto cp = data::prepareVolume(v, p);
        QCOMPARE(cp.nx, 3);
        QCOMPARE(cp.ny, 8);
        const auto cpT = torch::from_blob(const_cast<float*>(cp.values.data()), {7, 8, 3}, torch::kFloat);
        QVERIFY(torch::allclose(cpT.slice(1, 1, 7), ours[0][0].slice(2, 1, 4), 1e-6, 1e-6));
        QVERIFY(torch::all(cpT.select(1, 0) == -1).item<bool>());
        // Mapping a source voxel to the output grid.
        const auto c = cp.fromSourceIndex({4.5, 5.5, 3}, {10, 12, 7});
        QVERIFY(std::abs(c[0] - 1.0) < 1e-9 && std::abs(c[1] - 3.5) < 1e-9 && std::abs(c[2] - 3) < 1e-9);
        // More HU windows: one channel each after the first, from the same resampled HU.
        data::VolumePreprocessing multi = p;
        multi.size = {0, 0, 0};
        multi.extraWindows = {data::parseHuWindow("lung"), data::parseHuWindow("-200:300")};
        QCOMPARE(multi.channels(), 3);
        const auto mo = data::prepareVolume(v, multi);
        QCOMPARE(mo.channels, 3);
        QCOMPARE(mo.values.size(), std::size_t(3 * 7 * 6 * 5));
        const auto moT = torch::from_blob(const_cast<float*>(mo.values.data()), {3, 7, 6, 5}, torch::kFloat);
        QVERIFY(torch::allclose(moT[0], ours[0][0], 1e-6, 1e-6));  // the first is hu_min..hu_max
        auto hu = F::interpolate(src, F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{7, 6, 5})
                                          .mode(torch::kTrilinear)
                                          .align_corners(false))[0][0];
        QVERIFY(
            torch::allclose(moT[1], (hu.clamp(-1350, 150) + 1350) * (2.0 / 1500) - 1, 1e-5, 1e-5));  // lung -600/1500
        QVERIFY(torch::allclose(moT[2], (hu.clamp(-200, 300) + 200) * (2.0 / 500) - 1, 1e-5, 1e-5));
        QVERIFY(data::VolumePreprocessing(multi).toJson().find("\"extra_windows\":[[-1350.0,150.0],[-200.0,300.0]]") !=
                std::string::npos);
        QVERIFY(p.toJson().find("extra_windows") == std::string::npos);  // unchanged without them
        // Window names and LO:HI; anything else is an error naming the text.
        QVERIFY((data::parseHuWindow("mediastinum") == std::array<double, 2>{-160, 240}));
        QVERIFY((data::parseHuWindow("-1000:-500") == std::array<double, 2>{-1000, -500}));
        for (const char* bad : {"lungs", "-500:-1000", "1:2x", ":5", "a:b", ""})
            QVERIFY2(errorOf<std::invalid_argument>([&] {
                         data::parseHuWindow(bad);
                     }).find(std::string("\"") + bad + "\"") != std::string::npos,
                     bad);

        // Not a single-channel volume: an error naming it.
        v.samples = 3;
        QVERIFY(errorOf<std::invalid_argument>([&] { data::prepareVolume(v, p, "x.nii"); }).find("x.nii") !=
                std::string::npos);
    }

    // The exported TorchScript of the 3-D ResNet gives the C++ model's logits, features and
    // head, in LibTorch and in Python's torch.jit.load, for BatchNorm (with running statistics)
    // and GroupNorm, all three pooling heads, uneven strides and several input channels.
    void resnetExportsToTorchScript() {
        torch::manual_seed(5);
        for (const std::string norm : {"batch", "group"}) {
            for (const std::string pool : {"max", "avgmax", "avg"}) {
                nn::ResNet3dOptions o;
                o.variant = "small";
                o.widths = {4, 8, 8};
                o.depths = {1, 2, 1};
                o.strides = {2, 1, 2};
                o.stemStride = {1, 2, 2};
                o.numClasses = 5;
                o.inChannels = 2;
                o.norm = norm;
                o.pool = pool;
                nn::ResNet3d m(o);
                m->train();
                {
                    torch::NoGradGuard noGrad;
                    for (int i = 0; i < 3; ++i) m->forward(torch::randn({2, 2, 12, 16, 16}) * 2 + 0.5);
                }
                m->eval();
                const torch::Tensor x = torch::randn({2, 2, 12, 16, 16});
                torch::NoGradGuard noGrad;
                const torch::Tensor logits = m->forward(x), features = m->forwardFeatures(x);
                const fs::path file = fs::path(dir_.path().toStdString()) / ("resnet3d_" + norm + "_" + pool + ".pt");
                nn::exportTorchScript(m, file);
                auto ts = torch::jit::load(file.string());
                const auto diff = [](const torch::Tensor& a, const torch::Tensor& b) {
                    return (a - b).abs().max().item<double>();
                };
                const std::string what = norm + "/" + pool;
                QVERIFY2(diff(ts.forward({x}).toTensor(), logits) < 1e-5, what.c_str());
                QVERIFY2(diff(ts.run_method("forward_features", x).toTensor(), features) < 1e-5, what.c_str());
                QVERIFY2(diff(ts.run_method("forward_head", features).toTensor(), logits) < 1e-5, what.c_str());
                std::size_t named = 0;
                for (const auto& p : ts.named_parameters()) named += m->named_parameters().contains(p.name);
                QCOMPARE(named, m->named_parameters().size());
                if (norm != "batch" || pool != "max") continue;
                // Python: the same file, the same input, the same logits.
                const auto raw = [&](const std::string& name, const torch::Tensor& t) {
                    const torch::Tensor c = t.contiguous();
                    std::ofstream(fs::path(dir_.path().toStdString()) / name, std::ios::binary)
                        .write(reinterpret_cast<const char*>(c.data_ptr<float>()), std::streamsize(c.numel() * 4));
                };
                raw("x.f32", x);
                raw("logits.f32", logits);
                const std::string script = (fs::path(dir_.path().toStdString()) / "ts.py").string();
                std::ofstream(script)
                    << "import sys, numpy as np, torch\n"
                       "d = sys.argv[1]\n"
                       "m = torch.jit.load(d + '/resnet3d_batch_max.pt')\n"
                       "x = torch.from_numpy(np.fromfile(d + '/x.f32', dtype=np.float32).reshape(2, 2, 12, 16, 16))\n"
                       "want = np.fromfile(d + '/logits.f32', dtype=np.float32).reshape(2, 5)\n"
                       "with torch.no_grad(): got = m(x).numpy()\n"
                       "print(float(np.abs(got - want).max()))\n";
                QProcess p;
                p.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                        {QString::fromStdString(script), dir_.path()});
                QVERIFY(p.waitForFinished(120000));
                const QString out = QString::fromUtf8(p.readAllStandardOutput()).trimmed();
                QVERIFY2(p.exitCode() == 0, qPrintable(QString::fromUtf8(p.readAllStandardError())));
                qInfo("3-D ResNet TorchScript in Python: max |logits - C++| = %s", qPrintable(out));
                QVERIFY2(out.toDouble() < 1e-5, qPrintable(out));
            }
        }
    }

    void dicomSeriesEqualsNifti() {
        const fs::path ws = fs::path(dir_.path().toStdString()) / "demo";
        demo::DemoOptions o;
        o.chestImages = 0;
        o.ctVolumes = 2;
        o.angioStudies = 0;
        o.predictionStudies = 0;
        demo::createDemoWorkspace(ws, o);
        data::VolumePreprocessing p;
        p.spacing = {3.0, 3.0, 5.0};
        p.size = {40, 40, 20};
        const auto a = data::prepareVolume(data::readCtVolume(ws / "ct/volumes/ct_0001.nii.gz"), p);
        const auto b = data::prepareVolume(data::readCtVolume(ws / "ct/dicom/ct_0001"), p);
        QCOMPARE(a.nx, 40);
        QCOMPARE(a.nz, 20);
        QCOMPARE(b.values.size(), a.values.size());
        double worst = 0;
        for (std::size_t i = 0; i < a.values.size(); ++i)
            worst = std::max(worst, double(std::abs(a.values[i] - b.values[i])));
        QVERIFY2(worst < 1e-5, qPrintable(QString("max difference %1").arg(worst)));
        for (int i = 0; i < 3; ++i) QVERIFY(std::abs(a.originRas[std::size_t(i)] - b.originRas[std::size_t(i)]) < 1e-3);
        QVERIFY(a.flipped == (std::array<bool, 3>{false, false, false}));  // the NIfTI is RAS already
        QVERIFY(b.flipped == (std::array<bool, 3>{true, true, false}));    // DICOM LPS rows/columns flipped
        QVERIFY(errorOf<io::ReadError>([&] { data::readCtVolume(ws / "ct/labels.csv"); }).find("labels.csv") !=
                std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestCtModel)
#include "test_ct_model.moc"
