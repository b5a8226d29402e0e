// core/explain in lumen_ml: Grad-CAM / Grad-CAM++ against a by-hand autograd reference
// (grad_cam_reference.py) on TorchScript models saved by Python and on Lumen's own ConvNeXt
// export; toy models that only see one quadrant / octant; ConvNeXt stage layers; batch
// generation into the CAM cache (reuse, faithfulness against Python, cancellation).
// Torch must come before any Qt header (Qt's `slots` macro breaks ATen's headers).
#include <torch/torch.h>

#include "explain/cam_job.h"
#include "explain/grad_cam.h"
#include "explain/heatmap.h"
#include "io/codecs.h"
#include "io/npy_reader.h"
#include "io/npy_writer.h"
#include "jobs/job.h"
#include "nn/convnext.h"
#include "nn/roi_consistency.h"
#include "nn/tensor_file.h"
#include "nn/torchscript_export.h"
#include "util/atomic_file.h"

#include <opencv2/core.hpp>

#include "torch_test_support.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <functional>

using namespace lumen;
using namespace lumen::explain;

namespace {

void writeNpy(const std::filesystem::path& p, const torch::Tensor& t) {
    const torch::Tensor c = t.to(torch::kFloat).contiguous();
    std::vector<std::size_t> shape(c.sizes().begin(), c.sizes().end());
    util::writeFileAtomically(p, io::npyBytes(c.data_ptr<float>(), c.numel() * sizeof(float), "<f4", shape));
}

torch::Tensor toTensor(const Heatmap& h) {
    std::vector<std::int64_t> dims(h.shape.begin(), h.shape.end());
    return torch::from_blob(const_cast<float*>(h.values.data()), dims, torch::kFloat).clone();
}

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no error)";
}

struct Recorder : jobs::JobObserver {
    std::vector<jobs::Progress> progress;
    std::vector<std::string> artifacts, logs;
    void onProgress(jobs::JobId, const jobs::Progress& p) override { progress.push_back(p); }
    void onArtifact(jobs::JobId, const std::string& kind, const std::string&) override { artifacts.push_back(kind); }
    void onLog(jobs::JobId, jobs::LogLevel, const std::string& m) override { logs.push_back(m); }
};

}  // namespace

