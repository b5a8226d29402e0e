// Dataset statistics: label balance, and pixel mean/std checked against numpy (and exact
// integer sums in Python) on the demo's chest X-rays and on 16-bit RGB images, with the PNGs
// decoded by a pure-Python decoder; thread-count independence, cancellation, errors.
#include "data/dataset_stats.h"

#include "demo/demo_workspace.h"
#include "io/media_reader.h"
#include "jobs/job.h"

#include "data_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <opencv2/imgcodecs.hpp>

#include <random>

using namespace lumen::data;
namespace fs = std::filesystem;

namespace {

const std::string kReference = std::string(lumen::datatest::kPythonPngDecoder) + R"PY(
import sys, json
from fractions import Fraction
import pandas as pd
m = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
base = sys.argv[1].rsplit('/', 1)[0]
imgs = [read_png(p if p.startswith('/') else base + '/' + p) for p in m['path']]
c = imgs[0].shape[2]
flat = np.concatenate([i.reshape(-1, c) for i in imgs]).astype(np.float64)
res = {'numpy_mean': flat.mean(axis=0).tolist(), 'numpy_std': flat.std(axis=0).tolist(),
       'min': flat.min(axis=0).tolist(), 'max': flat.max(axis=0).tolist(), 'pixels': int(flat.shape[0]),
       'exact_mean': [], 'exact_std': []}
for ch in range(c):
    v = [int(x) for x in np.concatenate([i[:, :, ch].ravel() for i in imgs]).astype(np.int64)]
    n, s, q = len(v), sum(v), sum(x * x for x in v)
    res['exact_mean'].append(s / n)  # int / int: correctly rounded
    res['exact_std'].append(float(Fraction(n * q - s * s, n * n)) ** 0.5)
print(json.dumps(res))
)PY";

void compareWithReference(const PixelStats& s, const nlohmann::json& ref) {
    const auto nm = ref["numpy_mean"].get<std::vector<double>>(), ns = ref["numpy_std"].get<std::vector<double>>();
    const auto em = ref["exact_mean"].get<std::vector<double>>(), es = ref["exact_std"].get<std::vector<double>>();
    QCOMPARE(s.mean.size(), nm.size());
    QCOMPARE(s.pixelsPerChannel, ref["pixels"].get<std::uint64_t>());
    for (std::size_t c = 0; c < nm.size(); ++c) {
        QVERIFY2(std::abs(s.mean[c] - nm[c]) <= 1e-9 * std::abs(nm[c]),
                 (std::to_string(s.mean[c]) + " vs " + std::to_string(nm[c])).c_str());
        QVERIFY2(std::abs(s.stdev[c] - ns[c]) <= 1e-9 * std::abs(ns[c]),
                 (std::to_string(s.stdev[c]) + " vs " + std::to_string(ns[c])).c_str());
        // Against exact rational arithmetic: within a couple of ulps.
        QVERIFY(std::abs(s.mean[c] - em[c]) <= 4e-16 * std::abs(em[c]));
        QVERIFY(std::abs(s.stdev[c] - es[c]) <= 4e-16 * std::abs(es[c]));
        QCOMPARE(s.min[c], ref["min"][c].get<double>());
        QCOMPARE(s.max[c], ref["max"][c].get<double>());
    }
}

}  // namespace

class TestDatasetStats : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path dir() const { return tmp_.path().toStdString(); }
    Manifest demo_;

    /// A demo of only `chestImages` X-rays and `angioStudies` angiography studies.
    static lumen::demo::DemoOptions demoOf(int chestImages, int angioStudies) {
        return lumen::demo::DemoOptions::only(chestImages, 0, angioStudies);
    }

