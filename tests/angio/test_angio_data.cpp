// The angio_multiview task's batches (plugins/angio_multiview/angio_data.cpp): BatchReadAhead,
// which makes the next batch on a thread of its own while one trains, gives exactly makeBatch's
// tensors in order, out of order and after drop(); a streamed video that changed or went
// missing stops the run when its batch is taken, naming the study and the file.
// Torch must come before any Qt header.
#include <torch/torch.h>

#include "../../plugins/angio_multiview/angio_data.h"

#include <QTemporaryDir>
#include <QtTest>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>

using namespace lumen::angio;
namespace fs = std::filesystem;

namespace {

void expectSame(const StudyBatch& a, const StudyBatch& b) {
    QVERIFY(torch::equal(a.videos, b.videos));
    QVERIFY(torch::equal(a.mask, b.mask));
    QVERIFY(torch::equal(a.targets, b.targets));
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
