// Qt Test suite for core/io image_reader and video_reader: formats, bit depths, channel order,
// frames that actually decode, and malformed files.
#include "io/image_reader.h"
#include "io/read_error.h"
#include "io/video_reader.h"

#include "io_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <chrono>

using namespace lumen::io;
using namespace lumen::iotest;
namespace fs = std::filesystem;

namespace {

cv::Mat pattern(int type) {
    cv::Mat m(37, 53, type);
    const int channels = m.channels();
    const double top = m.depth() == CV_16U ? 65535 : 255;
    for (int r = 0; r < m.rows; ++r)
        for (int c = 0; c < m.cols; ++c)
            for (int ch = 0; ch < channels; ++ch) {
                const double v = std::fmod((r * 7 + c * 13 + ch * 101) * (top / 400.0), top);
                if (m.depth() == CV_16U) m.ptr<std::uint16_t>(r)[c * channels + ch] = std::uint16_t(v);
                else m.ptr<std::uint8_t>(r)[c * channels + ch] = std::uint8_t(v);
            }
    return m;
}

}  // namespace

class TestImageVideoReaders : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private slots:
    void losslessFormatsRoundTrip_data() {
        QTest::addColumn<QString>("ext");
        QTest::addColumn<int>("type");
        QTest::newRow("png grey 8") << ".png" << CV_8UC1;
        QTest::newRow("png grey 16") << ".png" << CV_16UC1;
        QTest::newRow("png colour 8") << ".png" << CV_8UC3;
        QTest::newRow("png colour 16") << ".png" << CV_16UC3;
        QTest::newRow("png rgba") << ".png" << CV_8UC4;
        QTest::newRow("tiff grey 16") << ".tif" << CV_16UC1;
        QTest::newRow("tiff colour 8") << ".tif" << CV_8UC3;
        QTest::newRow("bmp colour") << ".bmp" << CV_8UC3;
        QTest::newRow("bmp grey") << ".bmp" << CV_8UC1;
    }
    void losslessFormatsRoundTrip() {
        QFETCH(QString, ext);
        QFETCH(int, type);
        const cv::Mat bgr = pattern(type);
        const fs::path file = tmp_.filePath("img" + QString::number(type) + ext).toStdString();
        QVERIFY(cv::imwrite(file.string(), bgr));
        const ImageVolume v = readImage(file);
        const int channels = bgr.channels() == 4 ? 3 : bgr.channels();
        QCOMPARE(v.rows, 37);
        QCOMPARE(v.columns, 53);
        QCOMPARE(v.samples, channels);
        QCOMPARE(v.storedType, bgr.depth() == CV_16U ? StoredType::U16 : StoredType::U8);
        QCOMPARE(v.shape(), channels == 1 ? (std::vector<std::size_t>{37, 53}) : (std::vector<std::size_t>{37, 53, 3}));
        // values are RGB: sample 0 is OpenCV's channel 2.
        for (int r = 0; r < 37; r += 5)
            for (int c = 0; c < 53; c += 7)
                for (int s = 0; s < channels; ++s) {
                    const int src = channels == 1 ? 0 : 2 - s;
                    const double want = bgr.depth() == CV_16U ? bgr.ptr<std::uint16_t>(r)[c * bgr.channels() + src]
                                                              : bgr.ptr<std::uint8_t>(r)[c * bgr.channels() + src];
                    QCOMPARE(
                        double(
                            v.values[(std::size_t(r) * 53 + std::size_t(c)) * std::size_t(channels) + std::size_t(s)]),
                        want);
                }
    }

    void jpegIsClose() {
        // Smooth, distinct channels (JPEG keeps them; a channel swap would not).
        cv::Mat bgr(37, 53, CV_8UC3);
        for (int r = 0; r < 37; ++r)
            for (int c = 0; c < 53; ++c)
                bgr.at<cv::Vec3b>(r, c) = cv::Vec3b(std::uint8_t(c * 4), std::uint8_t(r * 6), 200);
        const fs::path file = tmp_.filePath("img.jpg").toStdString();
        QVERIFY(cv::imwrite(file.string(), bgr, {cv::IMWRITE_JPEG_QUALITY, 100}));
        const ImageVolume v = readImage(file);
        double sum = 0;
        for (int r = 0; r < 37; ++r)
            for (int c = 0; c < 53; ++c)
                for (int s = 0; s < 3; ++s)
                    sum += std::fabs(v.values[(std::size_t(r) * 53 + std::size_t(c)) * 3 + std::size_t(s)] -
                                     bgr.ptr<std::uint8_t>(r)[c * 3 + 2 - s]);
        QVERIFY2(sum / (37 * 53 * 3) < 3.0, "JPEG decode is far from the source (channel order?)");
    }

    void malformedImages() {
        const fs::path dir = tmp_.filePath("badimg").toStdString();
        fs::create_directories(dir);
        const cv::Mat img = pattern(CV_8UC3);
        std::vector<unsigned char> png;
        cv::imencode(".png", img, png);
        const std::string bytes(png.begin(), png.end());
        writeBytes(dir / "empty.png", "");
        writeBytes(dir / "words.png", "hello, world, not an image");
        writeBytes(dir / "cut.png", bytes.substr(0, bytes.size() / 3));
        writeBytes(dir / "header_only.png", bytes.substr(0, 40));
        // A BMP header declaring 2^30 x 2^30 pixels.
        std::string bmp = "BM" + std::string(52, '\0');
        bmp[10] = 54;
        bmp[14] = 40;
        bmp[21] = 0x40;  // width 0x40000000
        bmp[25] = 0x40;  // height 0x40000000
        bmp[26] = 1;
        bmp[28] = 24;
        writeBytes(dir / "huge.bmp", bmp);
        for (const char* n : {"empty.png", "words.png", "cut.png", "header_only.png", "huge.bmp"}) {
            const std::string e = errorOf([&] { readImage(dir / n); });
            qInfo("%s", e.c_str());
            QVERIFY2(e.rfind((dir / n).string() + ": ", 0) == 0, e.c_str());
        }
    }

    void videoFramesThatDecode() {
        const fs::path file = tmp_.filePath("cine.avi").toStdString();
        {
            cv::VideoWriter w(file.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 15.0, cv::Size(64, 48), true);
            QVERIFY(w.isOpened());
            for (int f = 0; f < 30; ++f) {
                cv::Mat m(48, 64, CV_8UC3, cv::Scalar(f * 8, 255 - f * 8, 128));
                w.write(m);
            }
        }
        const auto t0 = std::chrono::steady_clock::now();
        const ImageVolume v = readVideo(file);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("decoded %d frames of 64x48 MJPG in %.1f ms (%.0f frames/s)", v.depth, s * 1000, v.depth / s);
        QCOMPARE(v.depth, 30);
        QCOMPARE(v.shape(), (std::vector<std::size_t>{30, 48, 64, 3}));
        QVERIFY(std::fabs(*v.meta.frameTimeMs - 1000.0 / 15) < 1e-6);
        QCOMPARE(*v.meta.declaredFrames, 30L);
        // RGB order: frame 10 has B = 80, G = 175, R = 128 (MJPG loses a little).
        const std::size_t p = std::size_t(10) * 48 * 64 * 3;
        QVERIFY(std::fabs(v.values[p + 0] - 128) <= 3 && std::fabs(v.values[p + 1] - 175) <= 3 &&
                std::fabs(v.values[p + 2] - 80) <= 3);
        const ImageVolume g = readVideo(file, VideoReadOptions{true, 5});
        QCOMPARE(g.shape(), (std::vector<std::size_t>{5, 48, 64}));

        // Cut the file: the header (and OpenCV) still claim 30 frames, fewer decode.
        const std::string bytes = readBytes(file);
        const fs::path cut = tmp_.filePath("cut.avi").toStdString();
        writeBytes(cut, bytes.substr(0, bytes.size() * 6 / 10));
        const std::string e = errorOf([&] {
            const ImageVolume c = readVideo(cut);
            qInfo("truncated: %d frames decode, header says %ld", c.depth, c.meta.declaredFrames.value_or(-1));
            QVERIFY(c.depth < 30);
            QVERIFY(c.depth > 5);
        });
        QVERIFY2(e == "(no error)" || e.rfind(cut.string() + ": ", 0) == 0, e.c_str());

        const fs::path empty = tmp_.filePath("empty.mp4").toStdString();
        writeBytes(empty, "");
        QCOMPARE(errorOf([&] { readVideo(empty); }), empty.string() + ": empty file");
        const fs::path junk = tmp_.filePath("junk.mp4").toStdString();
        writeBytes(junk, std::string(5000, 'j'));
        QVERIFY(errorOf([&] { readVideo(junk); }).rfind(junk.string() + ": ", 0) == 0);
    }
};

QTEST_GUILESS_MAIN(TestImageVideoReaders)
#include "test_image_video_readers.moc"
