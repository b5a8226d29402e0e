// The angio_multiview task's batches (plugins/angio_multiview/angio_data.cpp): streamed JPEG
// and RLE cines (data.cache none: only the clips' frames decoded and resized) give exactly the
// batches of kept frames, shrunk and grown; BatchReadAhead, which makes the next batch on a
// thread of its own while one trains, gives exactly makeBatch's tensors in order, out of order
// and after drop(); a streamed video that changed or went missing stops the run when its batch
// is taken, naming the study and the file.
// Torch must come before any Qt header.
#include <torch/torch.h>

#include "../../plugins/angio_multiview/angio_data.h"

#include "data/angio_manifest.h"
#include "jobs/job.h"

#include "test_support.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

using namespace lumen::angio;
namespace fs = std::filesystem;

namespace {

void expectSame(const StudyBatch& a, const StudyBatch& b) {
    QVERIFY(torch::equal(a.videos, b.videos));
    QVERIFY(torch::equal(a.mask, b.mask));
    QVERIFY(torch::allclose(a.targets, b.targets, 0.0, 0.0, /*equal_nan=*/true));  // NaN = not labelled
    QVERIFY(a.views == b.views);
}

}  // namespace

class TestAngioData : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::vector<LoadedStudy> studies_;
    ClipOptions o_;

    fs::path writeFrame(const std::string& name, int seed) {
        cv::Mat img(8, 8, CV_8UC1);
        cv::randu(img, cv::Scalar(seed), cv::Scalar(200 + seed));
        const fs::path file = fs::path(tmp_.path().toStdString()) / name;
        cv::imwrite(file.string(), img);
        return file;
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        o_.frames = 4;
        o_.stride = 1;
        o_.resolution = 8;
        o_.maxViews = 2;
        o_.channels = 1;
        o_.viewDropout = 0.3;
        o_.workers = 2;
        torch::manual_seed(3);
        // Six studies of one to three videos: kept frames, or (every third video) a file
        // decoded per batch.
        int k = 0;
        for (int s = 0; s < 6; ++s) {
            LoadedStudy study;
            study.studyId = "S" + std::to_string(s);
            study.targets = torch::rand({90});
            for (int v = 0; v < 1 + s % 3; ++v, ++k) {
                LoadedVideo video;
                video.path = "v" + std::to_string(k) + ".png";
                if (k % 3 == 2) {
                    video.file = writeFrame(video.path, k);
                    video.frameCount = 1;
                } else {
                    video.frameCount = 3 + k % 5;
                    video.frames = torch::rand({video.frameCount, 8, 8}) * 255;
                }
                study.videos.push_back(video);
            }
            studies_.push_back(study);
        }
    }

    void streamedClipsAreTheKeptFrames() {
        // Four studies of two 30-frame 40x36 cines (pydicom), JPEG baseline and RLE (DCMTK).
        const fs::path dir = fs::path(tmp_.path().toStdString()) / "cines";
        fs::create_directories(dir);
        QProcess py;
        py.start("/usr/bin/python3", {"-c", R"PY(
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from cine_maker import write_cine
rng = np.random.default_rng(5)
for s in range(4):
    for v in range(2):
        y, x = np.mgrid[0:40, 0:36]
        frames = np.stack([(x * (3 + v) + y * 2 + 7 * k + 40 * s) % 200 + rng.integers(0, 30, (40, 36)) for k in range(30)])
        write_cine(sys.argv[1] + '/s%d_v%d.dcm' % (s, v), frames.astype(np.uint8))
)PY",
                                      QString::fromStdString(dir.string()), QStringLiteral(LUMEN_SOURCE_DIR "/tests")});
        QVERIFY(py.waitForFinished(60000) && py.exitCode() == 0);
        std::ofstream manifest(dir / "manifest.csv");
        manifest << "study_id,patient_id,path,split\n";
        for (int s = 0; s < 4; ++s)
            for (int v = 0; v < 2; ++v) {
                const std::string name = "s" + std::to_string(s) + "_v" + std::to_string(v);
                const bool jpeg = (s + v) % 2 == 0;
                const auto r = runProcess(jpeg ? "dcmcjpeg" : "dcmcrle",
                                          (jpeg ? QStringList{"+eb"} : QStringList{}) +
                                              QStringList{QString::fromStdString((dir / (name + ".dcm")).string()),
                                                          QString::fromStdString((dir / (name + "_c.dcm")).string())},
                                          60000);
                QVERIFY2(r.code == 0, r.err.c_str());
                manifest << "S" << s << ",P" << s << "," << name << "_c.dcm,train\n";
            }
        manifest.close();
        const auto m = lumen::data::readAngioManifest(dir / "manifest.csv");
        std::vector<const lumen::data::AngioStudy*> studies;
        for (const auto& st : m.studies) studies.push_back(&st);
        lumen::jobs::JobContext job(1, {}, nullptr);
        for (const std::int64_t resolution : {16, 48}) {  // area when shrinking, bilinear when growing
            ClipOptions o;
            o.frames = 5;
            o.stride = 3;
            o.resolution = resolution;
            o.maxViews = 2;
            o.channels = 1;
            o.workers = 2;
            const auto kept = loadStudies(m, studies, o, job, "");
            o.stream = true;
            const auto streamed = loadStudies(m, studies, o, job, "");
            QVERIFY(kept[0].videos[0].frames.defined() && !streamed[0].videos[0].frames.defined());
            QCOMPARE(streamed[0].videos[0].frameCount, std::int64_t(30));
            for (const std::int64_t seed : {std::int64_t(-1), std::int64_t(3), std::int64_t(4)})
                expectSame(makeBatch(streamed, {0, 1, 2, 3}, o, seed), makeBatch(kept, {0, 1, 2, 3}, o, seed));
        }
    }

    void readAheadGivesMakeBatchsTensors() {
        BatchReadAhead ahead(studies_, o_);
        const std::vector<std::vector<std::size_t>> windows = {{4, 0}, {5, 2}, {1, 3}, {}};
        for (const std::int64_t seed : {std::int64_t(-1), std::int64_t(7)})
            for (std::size_t w = 0; w + 1 < windows.size(); ++w)
                expectSame(ahead.take(windows[w], seed, windows[w + 1]), makeBatch(studies_, windows[w], o_, seed));
        // Out of order (the batch read ahead is another): made on the spot.
        ahead.take({0, 1}, 7, {2, 3});
        expectSame(ahead.take({5}, 7, {}), makeBatch(studies_, {5}, o_, 7));
        // After drop() the batch that was read ahead is made again, the same.
        ahead.take({0, 1}, 7, {2, 3});
        ahead.drop();
        expectSame(ahead.take({2, 3}, 7, {}), makeBatch(studies_, {2, 3}, o_, 7));
    }

    void changedVideoStopsTheRunWhenItsBatchIsTaken() {
        auto studies = studies_;
        auto& bad = studies[2].videos[1];  // video 4: kept; make it a streamed one of 3 frames
        bad.frames = torch::Tensor();
        bad.file = writeFrame("changed.png", 1);
        bad.frameCount = 3;
        BatchReadAhead ahead(studies, o_);
        ahead.take({0, 1}, -1, {2});  // the bad batch is read ahead: no error yet
        try {
            ahead.take({2}, -1, {});
            QFAIL("a video with another frame count was used");
        } catch (const std::runtime_error& e) {
            const std::string what = e.what();
            QVERIFY2(what.find("study S2: ") == 0, e.what());
            QVERIFY2(what.find("changed.png: now has 1 frames, 3 when the run began") != std::string::npos, e.what());
        }
        fs::remove(bad.file);
        ahead.take({0}, -1, {2});
        try {
            ahead.take({2}, -1, {});
            QFAIL("a missing video was used");
        } catch (const std::exception& e) {
            const std::string what = e.what();
            QVERIFY2(what.find("study S2: ") == 0 && what.find("changed.png") != std::string::npos, e.what());
        }
        // An error in a batch read ahead that nobody takes is not one.
        ahead.take({0}, -1, {2});
        ahead.drop();
        expectSame(ahead.take({1}, -1, {}), makeBatch(studies, {1}, o_, -1));
    }
};

QTEST_GUILESS_MAIN(TestAngioData)
#include "test_angio_data.moc"
