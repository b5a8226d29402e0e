// core/explain/heatmap.h and core/io/npy_reader.h: readNpy against numpy-written files and
// Lumen's own npyBytes, upsample against torch.nn.functional.interpolate (heatmap_reference.py),
// normalisation, the top-k mask and the CAM cache index.
#include "explain/heatmap.h"
#include "io/npy_reader.h"
#include "io/npy_writer.h"
#include "io/read_error.h"
#include "data/data_error.h"
#include "util/atomic_file.h"

#include "test_support.h"

#include <QProcess>

#include <cmath>
#include <numeric>

using namespace lumen;
using namespace lumen::explain;

namespace {

std::filesystem::path pathOf(const QTemporaryDir& d, const std::string& name) {
    return std::filesystem::path(d.path().toStdString()) / name;
}

void writeFloatNpy(const std::filesystem::path& p, const std::vector<float>& v, const std::vector<std::size_t>& shape) {
    util::writeFileAtomically(p, io::npyBytes(v.data(), v.size() * sizeof(float), "<f4", shape));
}

Heatmap fixedMap(std::vector<std::size_t> shape, unsigned seed) {
    Heatmap h;
    h.shape = std::move(shape);
    std::size_t n = 1;
    for (auto s : h.shape) n *= s;
    h.values.resize(n);
    // Deterministic, irregular values (a small LCG) so every weight matters.
    std::uint32_t x = seed;
    for (float& v : h.values) {
        x = x * 1664525u + 1013904223u;
        v = float((x >> 8) % 10000) / 1000.0f - 3.0f;
    }
    return h;
}

struct UpCase {
    std::string name;
    std::vector<std::size_t> in, out;
};

const std::vector<UpCase> kUpCases = {
    {"up7", {7, 7}, {224, 224}},
    {"odd", {3, 5}, {17, 11}},
    {"down", {9, 8}, {4, 3}},
    {"mixed", {4, 6}, {4, 13}},
    {"one", {1, 5}, {6, 9}},
    {"tri", {3, 4, 5}, {8, 9, 7}},
    {"tri_ct", {2, 6, 6}, {16, 48, 48}},
    {"tri_down", {7, 5, 6}, {3, 5, 4}},
};

}  // namespace