private slots:
    void initTestCase() {
        lumen::demo::createDemoWorkspace(dir() / "demo", demoOf(40, 0));
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir() / "demo/chest_xray/images_001")) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        demo_.file = dir() / "demo.csv";
        demo_.labelNames = {"A", "B"};
        for (std::size_t i = 0; i < files.size(); ++i)
            demo_.rows.push_back({files[i].filename().string(), "P" + std::to_string(i / 2),
                                  fs::relative(files[i], dir()).string(),
                                  i % 3 ? std::vector<std::string>{"A"} : std::vector<std::string>{"A", "B"},
                                  i < 30 ? "train" : "test"});
        writeManifest(demo_, demo_.file);
    }

    void demoImagesMatchNumpy() {
        PixelStatsOptions one;
        one.threads = 1;
        const PixelStats s1 = computePixelStats(demo_, one);
        PixelStatsOptions four;
        four.threads = 4;
        const PixelStats s4 = computePixelStats(demo_, four);
        QCOMPARE(s1.images, std::size_t(40));
        QCOMPARE(s1.channels, 1);
        QVERIFY(s1.exact);
        QCOMPARE(s1.storedType, std::string("u8"));
        QVERIFY(s1.mean == s4.mean && s1.stdev == s4.stdev);  // bitwise
        const auto ref = lumen::datatest::runPython(kReference, {QString::fromStdString(demo_.file.string())});
        compareWithReference(s1, ref);
        QCOMPARE(s1.unitMean.size(), std::size_t(1));
        QCOMPARE(s1.unitMean[0], s1.mean[0] / 255.0);
        qInfo("demo: %zu images of 256x256 in %.3f s on %u threads (%.0f images/s); mean %.6f std %.6f", s4.images,
              s4.seconds, s4.threads, double(s4.images) / s4.seconds, s4.mean[0], s4.stdev[0]);
    }

    void sixteenBitColourMatchesNumpy() {
        fs::create_directories(dir() / "rgb16");
        Manifest m;
        m.file = dir() / "rgb16.csv";
        std::mt19937 rng(5);
        for (int k = 0; k < 6; ++k) {
            cv::Mat img(30 + k, 41, CV_16UC3);
            for (int y = 0; y < img.rows; ++y)
                for (int x = 0; x < img.cols; ++x)
                    img.at<cv::Vec3w>(y, x) = cv::Vec3w(std::uint16_t(rng() % 65536), std::uint16_t(rng() % 4096),
                                                        std::uint16_t(60000 + rng() % 5536));
            const std::string name = "rgb16/i" + std::to_string(k) + ".png";
            QVERIFY(cv::imwrite((dir() / name).string(), img));
            m.rows.push_back({name, "", name, {}, ""});
        }
        writeManifest(m, m.file);
        const PixelStats s = computePixelStats(m);
        QCOMPARE(s.channels, 3);
        QCOMPARE(s.storedType, std::string("u16"));
        QVERIFY(s.exact);
        compareWithReference(s, lumen::datatest::runPython(kReference, {QString::fromStdString(m.file.string())}));
        QVERIFY(s.mean[0] > 60000);  // RGB order: OpenCV wrote BGR, the reader gives RGB
    }

    /// PixelSums' grey mode (the angio task's normalisation check): one value per pixel, the
    /// mean of its samples, for 8-bit (summed from the stored bytes) and 16-bit RGB images,
    /// against exact fractions in Python.
    void greySumsOfColourMatchExactFractions() {
        fs::create_directories(dir() / "grey");
        std::mt19937 rng(11);
        for (const int depth : {CV_8UC3, CV_16UC3}) {
            QStringList files;
            lumen::data::PixelSums grey(1, true);
            for (int k = 0; k < 3; ++k) {
                cv::Mat img(17 + k, 23, depth);
                for (int y = 0; y < img.rows; ++y)
                    for (int x = 0; x < img.cols; ++x)
                        for (int c = 0; c < 3; ++c) {
                            const auto v = rng() % (depth == CV_8UC3 ? 256 : 65536);
                            if (depth == CV_8UC3) img.at<cv::Vec3b>(y, x)[c] = std::uint8_t(v);
                            else img.at<cv::Vec3w>(y, x)[c] = std::uint16_t(v);
                        }
                const auto file = dir() / "grey" / ("g" + std::to_string(depth) + "_" + std::to_string(k) + ".png");
                QVERIFY(cv::imwrite(file.string(), img));
                files << QString::fromStdString(file.string());
                auto v = lumen::io::readMedia(file).volume;
                grey.add(v);
            }
            const PixelStats s = grey.stats();
            QCOMPARE(s.channels, 1);
            QCOMPARE(s.images, std::size_t(3));
            QVERIFY(s.exact);
            QCOMPARE(s.storedType, std::string(depth == CV_8UC3 ? "u8" : "u16"));
            const auto ref = lumen::datatest::runPython(std::string(lumen::datatest::kPythonPngDecoder) + R"PY(
import sys, json
from fractions import Fraction
t = [int(x) for p in sys.argv[1:] for x in read_png(p).astype(np.int64).sum(axis=2).ravel()]
n, s, q = len(t), sum(t), sum(x * x for x in t)
print(json.dumps({'mean': float(Fraction(s, 3 * n)), 'std': float(Fraction(n * q - s * s, 9 * n * n)) ** 0.5,
                  'min': min(t) / 3, 'max': max(t) / 3, 'pixels': n}))
)PY",
                                                        files);
            QCOMPARE(s.pixelsPerChannel, ref["pixels"].get<std::uint64_t>());
            const double mean = ref["mean"].get<double>(), sd = ref["std"].get<double>();
            QVERIFY2(std::abs(s.mean[0] - mean) <= 4e-16 * mean,
                     (std::to_string(s.mean[0]) + " vs " + std::to_string(mean)).c_str());
            QVERIFY2(std::abs(s.stdev[0] - sd) <= 4e-16 * sd,
                     (std::to_string(s.stdev[0]) + " vs " + std::to_string(sd)).c_str());
            QCOMPARE(s.min[0], ref["min"].get<double>());
            QCOMPARE(s.max[0], ref["max"].get<double>());
        }
        // A manifest mixing grey and colour files: grey statistics take both (an angiography
        // manifest, as the trainer does); per channel, the second file is refused, named.
        cv::Mat flat(9, 7, CV_8UC1, cv::Scalar(40));
        QVERIFY(cv::imwrite((dir() / "grey" / "flat.png").string(), flat));
        Manifest mixed;
        mixed.file = dir() / "mixed.csv";
        mixed.rows.push_back({"flat", "", "grey/flat.png", {}, ""});
        mixed.rows.push_back({"rgb", "", "grey/g" + std::to_string(CV_8UC3) + "_0.png", {}, ""});
        PixelStatsOptions greyOptions;
        greyOptions.grey = true;
        const PixelStats both = computePixelStats(mixed, greyOptions);
        QCOMPARE(both.images, std::size_t(2));
        QVERIFY(both.grey && both.channels == 1);
        QVERIFY(both.min[0] <= 40 && both.max[0] >= 40);
        try {
            computePixelStats(mixed);
            QFAIL("a colour file was summed as grey per channel");
        } catch (const DataError& e) {
            QVERIFY2(std::string(e.what()).find("g" + std::to_string(CV_8UC3) + "_0.png") != std::string::npos,
                     e.what());
        }
        // Per channel, a sample count other than the channels' is refused with both named.
        auto rgb = lumen::io::readMedia(dir() / "grey" / ("g" + std::to_string(CV_8UC3) + "_0.png")).volume;
        lumen::data::PixelSums one(1);
        try {
            one.add(rgb);
            QFAIL("three samples were summed as one channel");
        } catch (const std::invalid_argument& e) {
            QCOMPARE(std::string(e.what()), std::string("3 channel(s), not 1"));
        }
    }

    /// A cine counts with every frame (issue 16: the seed's video model normalised with a first
    /// frame's statistics), checked against pydicom's pixel_array over all frames.
    void cineFramesAllCountAsPydicomSees() {
        lumen::demo::createDemoWorkspace(dir() / "angio_demo", demoOf(0, 2));
        Manifest m;
        m.file = dir() / "cines.csv";
        for (const auto& e : fs::recursive_directory_iterator(dir() / "angio_demo" / "angio"))
            if (e.path().extension() == ".dcm")
                m.rows.push_back({e.path().stem().string(), "", fs::relative(e.path(), dir()).string(), {}, ""});
        std::sort(m.rows.begin(), m.rows.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
        QVERIFY(m.rows.size() >= 4);
        writeManifest(m, m.file);
        const PixelStats s = computePixelStats(m);
        const auto ref = lumen::datatest::runPython(R"PY(
import sys, json, numpy as np, pandas as pd, pydicom
m = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
base = sys.argv[1].rsplit('/', 1)[0]
arrays = [pydicom.dcmread(base + '/' + p).pixel_array for p in m['path']]
flat = np.concatenate([a.reshape(-1) for a in arrays]).astype(np.float64)
print(json.dumps({'frames': int(sum(a.shape[0] for a in arrays)), 'first_frames_mean': float(np.concatenate([a[0].reshape(-1) for a in arrays]).mean()),
                  'mean': float(flat.mean()), 'std': float(flat.std()), 'pixels': int(flat.size)}))
)PY",
                                                    {QString::fromStdString(m.file.string())});
        QCOMPARE(s.frames, ref["frames"].get<std::uint64_t>());
        QCOMPARE(s.frames, std::uint64_t(16 * m.rows.size()));
        QCOMPARE(s.pixelsPerChannel, ref["pixels"].get<std::uint64_t>());
        const double mean = ref["mean"].get<double>(), sd = ref["std"].get<double>();
        QVERIFY2(std::abs(s.mean[0] - mean) <= 1e-9 * mean,
                 (std::to_string(s.mean[0]) + " vs " + std::to_string(mean)).c_str());
        QVERIFY2(std::abs(s.stdev[0] - sd) <= 1e-9 * sd,
                 (std::to_string(s.stdev[0]) + " vs " + std::to_string(sd)).c_str());
        // The first frames alone would give another mean: what the fix is for.
        QVERIFY(std::abs(ref["first_frames_mean"].get<double>() - mean) > 1e-6 * mean);
    }

    void labelBalancePerSplit() {
        const LabelBalance b = labelBalance(demo_);
        QCOMPARE(b.splits, (std::vector<std::string>{"train", "test"}));
        QCOMPARE(b.images, (std::vector<std::size_t>{30, 10}));
        QCOMPARE(b.positives[0][0], std::size_t(30));
        QCOMPARE(b.positives[0][1], std::size_t(10));  // i % 3 == 0 for i < 30
        QCOMPARE(b.positives[1][1], std::size_t(4));   // 30, 33, 36, 39
        QCOMPARE(b.positives[1][0], std::size_t(10));
    }

    void cancellationAndErrors() {
        PixelStatsOptions o;
        o.threads = 2;
        int calls = 0;
        o.progress = [&](std::size_t, std::size_t) { return ++calls < 1; };
        Manifest big = demo_;
        for (int r = 0; r < 20; ++r)
            for (std::size_t i = 0; i < demo_.rows.size(); ++i) {
                auto row = demo_.rows[i];
                row.id += "_" + std::to_string(r);
                big.rows.push_back(row);
            }
        QVERIFY_THROWS_EXCEPTION(lumen::jobs::Cancelled, computePixelStats(big, o));

        Manifest broken = demo_;
        broken.rows[17].path = "demo/chest_xray/images_001/gone.png";
        try {
            computePixelStats(broken);
            QFAIL("expected an error");
        } catch (const DataError& e) {
            QVERIFY2(std::string(e.what()).find("gone.png: file not found") != std::string::npos, e.what());
        }
        Manifest mixed = demo_;
        mixed.rows.push_back({"rgb", "", "rgb16/i0.png", {}, ""});
        try {
            computePixelStats(mixed);
            QFAIL("expected an error");
        } catch (const DataError& e) {
            QVERIFY2(std::string(e.what()).find("i0.png: 3 channel(s), but") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestDatasetStats)
#include "test_dataset_stats.moc"