class TestGradCam : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::filesystem::path d_;
    nn::TensorMap ref_;
    nn::ConvNeXt atto_{nullptr};
    torch::Tensor attoX_;

    std::filesystem::path file(const std::string& name) const { return d_ / name; }
    const torch::Tensor& ref(const std::string& key) const {
        const auto it = ref_.find(key);
        if (it == ref_.end()) throw std::runtime_error("reference has no " + key);
        return it->second;
    }

    /// Every target and method of one Python-saved model against the reference.
    void compareWithPython(const std::string& name, const std::vector<int>& targets, double tolerance) {
        auto model = loadCamModel(file(name + ".pt"));
        const SplitForward sf = model->forward(ref(name + ".x"), "");
        QVERIFY2(maxAbsDiff(sf.logits, ref(name + ".logits")) <= 1e-5, name.c_str());
        for (int t : targets)
            for (const auto m : {CamMethod::GradCam, CamMethod::GradCamPlusPlus, CamMethod::HiResCam}) {
                const std::string key = name + "." + camMethodName(m) + "_" + std::to_string(t);
                const torch::Tensor expected = ref(key);
                const torch::Tensor cam = camFromFeatures(sf.features, sf.logits.select(1, t), m);
                const double scale = std::max(1.0, expected.abs().max().item<double>());
                const double diff = maxAbsDiff(cam, expected);
                qInfo("%s: max |lumen - python| = %.3g (CAM max %.3g)", key.c_str(), diff,
                      expected.max().item<double>());
                QVERIFY2(expected.max().item<double>() > 0, (key + ": the reference CAM is all zero").c_str());
                QVERIFY2(diff <= tolerance * scale, key.c_str());
            }
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        d_ = dir_.path().toStdString();
        torch::manual_seed(11);
        torch::set_num_threads(1);
        atto_ = nn::ConvNeXt(nn::ConvNeXtOptions{"atto", 5, 3, 0.0, 1e-6});
        {
            // Visible layer scales (1e-6 would hide every block from the CAM).
            torch::NoGradGuard g;
            for (auto& p : atto_->named_parameters())
                if (p.key().find("layer_scale") != std::string::npos) p.value().uniform_(0.2, 1.0);
        }
        atto_->eval();
        attoX_ = torch::randn({2, 3, 64, 64});
        nn::exportTorchScript(atto_, file("atto_ts.pt"));
        writeNpy(file("atto_x.npy"), attoX_);
        std::filesystem::create_directories(file("inputs"));
        writeNpy(file("faith_x.npy"), torch::randn({3, 16, 12}));
        std::filesystem::copy_file(file("faith_x.npy"), file("inputs/a.npy"));
        writeNpy(file("inputs/b.npy"), torch::randn({3, 16, 12}));

        QProcess py;
        py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                 {QStringLiteral(LUMEN_SOURCE_DIR "/tests/explain/grad_cam_reference.py"), dir_.path()});
        QVERIFY2(py.waitForFinished(600000), "python reference timed out");
        const QByteArray log = py.readAllStandardOutput() + py.readAllStandardError();
        QVERIFY2(py.exitCode() == 0 && py.exitStatus() == QProcess::NormalExit, log.constData());
        ref_ = nn::readTensorFile(file("ref.pt"));
    }

    void scriptedModelsMatchPython() {
        compareWithPython("toy2d", {0, 3}, 1e-5);
        compareWithPython("tuple2d", {2}, 1e-5);
        compareWithPython("toy3d", {0, 2}, 1e-5);
        compareWithPython("quad2d", {1}, 1e-5);
        compareWithPython("oct3d", {1}, 1e-5);
    }

    void lumenConvNeXtExportMatchesPython() {
        // The same weights natively and through Lumen's TorchScript export, against Python
        // running that export by hand.
        auto native = camModelFromConvNeXt(atto_);
        auto script = loadCamModel(file("atto_ts.pt"));
        QCOMPARE(native->layers().front(), std::string("features.7"));
        QCOMPARE(script->layers().front(), std::string("features"));
        for (auto* model : {native.get(), script.get()}) {
            const SplitForward sf = model->forward(attoX_, "");
            QCOMPARE(sf.features.sizes().vec(), (std::vector<std::int64_t>{2, 320, 2, 2}));
            QVERIFY(maxAbsDiff(sf.logits, ref("atto.logits")) <= 1e-4);
            for (int t : {0, 4})
                for (const auto m : {CamMethod::GradCam, CamMethod::GradCamPlusPlus, CamMethod::HiResCam}) {
                    const std::string key = "atto." + camMethodName(m) + "_" + std::to_string(t);
                    const torch::Tensor cam = camFromFeatures(sf.features, sf.logits.select(1, t), m);
                    const double scale = std::max(1.0, ref(key).abs().max().item<double>());
                    const double diff = maxAbsDiff(cam, ref(key));
                    qInfo("%s %s: max |lumen - python| = %.3g (scale %.3g)", model->description().c_str(), key.c_str(),
                          diff, scale);
                    QVERIFY2(diff <= 1e-5 * scale, key.c_str());
                }
        }
    }

    void camMaxIsWhereTheModelLooks() {
        // quad2d sees only the top-left quadrant, oct3d only the front-top-left octant.
        for (const char* name : {"quad2d", "oct3d"}) {
            auto model = loadCamModel(file(std::string(name) + ".pt"));
            const torch::Tensor x = ref(std::string(name) + ".x");
            const SplitForward sf = model->forward(x, "");
            for (const auto m : {CamMethod::GradCam, CamMethod::GradCamPlusPlus, CamMethod::HiResCam}) {
                const torch::Tensor cams = camFromFeatures(sf.features, sf.logits.select(1, 1), m);
                for (std::int64_t i = 0; i < cams.size(0); ++i) {
                    const torch::Tensor c = cams[i].contiguous();
                    Heatmap h;
                    for (auto s : c.sizes()) h.shape.push_back(std::size_t(s));
                    h.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
                    std::vector<std::size_t> full;
                    for (std::int64_t a = 2; a < x.dim(); ++a) full.push_back(std::size_t(x.size(a)));
                    const torch::Tensor up = toTensor(normalised(upsample(h, full)));
                    const auto arg = up.argmax().item<std::int64_t>();
                    // The unravelled argmax lies in the first half of every axis.
                    std::int64_t rest = arg;
                    bool inside = true;
                    for (std::int64_t a = up.dim() - 1; a >= 0; --a) {
                        const std::int64_t coord = rest % up.size(a);
                        rest /= up.size(a);
                        inside = inside && coord < up.size(a) / 2;
                    }
                    torch::Tensor region = up;
                    for (std::int64_t a = 0; a < up.dim(); ++a) region = region.narrow(a, 0, up.size(a) / 2);
                    const double share = region.sum().item<double>() / up.sum().item<double>();
                    qInfo("%s %s sample %lld: argmax inside %d, CAM mass inside %.3f", name, camMethodName(m).c_str(),
                          static_cast<long long>(i), int(inside), share);
                    QVERIFY(inside);
                    // Seen from outside the region, a uniform CAM gives 1/4 (2-D) or 1/8 (3-D).
                    // The convolution's border and the (tri)linear upsampling bleed a little
                    // across the region's edge, more so across three axes.
                    QVERIFY(share > (up.dim() == 2 ? 0.9 : 0.75));
                }
            }
        }
    }

    void convNeXtStageLayers() {
        auto model = camModelFromConvNeXt(atto_);
        QCOMPARE(model->layers(), (std::vector<std::string>{"features.7", "features.5", "features.3", "features.1"}));
        torch::Tensor full;
        {
            torch::NoGradGuard g;
            full = atto_->forward(attoX_);
        }
        const std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected = {
            {"features.5", {2, 160, 4, 4}}, {"features.3", {2, 80, 8, 8}}, {"features.1", {2, 40, 16, 16}}};
        for (const auto& [layer, shape] : expected) {
            const SplitForward sf = model->forward(attoX_, layer);
            QCOMPARE(sf.features.sizes().vec(), shape);
            QVERIFY2(maxAbsDiff(sf.logits, full) <= 1e-5, layer.c_str());  // the split changes nothing
            const torch::Tensor cam = camFromFeatures(sf.features, sf.logits.select(1, 2), CamMethod::GradCam);
            QCOMPARE(cam.sizes().vec(), (std::vector<std::int64_t>{2, shape[2], shape[3]}));
            QVERIFY(cam.max().item<double>() > 0);
        }
        // Lumen's TorchScript export splits at the same stages, with the same numbers.
        auto script = loadCamModel(file("atto_ts.pt"));
        // Its conventions first, then every submodule by path (tapped: script_layers.h).
        const auto layers = script->layers();
        QCOMPARE(std::vector<std::string>(layers.begin(), layers.begin() + 5),
                 (std::vector<std::string>{"features", "features.5", "features.3", "features.1", "features.7"}));
        QVERIFY(std::find(layers.begin(), layers.end(), "features.4") != layers.end());
        for (const char* layer : {"features.5", "features.1", "features.7"}) {
            const SplitForward a = model->forward(attoX_, layer), b = script->forward(attoX_, layer);
            QVERIFY2(maxAbsDiff(a.features, b.features) <= 1e-5, layer);
            QVERIFY2(maxAbsDiff(b.logits, full) <= 1e-5, layer);
            const torch::Tensor ca = camFromFeatures(a.features, a.logits.select(1, 2), CamMethod::GradCamPlusPlus);
            const torch::Tensor cb = camFromFeatures(b.features, b.logits.select(1, 2), CamMethod::GradCamPlusPlus);
            QVERIFY2(maxAbsDiff(ca, cb) <= 1e-5 * std::max(1.0, ca.max().item<double>()), layer);
        }
        QVERIFY(errorOf([&] { script->forward(attoX_, "features.9"); }).find("features.9") != std::string::npos);
        const std::string e = errorOf([&] { model->forward(attoX_, "features.4"); });
        QVERIFY2(e.find("features.4") != std::string::npos && e.find("features.7, features.5") != std::string::npos,
                 e.c_str());
    }

    void errorsNameTheFileAndTheConvention() {
        // A module without a convention loads (its layers are tapped) but has no feature map to
        // explain: the error names the file and how to name a layer.
        auto plain = loadCamModel(file("plain.pt"));
        std::string e = errorOf([&] { plain->forward(torch::randn({1, 3, 8, 8}), ""); });
        QVERIFY2(e.find("plain.pt") != std::string::npos && e.find("--list-layers") != std::string::npos, e.c_str());
        e = errorOf([&] { plain->forward(torch::randn({1, 3, 8, 8}), "fc"); });
        QVERIFY2(e.find("plain.pt") != std::string::npos && e.find("fc") != std::string::npos &&
                     e.find("(N,C,h,w)") != std::string::npos,
                 e.c_str());
        std::ofstream(file("junk.pt")) << "not a model";
        e = errorOf([&] { loadCamModel(file("junk.pt")); });
        QVERIFY2(e.find("junk.pt") != std::string::npos && e.find("not a TorchScript module") != std::string::npos,
                 e.c_str());
        e = errorOf([&] { loadCamModel(file("missing.pt")); });
        QVERIFY2(e.find("missing.pt") != std::string::npos, e.c_str());
        e = errorOf([&] { camMethodFromName("scorecam"); });
        QVERIFY2(e.find("scorecam") != std::string::npos && e.find("gradcam++") != std::string::npos, e.c_str());
        e = errorOf([&] {
            torch::NoGradGuard g;
            const auto f = torch::randn({1, 2, 3, 3});
            camFromFeatures(f, f.sum({1, 2, 3}), CamMethod::GradCam);
        });
        QVERIFY2(e.find("no gradient") != std::string::npos, e.c_str());
    }

    void generateCamsFillsTheCacheOnce() {
        CamJobOptions o;
        o.model = file("toy2d.pt");
        o.images = file("inputs");
        o.workspace = file("ws");
        o.labels = "0,3";
        o.inputShape = {16, 12};
        o.batchSize = 1;
        for (const char* method : {"gradcam", "gradcam++"}) {
            o.method = method;
            auto rec = std::make_shared<Recorder>();
            jobs::JobContext job(1, {}, rec);
            const CamJobSummary s = generateCams(o, job);
            qInfo("%s", s.text().c_str());
            QCOMPARE(s.images, std::size_t(2));
            QCOMPARE(s.computed, std::size_t(4));
            QCOMPARE(s.reused, std::size_t(0));
            QCOMPARE(s.cacheDir, camCacheDir(o.workspace, o.model, "default", method));
            QVERIFY(!rec->progress.empty() && rec->progress.back().fraction == 1.0);
            QVERIFY(rec->progress.back().etaSeconds.has_value());
            QVERIFY(std::find(rec->artifacts.begin(), rec->artifacts.end(), "cam_cache") != rec->artifacts.end());

            const CamCache cache = readCamCache(s.cacheDir);
            QCOMPARE(cache.entries.size(), std::size_t(4));
            QCOMPARE(cache.method, std::string(method));
            for (int t : {0, 3}) {
                const CamEntry* e = cache.find("a.npy", std::to_string(t));
                QVERIFY(e);
                QCOMPARE(e->target, t);
                QCOMPARE(e->inputH, std::size_t(16));
                QCOMPARE(e->inputW, std::size_t(12));
                const std::string key = std::string("faith.") + method + "_" + std::to_string(t);
                const torch::Tensor cam = toTensor(loadCam(*e));
                QVERIFY2(maxAbsDiff(cam, ref(key + ".cam")) <= 1e-5, key.c_str());
                QVERIFY(std::abs(e->rawMax - ref(key + ".cam").max().item<double>()) <= 1e-5);
                QVERIFY(e->prob && e->probDrop && e->camDrop);
                qInfo("%s: prob %.6f (python %.6f), prob_drop %.6f (python %.6f)", key.c_str(), *e->prob,
                      ref(key + ".prob").item<double>(), *e->probDrop, ref(key + ".prob_drop").item<double>());
                QVERIFY(std::abs(*e->prob - ref(key + ".prob").item<double>()) <= 1e-5);
                QVERIFY(std::abs(*e->probDrop - ref(key + ".prob_drop").item<double>()) <= 1e-5);
                QVERIFY(std::abs(*e->camDrop - (*e->prob - *e->probDrop)) <= 1e-12);
            }
            // Reopening: nothing is computed, the index is the same.
            std::ifstream in(s.cacheDir / "index.csv");
            const std::string before((std::istreambuf_iterator<char>(in)), {});
            jobs::JobContext again(2, {}, std::make_shared<Recorder>());
            const CamJobSummary s2 = generateCams(o, again);
            qInfo("second run: %s", s2.text().c_str());
            QCOMPARE(s2.computed, std::size_t(0));
            QCOMPARE(s2.reused, std::size_t(4));
            std::ifstream in2(s.cacheDir / "index.csv");
            QCOMPARE(std::string((std::istreambuf_iterator<char>(in2)), {}), before);
        }
        // top:1 picks each image's highest logit and reuses the cached ones; scores.csv
        // remembers the logits, so a rerun needs no model.
        o.method = "gradcam";
        o.labels = "top:1";
        jobs::JobContext job(3, {}, std::make_shared<Recorder>());
        const CamJobSummary s = generateCams(o, job);
        const auto logits = readCamCache(s.cacheDir);
        QCOMPARE(s.computed + s.reused, std::size_t(2));
        const io::NpyArray a = io::readNpy(file("faith_x.npy"));
        const torch::Tensor l = ref("faith.gradcam_0.prob");  // sanity: the cache has it
        QVERIFY(l.defined());
        jobs::JobContext job2(4, {}, std::make_shared<Recorder>());
        QCOMPARE(generateCams(o, job2).computed, std::size_t(0));
    }

    void generateCamsOnVolumes() {
        // 3-D: .npy volumes (C, D, H, W) through the octant model; faithfulness with trilinear
        // upsampling of the CAM and a top-k over voxels.
        std::filesystem::create_directories(file("vol"));
        writeNpy(file("vol/v1.npy"), ref("oct3d.x")[0]);
        writeNpy(file("vol/v2.npy"), ref("oct3d.x")[1][0]);  // (D, H, W): one channel implied
        CamJobOptions o;
        o.model = file("oct3d.pt");
        o.images = file("vol");
        o.workspace = file("ws3d");
        o.inputShape = {16, 16, 16};
        o.channels = 1;
        jobs::JobContext job(8, {}, std::make_shared<Recorder>());
        const CamJobSummary s = generateCams(o, job);
        QCOMPARE(s.computed, std::size_t(6));  // 2 volumes x 3 outputs
        const CamCache cache = readCamCache(s.cacheDir);
        const CamEntry* e = cache.find("v2.npy", "1");
        QVERIFY(e);
        QCOMPARE(e->inputD, std::size_t(16));
        const Heatmap h = loadCam(*e);
        QCOMPARE(h.shape, (std::vector<std::size_t>{8, 8, 8}));
        QVERIFY(maxAbsDiff(toTensor(h), ref("oct3d.gradcam_1")[1]) <= 1e-5);
        // The octant holds everything the model sees: removing the CAM's top 10 % lowers it.
        QVERIFY(e->camDrop && *e->camDrop > 0);
        qInfo("oct3d v2 label 1: prob %.4f, prob_drop %.4f", *e->prob, *e->probDrop);
    }

    void generateCamsReadsImagesAndCancels() {
        // PNG images listed in a CSV (id, path), through the evaluation transform.
        std::filesystem::create_directories(file("png"));
        for (int i = 0; i < 3; ++i) {
            cv::Mat img(40, 50, CV_8UC3);
            cv::randu(img, 0, 255);
            std::vector<unsigned char> bytes;
            QVERIFY(io::codecs().imencode(".png", img, bytes, {}));
            util::writeFileAtomically(file("png/img" + std::to_string(i) + ".png"),
                                      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        }
        util::writeFileAtomically(file("png/list.csv"),
                                  "id,path\nfirst,img0.png\nsecond,img1.png\nthird,img2.png\nbroken,nope.png\n");
        CamJobOptions o;
        o.model = file("toy2d.pt");
        o.images = file("png/list.csv");
        o.workspace = file("ws");
        o.labels = "top:2";
        o.labelNames = {"A", "B", "C", "D"};
        o.inputShape = {32, 32};
        o.method = "gradcam++";
        o.layer = "features";
        auto rec = std::make_shared<Recorder>();
        jobs::JobContext job(5, {}, rec);
        const CamJobSummary s = generateCams(o, job);
        QCOMPARE(s.computed, std::size_t(6));
        QVERIFY(s.cacheDir.filename().string().find("_features_gradcam++") != std::string::npos);
        const CamCache cache = readCamCache(s.cacheDir);
        QCOMPARE(cache.entries.size(), std::size_t(6));
        for (const auto& e : cache.entries) {
            QVERIFY(e.label == "A" || e.label == "B" || e.label == "C" || e.label == "D");
            QCOMPARE(loadCam(e).shape, (std::vector<std::size_t>{16, 16}));
        }
        bool warned = false;
        for (const auto& m : rec->logs) warned = warned || m.find("nope.png") != std::string::npos;
        QVERIFY(warned);  // the missing image is named, the others are done

        // The same images listed in infer's preds.json layout: its label names name the outputs.
        util::writeFileAtomically(
            file("png/preds.json"),
            R"([{"image": "first", "path": "img0.png", "labels": {"A": {}, "B": {}, "C": {}, "D": {}}},
                                      {"image": "second", "path": "img1.png", "labels": {}}])");
        CamJobOptions fromJson = o;
        fromJson.images = file("png/preds.json");
        fromJson.labelNames.clear();
        fromJson.labels = "top:1";
        fromJson.cacheDir = file("json_cache");
        jobs::JobContext jsonJob(8, {}, std::make_shared<Recorder>());
        QCOMPARE(generateCams(fromJson, jsonJob).computed, std::size_t(2));
        for (const auto& e : readCamCache(file("json_cache")).entries)
            QVERIFY2(e.label == "A" || e.label == "B" || e.label == "C" || e.label == "D", e.label.c_str());
        util::writeFileAtomically(file("png/bad.json"), "[{\"path\": \"img0.png\"}]");
        fromJson.images = file("png/bad.json");
        jobs::JobContext badJson(9, {}, std::make_shared<Recorder>());
        const std::string jsonError = errorOf([&] { generateCams(fromJson, badJson); });
        QVERIFY2(jsonError.find("bad.json") != std::string::npos && jsonError.find("\"image\"") != std::string::npos,
                 jsonError.c_str());

        // A cancelled job stops with Cancelled and leaves a readable cache.
        o.method = "gradcam";
        jobs::CancellationToken token;
        token.cancel();
        jobs::JobContext cancelled(6, token, std::make_shared<Recorder>());
        bool threw = false;
        try {
            generateCams(o, cancelled);
        } catch (const jobs::Cancelled&) {
            threw = true;
        }
        QVERIFY(threw);
        QVERIFY(readCamCache(camCacheDir(o.workspace, o.model, "features", "gradcam")).entries.empty());

        // Bad options are named.
        o.labels = "Z";
        jobs::JobContext bad(7, {}, std::make_shared<Recorder>());
        const std::string e = errorOf([&] { generateCams(o, bad); });
        QVERIFY2(e.find("\"Z\"") != std::string::npos && e.find("A, B, C, D") != std::string::npos, e.c_str());
    }

    void roiCheckpointAndExportAreExplainable() {
        // A roi_consistency model as the trainer leaves it: a checkpoint archive (labels, image
        // size and normalisation in its config) and the TorchScript export of the best model.
        nn::RoiConsistencyModel roi(nn::ConvNeXtOptions{"atto", 3, 3, 0.0, 1e-6}, 0.1);
        {
            torch::NoGradGuard g;
            for (auto& p : roi->named_parameters())
                if (p.key().find("layer_scale") != std::string::npos) p.value().uniform_(0.2, 1.0);
        }
        roi->eval();
        torch::serialize::OutputArchive a, m;
        a.write("format", c10::IValue(std::int64_t(1)));
        a.write("task", c10::IValue(std::string("roi_consistency")));
        a.write("config_yaml",
                c10::IValue(std::string("task: roi_consistency\nlabels: [Effusion, Mass, Nodule]\nimage_size: 48\n"
                                        "keep_ratio: 0.1\nmodel:\n  variant: atto\n"
                                        "data:\n  mean: [0.5, 0.5, 0.5]\n  std: [0.25, 0.25, 0.25]\n")));
        a.write("config_hash", c10::IValue(std::string("x")));
        for (const char* k : {"epoch", "batch_in_epoch", "step", "seed"}) a.write(k, c10::IValue(std::int64_t(0)));
        roi->save(m);
        a.write("model", m);
        a.save_to(file("roi_ckpt.pt").string());
        nn::exportTorchScript(roi, file("roi_ts.pt"));

        const torch::Tensor x = torch::randn({2, 3, 48, 48});
        auto native = camModelFromConvNeXt(roi->classifier());
        const SplitForward want = native->forward(x, "");
        const torch::Tensor wantCam = camFromFeatures(want.features, want.logits.select(1, 1), CamMethod::GradCam);
        auto ckpt = loadCamModel(file("roi_ckpt.pt"));
        QCOMPARE(ckpt->labelNames, (std::vector<std::string>{"Effusion", "Mass", "Nodule"}));
        QCOMPARE(ckpt->inputShape, (std::vector<std::size_t>{48, 48}));
        QCOMPARE(ckpt->mean, (std::vector<float>{0.5f, 0.5f, 0.5f}));
        QCOMPARE(ckpt->stdev, (std::vector<float>{0.25f, 0.25f, 0.25f}));
        QVERIFY(ckpt->layers().size() == 4);
        auto script = loadCamModel(file("roi_ts.pt"));
        for (auto* model : {ckpt.get(), script.get()}) {
            const SplitForward sf = model->forward(x, "");
            const torch::Tensor cam = camFromFeatures(sf.features, sf.logits.select(1, 1), CamMethod::GradCam);
            qInfo("%s: max |cam - native| = %.3g", model->description().c_str(), maxAbsDiff(cam, wantCam));
            QVERIFY(maxAbsDiff(sf.logits, want.logits) <= 1e-5);
            QVERIFY(maxAbsDiff(cam, wantCam) <= 1e-5 * std::max(1.0, wantCam.max().item<double>()));
        }
    }

    void cliExplainWritesTheCache() {
        const QString cli = QStringLiteral(LUMEN_BINARY_DIR "/bin/lumen-cli");
        bool traceLibraries = false;
        const auto run = [&](const QStringList& args, QString* out = nullptr) {
            QProcess p;
            if (traceLibraries) {
                // The dynamic loader names every library it opens: shows whether LibTorch came in.
                QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
                env.insert("LD_DEBUG", "files");
                p.setProcessEnvironment(env);
            }
            p.start(cli, args);
            if (!p.waitForFinished(300000)) {
                p.kill();
                p.waitForFinished();
                if (out) *out = "lumen-cli timed out and was killed";
                return -1;
            }
            const QString all = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
            if (out) *out = all;
            return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        };
        const QString ws = QString::fromStdString(file("cliws").string());
        QString out;
        const QStringList args = {"explain",
                                  "--model",
                                  QString::fromStdString(file("toy2d.pt").string()),
                                  "--images",
                                  QString::fromStdString(file("inputs").string()),
                                  "--workspace",
                                  ws,
                                  "--labels",
                                  "top:2",
                                  "--size",
                                  "16x12",
                                  "--method",
                                  "gradcam++"};
        traceLibraries = true;
        QCOMPARE(run(args, &out), 0);
        QVERIFY2(out.contains("4 CAMs computed, 0 reused"), qPrintable(out.right(2000)));
        QVERIFY(out.contains("liblumen_ml.so"));  // computing needs LibTorch
        const auto dir = camCacheDir(file("cliws"), file("toy2d.pt"), "default", "gradcam++");
        QCOMPARE(readCamCache(dir).entries.size(), std::size_t(4));
        // Reopening computes nothing and never loads liblumen_ml (nor LibTorch).
        QCOMPARE(run(args, &out), 0);
        QVERIFY2(out.contains("0 CAMs computed, 4 reused"), qPrintable(out.right(2000)));
        QVERIFY(!out.contains("liblumen_ml.so"));
        QVERIFY(!out.contains("libtorch"));
        traceLibraries = false;
        // Errors name the file / the convention and exit 2.
        QCOMPARE(run({"explain", "--model", QString::fromStdString(file("plain.pt").string()), "--images",
                      QString::fromStdString(file("inputs").string()), "--workspace", ws},
                     &out),
                 2);
        QVERIFY2(out.contains("plain.pt") && out.contains("--list-layers"), qPrintable(out));
        // The device: cpu computes as before; CUDA on this CPU-only LibTorch is named as missing.
        QCOMPARE(
            run(args + QStringList{"--device", "cpu", "--out", QString::fromStdString(file("cpuout").string())}, &out),
            0);
        QVERIFY2(out.contains("on cpu"), qPrintable(out.right(2000)));
        if (!torch::cuda::is_available()) {
            QCOMPARE(
                run(args + QStringList{"--device", "cuda:0", "--out", QString::fromStdString(file("cudaout").string())},
                    &out),
                2);
            QVERIFY2(out.contains("--device: \"cuda:0\" requested"), qPrintable(out.right(2000)));
        }
        QCOMPARE(run({"explain", "--model", "nope.pt", "--images", "x"}, &out), 2);
        QVERIFY2(out.contains("nope.pt"), qPrintable(out));
        QCOMPARE(run({"explain", "--help"}, &out), 0);
        QVERIFY(out.contains("--keep-ratio"));
    }

    void secondsPerCamConvNeXtTiny() {
        // The measurement in docs/explain.md: one Grad-CAM (forward + backward of the head)
        // of ConvNeXt-tiny at 224 px, batch 1, and the faithfulness pass.
        nn::ConvNeXt tiny(nn::ConvNeXtOptions{"tiny", 14, 3, 0.0, 1e-6});
        tiny->eval();
        auto model = camModelFromConvNeXt(tiny);
        torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
        const torch::Tensor x = torch::randn({1, 3, 224, 224});
        model->forward(x, "");  // warm-up
        const int n = 3;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) {
            const SplitForward sf = model->forward(x, "");
            const torch::Tensor cam = camFromFeatures(sf.features, sf.logits.select(1, 0), CamMethod::GradCam);
            QCOMPARE(cam.sizes().vec(), (std::vector<std::int64_t>{1, 7, 7}));
        }
        const double cam = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n;
        const auto t1 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) model->logits(x);
        const double fwd = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() / n;
        qInfo(
            "ConvNeXt-tiny 224 px, %d threads: %.3f s per Grad-CAM (forward + head backward), %.3f s per "
            "faithfulness forward",
            torch::get_num_threads(), cam, fwd);
        torch::set_num_threads(1);
    }
};

QTEST_GUILESS_MAIN(TestGradCam)
#include "test_grad_cam.moc"
