// The batch loader and the image dataset: determinism across worker counts, epoch orders,
// ids kept with their pixels, augmentations, errors naming the file, stop mid-epoch.
#include "data/loader.h"

#include "data_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

using namespace lumen::data;
namespace fs = std::filesystem;

namespace {

// A dataset whose get() is slow, to stop a loader mid-epoch.
class SlowDataset : public Dataset {
public:
    explicit SlowDataset(std::size_t n, int ms) : n_(n), ms_(ms) {}
    std::size_t size() const override { return n_; }
    Sample get(std::size_t index, std::uint64_t) const override {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms_));
        Sample s;
        s.id = std::to_string(index);
        s.image = cv::Mat(4, 4, CV_32FC1, cv::Scalar(float(index)));
        return s;
    }

private:
    std::size_t n_;
    int ms_;
};

std::vector<Batch> drain(BatchLoader& loader) {
    std::vector<Batch> out;
    while (auto b = loader.next()) out.push_back(std::move(*b));
    return out;
}

}  // namespace

class TestLoader : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    Manifest manifest_;  // 37 planted images: image k is 40x48 filled with value 3k+10, a 4x4 bright corner mark
    static constexpr int kImages = 37;

    fs::path dir() const { return tmp_.path().toStdString(); }

private slots:
    void initTestCase() {
        fs::create_directories(dir() / "img");
        manifest_.file = dir() / "manifest.csv";
        manifest_.labelNames = {"odd", "three"};
        for (int k = 0; k < kImages; ++k) {
            cv::Mat m(40, 48, CV_8UC1, cv::Scalar(3 * k + 10));
            m(cv::Rect(0, 0, 4, 4)).setTo(255);  // top-left mark: shows flips
            const std::string name = "img/im" + std::to_string(k) + ".png";
            QVERIFY(cv::imwrite((dir() / name).string(), m));
            ManifestRow row{"id" + std::to_string(k), "p" + std::to_string(k / 3), name, {}, "train"};
            if (k % 2) row.labels.push_back("odd");
            if (k % 3 == 0) row.labels.push_back("three");
            manifest_.rows.push_back(row);
        }
        writeManifest(manifest_, manifest_.file);
    }

    void idsKeptWithPixelsAndTargets() {
        AugmentOptions a;
        a.resize = 0;
        a.crop = 0;
        auto ds = makeImageDataset(readManifest(manifest_.file), 1, a);
        BatchLoader loader(ds, {5, 3, 2, true, 11, false});
        QCOMPARE(loader.batchesPerEpoch(), std::size_t(8));
        loader.startEpoch(0);
        const auto batches = drain(loader);
        QCOMPARE(batches.size(), std::size_t(8));
        std::multiset<std::string> seen;
        for (std::size_t b = 0; b < batches.size(); ++b) {
            const Batch& batch = batches[b];
            QCOMPARE(batch.index, std::int64_t(b));
            QCOMPARE(batch.c, 1);
            QCOMPARE(batch.h, 40);
            QCOMPARE(batch.w, 48);
            QCOMPARE(batch.numTargets, 2);
            QCOMPARE(batch.n, b + 1 < batches.size() ? 5 : 2);
            QCOMPARE(batch.images.size(), std::size_t(batch.n) * 40 * 48);
            for (int i = 0; i < batch.n; ++i) {
                const int k = std::stoi(batch.ids[std::size_t(i)].substr(2));
                seen.insert(batch.ids[std::size_t(i)]);
                QCOMPARE(batch.patientIds[std::size_t(i)], "p" + std::to_string(k / 3));
                QCOMPARE(batch.datasetIndices[std::size_t(i)], std::size_t(k));
                const float* px = batch.images.data() + std::size_t(i) * 40 * 48;
                QCOMPARE(px[0], 1.0f);                                   // the mark
                QCOMPARE(px[10 * 48 + 20], float(3 * k + 10) / 255.0f);  // the planted value
                QCOMPARE(batch.targets[std::size_t(i) * 2], k % 2 ? 1.0f : 0.0f);
                QCOMPARE(batch.targets[std::size_t(i) * 2 + 1], k % 3 == 0 ? 1.0f : 0.0f);
            }
        }
        // Each id exactly once per epoch.
        QCOMPARE(seen.size(), std::size_t(kImages));
        QCOMPARE(std::set<std::string>(seen.begin(), seen.end()).size(), std::size_t(kImages));
        QVERIFY(!loader.next());
    }

    void sameSeedSameBatchesRegardlessOfWorkers() {
        AugmentOptions a;
        a.resize = 36;
        a.crop = 28;
        a.randomCrop = true;
        a.hflip = true;
        a.rotateDegrees = 10;
        a.brightness = 0.2;
        a.contrast = 0.2;
        auto ds = makeImageDataset(manifest_, 3, a, {0.5f}, {0.25f});
        std::vector<std::vector<Batch>> runs;
        for (int workers : {0, 1, 4}) {
            BatchLoader loader(ds, {4, workers, 3, true, 42, true});
            loader.startEpoch(5);
            runs.push_back(drain(loader));
        }
        QCOMPARE(runs[0].size(), std::size_t(kImages / 4));  // dropLast
        for (std::size_t r = 1; r < runs.size(); ++r) {
            QCOMPARE(runs[r].size(), runs[0].size());
            for (std::size_t b = 0; b < runs[0].size(); ++b) {
                QCOMPARE(runs[r][b].ids, runs[0][b].ids);
                QVERIFY(runs[r][b].images == runs[0][b].images);  // bitwise
                QVERIFY(runs[r][b].targets == runs[0][b].targets);
            }
        }
        const Batch& b0 = runs[0][0];
        QCOMPARE(b0.c, 3);
        QCOMPARE(b0.h, 28);
        QCOMPARE(b0.w, 28);
        // Augmentation really happened: the same sample differs between epochs.
        BatchLoader other(ds, {kImages, 2, 1, false, 42, false});
        other.startEpoch(0);
        const auto e0 = drain(other);
        other.startEpoch(1);
        const auto e1 = drain(other);
        QCOMPARE(e0[0].ids, e1[0].ids);  // no shuffle: same order
        QVERIFY(e0[0].images != e1[0].images);
    }

    void epochsShuffleDifferently() {
        AugmentOptions a;
        a.resize = 0;
        a.crop = 0;
        auto ds = makeImageDataset(manifest_, 1, a);
        BatchLoader loader(ds, {kImages, 2, 2, true, 7, false});
        std::vector<std::vector<std::string>> orders;
        for (int epoch : {0, 1, 0}) {
            loader.startEpoch(epoch);
            orders.push_back(drain(loader).at(0).ids);
        }
        QVERIFY(orders[0] != orders[1]);
        QCOMPARE(orders[2], orders[0]);
        QCOMPARE(epochOrder(10, 3, 0, false), (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
        auto o = epochOrder(1000, 3, 2, true);
        QCOMPARE(o, epochOrder(1000, 3, 2, true));
        QVERIFY(o != epochOrder(1000, 4, 2, true));
        std::sort(o.begin(), o.end());
        QCOMPARE(o, epochOrder(1000, 0, 0, false));
    }

    void augmentationsDoWhatTheySay() {
        cv::Mat m(20, 30, CV_32FC1, cv::Scalar(0.5f));
        m(cv::Rect(0, 0, 2, 2)).setTo(1.0f);
        AugmentOptions a;
        a.resize = 10;  // shorter side 20 -> 10: 15x10
        a.crop = 0;
        QCOMPARE(augmentImage(m, a, 1).size(), cv::Size(15, 10));
        a.resize = 0;
        a.crop = 8;
        const cv::Mat c = augmentImage(m, a, 1);
        QCOMPARE(c.size(), cv::Size(8, 8));
        QCOMPARE(c.at<float>(0, 0), 0.5f);  // centre crop misses the corner mark
        a.crop = 40;                        // larger than the image: padded with 0
        const cv::Mat p = augmentImage(m, a, 1);
        QCOMPARE(p.size(), cv::Size(40, 40));
        QCOMPARE(p.at<float>(0, 0), 0.0f);
        a.crop = 0;
        a.hflip = true;
        int flipped = 0;
        for (std::uint64_t s = 0; s < 200; ++s) flipped += augmentImage(m, a, s).at<float>(0, 29) == 1.0f;
        QVERIFY2(flipped > 70 && flipped < 130, std::to_string(flipped).c_str());
        a.hflip = false;
        a.brightness = 0.5;
        double lo = 1, hi = 0;
        for (std::uint64_t s = 0; s < 100; ++s) {
            const float v = augmentImage(m, a, s).at<float>(10, 10);
            lo = std::min(lo, double(v));
            hi = std::max(hi, double(v));
        }
        QVERIFY(lo >= 0.25 && lo < 0.3 && hi <= 0.75 && hi > 0.7);
    }

    void dicomIsScaledThroughItsWindow() {
        // MR_small.dcm: window 600/1600 -> [0, 1] = clip((value - (600 - 800)) / 1600), checked
        // against pydicom's modality-LUT values.
        const std::string file = "/usr/lib/python3/dist-packages/pydicom/data/test_files/MR_small.dcm";
        const auto ref = lumen::datatest::runPython(R"PY(
import sys, json, numpy as np, pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut
d = pydicom.dcmread(sys.argv[1])
v = apply_modality_lut(d.pixel_array, d).astype(np.float64)
c, w = float(d.WindowCenter), float(d.WindowWidth)
u = np.clip((v - (c - w / 2)) / w, 0, 1)
print(json.dumps({'rows': int(u.shape[0]), 'cols': int(u.shape[1]), 'values': u.ravel().tolist()}))
)PY",
                                                    {QString::fromStdString(file)});
        const cv::Mat m = loadUnitImage(file, 1);
        QCOMPARE(m.rows, ref["rows"].get<int>());
        QCOMPARE(m.cols, ref["cols"].get<int>());
        const auto want = ref["values"].get<std::vector<double>>();
        double worst = 0;
        for (int i = 0; i < m.rows * m.cols; ++i)
            worst = std::max(worst, std::abs(double(m.ptr<float>()[i]) - want[std::size_t(i)]));
        QVERIFY2(worst < 1e-6, std::to_string(worst).c_str());
        const cv::Mat rgb = loadUnitImage(file, 3);
        QCOMPARE(rgb.channels(), 3);
        QCOMPARE(rgb.at<cv::Vec3f>(10, 20)[2], m.at<float>(10, 20));
    }

    void errorsNameTheFile() {
        Manifest m = manifest_;
        m.rows.resize(10);
        m.rows[6].path = "img/gone.png";
        std::ofstream(dir() / "img/corrupt.png", std::ios::binary) << "\x89PNG\r\n\x1a\nnot really";
        m.rows[8].path = "img/corrupt.png";
        AugmentOptions a;
        a.resize = 0;
        a.crop = 0;
        auto ds = makeImageDataset(m, 1, a);
        for (int workers : {0, 3}) {
            BatchLoader loader(ds, {2, workers, 4, false, 0, false});
            loader.startEpoch(0);
            QVERIFY(loader.next());
            QVERIFY(loader.next());
            QVERIFY(loader.next());
            try {
                loader.next();  // batch 3 holds row 6
                QFAIL("expected an error");
            } catch (const DataError& e) {
                const std::string what = e.what();
                QVERIFY2(what.find((dir() / "img/gone.png").string()) != std::string::npos, what.c_str());
                QVERIFY2(what.find("file not found") != std::string::npos, what.c_str());
                QVERIFY2(what.find("id id6") != std::string::npos, what.c_str());
            }
            QVERIFY(!loader.next());  // the epoch ended
        }
        try {
            ds->get(8, 0);
            QFAIL("expected an error");
        } catch (const DataError& e) {
            const std::string what = e.what();
            QVERIFY2(what.find("corrupt.png") != std::string::npos, what.c_str());
            QCOMPARE(e.file(), dir() / "img/corrupt.png");
        }
    }

    void stopMidEpochJoinsQuickly() {
        auto ds = std::make_shared<SlowDataset>(1000, 20);
        BatchLoader loader(ds, {4, 4, 8, true, 1, false});
        loader.startEpoch(0);
        QVERIFY(loader.next());
        const auto t0 = std::chrono::steady_clock::now();
        loader.stop();
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        QVERIFY2(ms < 200, std::to_string(ms).c_str());
        QVERIFY(!loader.next());
        // A consumer waiting in next() is woken by stop() from another thread.
        loader.startEpoch(1);
        std::thread stopper([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            loader.stop();
        });
        int got = 0;
        while (loader.next()) ++got;
        stopper.join();
        QVERIFY(got < 250);
        // Destroying a running loader joins it too.
        const auto t1 = std::chrono::steady_clock::now();
        {
            BatchLoader l2(ds, {4, 4, 8, true, 1, false});
            l2.startEpoch(0);
        }
        const auto ms2 = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
        QVERIFY2(ms2 < 200, std::to_string(ms2).c_str());
    }

    void prefetchIsBounded() {
        // With prefetch 2 and a consumer that does not read, at most 2 batches get made.
        struct Counting : Dataset {
            mutable std::atomic<int> calls{0};
            std::size_t size() const override { return 100; }
            Sample get(std::size_t i, std::uint64_t) const override {
                ++calls;
                Sample s;
                s.id = std::to_string(i);
                s.image = cv::Mat(2, 2, CV_32FC1, cv::Scalar(0));
                return s;
            }
        };
        auto ds = std::make_shared<Counting>();
        BatchLoader loader(ds, {5, 4, 2, false, 0, false});
        loader.startEpoch(0);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        QCOMPARE(ds->calls.load(), 10);
        QVERIFY(loader.next());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        QCOMPARE(ds->calls.load(), 15);
    }

    void badOptions() {
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, makeImageDataset(manifest_, 2, {}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, makeImageDataset(manifest_, 1, {}, {0.5f}, {}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, makeImageDataset(manifest_, 1, {}, {0.5f}, {0.0f}));
        auto ds = makeImageDataset(manifest_, 1, {});
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, BatchLoader(ds, {0, 1, 1, true, 0, false}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, BatchLoader(nullptr, {}));
        BatchLoader l(ds, {});
        QVERIFY_THROWS_EXCEPTION(std::logic_error, l.next());
    }
};

QTEST_GUILESS_MAIN(TestLoader)
#include "test_loader.moc"