class TestHeatmap : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        for (std::size_t i = 0; i < kUpCases.size(); ++i) {
            const UpCase& c = kUpCases[i];
            const Heatmap h = fixedMap(c.in, unsigned(17 + i));
            std::string target;
            for (std::size_t a = 0; a < c.out.size(); ++a) target += (a ? "x" : "") + std::to_string(c.out[a]);
            writeFloatNpy(pathOf(dir_, "up_in_" + c.name + "__" + target + ".npy"), h.values, h.shape);
        }
        std::vector<float> lumen(105);
        for (std::size_t i = 0; i < lumen.size(); ++i) lumen[i] = float(i) * 0.25f - 3.0f;
        writeFloatNpy(pathOf(dir_, "lumen_written.npy"), lumen, {3, 5, 7});

        QProcess py;
        py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                 {QStringLiteral(LUMEN_SOURCE_DIR "/tests/explain/heatmap_reference.py"), dir_.path()});
        QVERIFY2(py.waitForFinished(300000), "python reference timed out");
        const QByteArray log = py.readAllStandardOutput() + py.readAllStandardError();
        QVERIFY2(py.exitCode() == 0 && py.exitStatus() == QProcess::NormalExit, log.constData());
    }

    void readNpyRoundTripsNpyBytes() {
        const std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 1e-7f, -1e30f};
        writeFloatNpy(pathOf(dir_, "rt.npy"), v, {2, 3});
        const io::NpyArray a = io::readNpy(pathOf(dir_, "rt.npy"));
        QCOMPARE(a.dtype, std::string("<f4"));
        QCOMPARE(a.shape, (std::vector<std::size_t>{2, 3}));
        QCOMPARE(a.values, v);
        // 1-D and 16-bit stored values.
        const std::vector<std::int16_t> s = {-5, 0, 7, 32767};
        util::writeFileAtomically(pathOf(dir_, "rt16.npy"), io::npyBytes(s.data(), s.size() * 2, "<i2", {4}));
        const io::NpyArray b = io::readNpy(pathOf(dir_, "rt16.npy"));
        QCOMPARE(b.shape, (std::vector<std::size_t>{4}));
        QCOMPARE(b.values, (std::vector<float>{-5, 0, 7, 32767}));
    }

    void readNpyReadsNumpyFiles_data() {
        QTest::addColumn<QString>("dtype");
        for (const char* d : {"f4", "f8", "f2", "u1", "i1", "u2", "i2", "u4", "i4", "i8", "u8", "v2"})
            QTest::newRow(d) << QString(d);
    }
    void readNpyReadsNumpyFiles() {
        QFETCH(QString, dtype);
        const io::NpyArray a = io::readNpy(pathOf(dir_, "np_" + dtype.toStdString() + ".npy"));
        QCOMPARE(a.shape, (std::vector<std::size_t>{2, 3, 4}));
        const float offset = dtype.startsWith('i') ? 12.0f : 0.0f;
        for (std::size_t i = 0; i < 24; ++i) QCOMPARE(a.values[i], float(i) - offset);
    }

    void readNpyBoolScalarAndErrors() {
        const io::NpyArray b = io::readNpy(pathOf(dir_, "np_b1.npy"));
        QCOMPARE(b.dtype, std::string("|b1"));
        for (std::size_t i = 0; i < 24; ++i) QCOMPARE(b.values[i], i % 3 == 0 ? 1.0f : 0.0f);
        const io::NpyArray s = io::readNpy(pathOf(dir_, "np_scalar.npy"));
        QVERIFY(s.shape.empty());
        QCOMPARE(s.values, (std::vector<float>{2.5f}));

        const auto err = [&](const std::string& name) {
            return errorOf<io::ReadError>([&] { io::readNpy(pathOf(dir_, name)); });
        };
        std::string e = err("np_fortran.npy");
        QVERIFY2(e.find("np_fortran.npy") != std::string::npos && e.find("fortran") != std::string::npos, e.c_str());
        e = err("np_big.npy");
        QVERIFY2(e.find("np_big.npy") != std::string::npos && e.find("big-endian") != std::string::npos, e.c_str());
        writeTextFile(dir_, "bad_magic.npy", "PK\x03\x04 not numpy at all");
        e = err("bad_magic.npy");
        QVERIFY2(e.find("bad_magic.npy") != std::string::npos && e.find("bad magic") != std::string::npos, e.c_str());
        // Truncated: numpy's own file with its last 10 bytes cut.
        std::ifstream in(pathOf(dir_, "np_f8.npy"), std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        writeTextFile(dir_, "cut.npy", bytes.substr(0, bytes.size() - 10));
        e = err("cut.npy");
        QVERIFY2(e.find("cut.npy") != std::string::npos && e.find("truncated") != std::string::npos, e.c_str());
        e = err("missing.npy");
        QVERIFY2(e.find("missing.npy") != std::string::npos && e.find("cannot open") != std::string::npos, e.c_str());
    }

    void npyHeadersFoundByFuzzingAreErrors_data() {
        QTest::addColumn<QString>("header");
        QTest::addColumn<QString>("expected");
        // fuzz_npy's crash (2026-12-02): itemsize 0 skipped the size check and "-4" read as
        // 2^64-4 elements, so resize() threw std::length_error instead of a ReadError.
        QTest::newRow("fuzz crash") << "{'descr': '<f0[', 'fortran_order': False, 'shape': (1, -4), }"
                                    << "malformed shape";
        QTest::newRow("negative dim") << "{'descr': '<f4', 'fortran_order': False, 'shape': (1, -4), }"
                                      << "malformed shape";
        QTest::newRow("itemsize 0") << "{'descr': '<f0', 'fortran_order': False, 'shape': (3,), }"
                                    << "unsupported npy dtype";
        QTest::newRow("itemsize 04") << "{'descr': '<f04', 'fortran_order': False, 'shape': (3,), }"
                                     << "unsupported npy dtype";
        // 2^32 * 2^32 * 2 elements wrap to 0 in 64 bits: no values with that shape.
        QTest::newRow("count wraps")
            << "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }"
            << "too many elements";
    }
    void npyHeadersFoundByFuzzingAreErrors() {
        QFETCH(QString, header);
        QFETCH(QString, expected);
        const std::string h = header.toStdString() + "\n";
        std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
        bytes += char(h.size() & 0xff);
        bytes += char(h.size() >> 8);
        bytes += h + std::string(16, '\x01');
        const std::string e = errorOf<io::ReadError>([&] { io::parseNpy(bytes, "fuzz.npy"); });
        QVERIFY2(e.find("fuzz.npy") != std::string::npos && e.find(expected.toStdString()) != std::string::npos,
                 e.c_str());
    }

    void upsampleEqualsTorchInterpolate_data() {
        QTest::addColumn<int>("index");
        for (std::size_t i = 0; i < kUpCases.size(); ++i) QTest::newRow(kUpCases[i].name.c_str()) << int(i);
    }
    void upsampleEqualsTorchInterpolate() {
        QFETCH(int, index);
        const UpCase& c = kUpCases[std::size_t(index)];
        const Heatmap h = fixedMap(c.in, unsigned(17 + index));
        const Heatmap up = upsample(h, c.out);
        QCOMPARE(up.shape, c.out);
        for (const char* prefix : {"up_out_", "up_out32_"}) {
            const io::NpyArray ref = io::readNpy(pathOf(dir_, prefix + c.name + ".npy"));
            QCOMPARE(ref.shape, c.out);
            // Against float64 torch: absolute 1e-6 (the contract). Against float32 torch, which
            // rounds source indices and weights in float (measured up to 1.4e-6 off its own
            // float64 result at 7->3): 4e-6 relative to max(1, |value|).
            const bool exact = std::string(prefix) == "up_out_";
            double worst = 0;
            for (std::size_t i = 0; i < ref.values.size(); ++i) {
                const double d = std::abs(double(up.values[i]) - double(ref.values[i]));
                worst = std::max(worst, exact ? d : d / std::max(1.0, std::abs(double(ref.values[i]))));
            }
            qInfo("%s %s: max |lumen - torch| = %.3g%s", c.name.c_str(), prefix, worst, exact ? "" : " (relative)");
            QVERIFY2(worst <= (exact ? 1e-6 : 4e-6), (c.name + " " + prefix).c_str());
        }
    }

    void upsampleRejectsBadShapes() {
        const Heatmap h = fixedMap({3, 3}, 1);
        QVERIFY(errorOf<std::invalid_argument>([&] {
                    upsample(h, {4, 4, 4});
                }).find("ranks differ") != std::string::npos);
        Heatmap bad = h;
        bad.values.pop_back();
        QVERIFY(errorOf<std::invalid_argument>([&] {
                    upsample(bad, {4, 4});
                }).find("needs 9 values") != std::string::npos);
    }

    void normalisedIsMinMax() {
        const Heatmap h{{2, 2}, {2.0f, 4.0f, 3.0f, 6.0f}};
        QCOMPARE(normalised(h).values, (std::vector<float>{0.0f, 0.5f, 0.25f, 1.0f}));
        const Heatmap flat{{2, 2}, {5.0f, 5.0f, 5.0f, 5.0f}};
        QCOMPARE(normalised(flat).values, (std::vector<float>{0, 0, 0, 0}));
    }

    void topFractionMaskKeepsKWithIndexTies() {
        // 10 values, ratio 0.35 -> k = 3; 0.9 appears at 1 and 4, 0.5 at 2, 6 and 8.
        const Heatmap h{{2, 5}, {0.1f, 0.9f, 0.5f, 0.2f, 0.9f, 0.0f, 0.5f, 0.3f, 0.5f, NAN}};
        QCOMPARE(topFractionMask(h, 0.35), (std::vector<std::uint8_t>{0, 1, 1, 0, 1, 0, 0, 0, 0, 0}));
        QCOMPARE(topFractionMask(h, 0.45), (std::vector<std::uint8_t>{0, 1, 1, 0, 1, 0, 1, 0, 0, 0}));
        QCOMPARE(topFractionMask(h, 0.05), std::vector<std::uint8_t>(10, 0));  // floor(0.5) = 0
        const auto all = topFractionMask(h, 1.0);
        QCOMPARE(std::accumulate(all.begin(), all.end(), 0), 10);
        // 224x224 at 0.1: exactly 5017 pixels, like nn::topkMask.
        const Heatmap big = fixedMap({224, 224}, 3);
        const auto m = topFractionMask(big, 0.1);
        QCOMPARE(std::accumulate(m.begin(), m.end(), 0), 5017);
    }

    void camCacheRoundTrips() {
        const std::filesystem::path ws = pathOf(dir_, "ws");
        writeTextFile(dir_, "model.pt", "not really a model, but bytes to hash");
        const auto dirA = camCacheDir(ws, pathOf(dir_, "model.pt"), "features.7", "gradcam");
        const auto dirB = camCacheDir(ws, pathOf(dir_, "model.pt"), "features.7", "gradcam++");
        QCOMPARE(dirA.parent_path(), ws / "cache" / "cam");
        const std::string key = dirA.filename().string();
        QCOMPARE(key.size(), std::size_t(16 + 1 + 10 + 1 + 7));
        QVERIFY2(key.substr(16) == "_features.7_gradcam", key.c_str());
        QVERIFY(dirA != dirB);
        QVERIFY2(dirB.filename().string().substr(16) == "_features.7_gradcam++", dirB.c_str());
        QVERIFY2(camCacheDir(ws, pathOf(dir_, "model.pt"), "a/b c", "x").filename().string().substr(16) == "_a_b_c_x",
                 "unsafe characters");
        QVERIFY(errorOf<std::runtime_error>([&] {
                    camCacheDir(ws, pathOf(dir_, "nope.pt"), "x", "y");
                }).find("nope.pt") != std::string::npos);

        // Empty cache before anything was written.
        QVERIFY(readCamCache(dirA).entries.empty());

        CamCache c;
        c.dir = dirA;
        c.model = "model.pt";
        c.layer = "features.7";
        c.method = "gradcam";
        CamEntry e1;
        e1.id = "images/00000001_000.png";
        e1.label = "Pleural_Thickening";
        e1.target = 12;
        e1.file = camFileName(e1.id, e1.label);
        e1.score = 1.0 / 3.0;
        e1.rawMin = 0;
        e1.rawMax = 2.75;
        e1.inputH = 224;
        e1.inputW = 224;
        e1.prob = 0.8;
        e1.probDrop = 0.25;
        e1.camDrop = 0.55;
        CamEntry e2 = e1;
        e2.id = "images/00000001,000.png";  // a comma: quoted in the CSV
        e2.label = "Lung nodule";
        e2.file = camFileName(e2.id, e2.label);
        e2.inputD = 32;
        e2.prob.reset();
        e2.probDrop.reset();
        e2.camDrop.reset();
        QVERIFY(e1.file != e2.file);
        QVERIFY(camFileName("a/b", "x") != camFileName("a_b", "x"));
        QCOMPARE(camFileName("img1", "Effusion"), std::string("img1__Effusion.npy"));
        c.entries = {e1, e2};
        const Heatmap cam1{{7, 7}, std::vector<float>(49, 0.5f)};
        const Heatmap cam2 = fixedMap({2, 3, 3}, 9);
        saveCam(cam1, e1, dirA);
        saveCam(cam2, e2, dirA);
        writeCamCacheIndex(c);

        const CamCache r = readCamCache(dirA);
        QCOMPARE(r.model, c.model);
        QCOMPARE(r.layer, c.layer);
        QCOMPARE(r.method, c.method);
        QCOMPARE(r.entries.size(), std::size_t(2));
        const CamEntry* f1 = r.find(e1.id, e1.label);
        const CamEntry* f2 = r.find(e2.id, e2.label);
        QVERIFY(f1 && f2);
        QVERIFY(!r.find(e1.id, "Effusion"));
        QCOMPARE(f1->target, 12);
        QCOMPARE(f1->score, 1.0 / 3.0);  // shortest round-trip text keeps doubles exact
        QCOMPARE(*f1->prob, 0.8);
        QCOMPARE(*f1->camDrop, 0.55);
        QCOMPARE(f2->inputD, std::size_t(32));
        QVERIFY(!f2->prob && !f2->probDrop && !f2->camDrop);
        QCOMPARE(f1->file, dirA / e1.file);
        QCOMPARE(loadCam(*f1).values, cam1.values);
        QCOMPARE(loadCam(*f2).shape, cam2.shape);
        QCOMPARE(loadCam(e2, dirA).values, cam2.values);
        // Written back from what was read: index.csv keeps bare names.
        writeCamCacheIndex(r);
        std::ifstream in(dirA / "index.csv");
        std::string text((std::istreambuf_iterator<char>(in)), {});
        QVERIFY2(text.find(dirA.string()) == std::string::npos, text.c_str());
        QVERIFY2(
            text.rfind("id,label,target,file,score,raw_min,raw_max,input_h,input_w,input_d,prob,prob_drop,cam_drop\n",
                       0) == 0,
            text.c_str());
        QVERIFY2(text.find("\"images/00000001,000.png\",Lung nodule,12,") != std::string::npos, text.c_str());
    }

    void camCacheErrorsNameFileAndRow() {
        const std::filesystem::path d = pathOf(dir_, "badcache");
        std::filesystem::create_directories(d);
        const std::string header =
            "id,label,target,file,score,raw_min,raw_max,input_h,input_w,input_d,prob,prob_drop,cam_drop\n";
        util::writeFileAtomically(d / "index.csv", header +
                                                       "a,L,0,a__L.npy,1,0,1,224,224,1,,,\n"
                                                       "b,L,0,b__L.npy,oops,0,1,224,224,1,,,\n");
        std::string e = errorOf<data::DataError>([&] { readCamCache(d); });
        QVERIFY2(e.find("index.csv:3") != std::string::npos && e.find("score") != std::string::npos &&
                     e.find("oops") != std::string::npos,
                 e.c_str());
        util::writeFileAtomically(d / "index.csv", "id,label,target,file\n");
        e = errorOf<data::DataError>([&] { readCamCache(d); });
        QVERIFY2(e.find("index.csv") != std::string::npos && e.find("score") != std::string::npos &&
                     e.find("missing column") != std::string::npos,
                 e.c_str());
        util::writeFileAtomically(d / "index.csv", header + "a,L,-1,a__L.npy,1,0,1,224,224,1,,,\n");
        e = errorOf<data::DataError>([&] { readCamCache(d); });
        QVERIFY2(e.find("index.csv:2") != std::string::npos && e.find("target") != std::string::npos, e.c_str());
        // A CAM file that is not 2-D/3-D.
        CamEntry bad;
        bad.file = d / "flat.npy";
        const std::vector<float> v(5, 1.0f);
        writeFloatNpy(bad.file, v, {5});
        e = errorOf<io::ReadError>([&] { loadCam(bad); });
        QVERIFY2(e.find("flat.npy") != std::string::npos && e.find("2-D or 3-D") != std::string::npos, e.c_str());
    }
};

QTEST_GUILESS_MAIN(TestHeatmap)
#include "test_heatmap.moc"
