// Qt Test suite for core/io nifti_reader, nifti_writer and dicom_series: the demo workspace's
// NIfTI against nibabel, NIfTI-2 / .hdr+.img / scaled 4-D files written by nibabel, the demo
// DICOM series against the NIfTI it was made from, gaps and malformed files.
#include "data/volume_preprocessing.h"
#include "demo/demo_workspace.h"
#include "io/dicom_series.h"
#include "io/nifti_reader.h"
#include "io/nifti_writer.h"
#include "io/npy_writer.h"
#include "io/read_error.h"

#include "io_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <cmath>

using namespace lumen::io;
using namespace lumen::iotest;
namespace fs = std::filesystem;

namespace {

// numpy compares our .npy (already in (t, k, j, i) order) with nibabel's array transposed.
const char* kNibabelCompare = R"PY(
import sys, json
import numpy as np, nibabel as nib
img = nib.load(sys.argv[1])
ref = np.asarray(img.get_fdata(), np.float64).T
ours = np.load(sys.argv[2])
print(json.dumps({'shape': list(ours.shape), 'ref_shape': list(ref.shape),
                  'max_diff': float(np.max(np.abs(ours.astype(np.float64) - ref))) if ours.shape == ref.shape else None,
                  'affine': img.affine.tolist(), 'dtype': str(ours.dtype)}))
)PY";

}  // namespace

class TestVolumeReaders : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path demo_;

    void compareWithNibabel(const fs::path& file, double tol = 1e-4) {
        const ImageVolume v = readNifti(file);
        const fs::path npy = file.string() + ".ours.npy";
        writeNpy(npy, v);
        const auto r =
            runPython(kNibabelCompare, {QString::fromStdString(file.string()), QString::fromStdString(npy.string())});
        QCOMPARE(r["shape"].dump(), r["ref_shape"].dump());
        QVERIFY2(r["max_diff"].get<double>() <= tol, r.dump().c_str());
        const auto a = rasAffine(v);
        for (int i = 0; i < 16; ++i)
            QVERIFY2(
                std::fabs(a[std::size_t(i)] - r["affine"][std::size_t(i / 4)][std::size_t(i % 4)].get<double>()) < 1e-4,
                ("affine differs from nibabel's: " + r["affine"].dump()).c_str());
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        demo_ = fs::path(tmp_.filePath("demo").toStdString());
        lumen::demo::DemoOptions o;
        o.chestImages = 4;
        o.ctVolumes = 2;
        o.angioStudies = 2;
        o.predictionStudies = 10;
        lumen::demo::createDemoWorkspace(demo_, o);
    }

    void demoNiftiMatchesNibabel() {
        const fs::path f = demo_ / "ct/volumes/ct_0001.nii.gz";
        compareWithNibabel(f, 0.0);
        const ImageVolume v = readNifti(f);
        QCOMPARE(v.shape(), (std::vector<std::size_t>{48, 64, 64}));
        QCOMPARE(v.storedType, StoredType::I16);
        QCOMPARE(v.spacing[0], 1.5);
        QCOMPARE(v.spacing[2], 2.5);
        QCOMPARE(v.meta.format, std::string("NIfTI-1"));
    }

    void nibabelWrittenVariants() {
        const fs::path dir = tmp_.filePath("nib").toStdString();
        fs::create_directories(dir);
        runPython(R"PY(
import sys, numpy as np, nibabel as nib
d = sys.argv[1]
rng = np.random.default_rng(3)
a = rng.integers(-500, 1500, size=(7, 5, 4, 3)).astype(np.int16)
aff = np.array([[0, -0.8, 0, 10], [0.9, 0, 0, -20], [0, 0, 3, 5], [0, 0, 0, 1]], float)
h = nib.Nifti1Header(); h.set_data_dtype(np.int16)
img = nib.Nifti1Image(a, aff, h); img.header.set_slope_inter(0.5, -3); img.header.set_xyzt_units('mm', 'sec'); img.header['pixdim'][4] = 0.25
nib.save(img, d + '/scaled4d.nii')
nib.save(nib.Nifti2Image(rng.normal(size=(6, 5, 4)).astype(np.float32), aff), d + '/v2.nii.gz')
nib.save(nib.Nifti1Pair(rng.integers(0, 255, size=(6, 5, 4)).astype(np.uint8), aff), d + '/pair.img')
nib.save(nib.Nifti1Image(rng.normal(size=(3, 4, 5)).astype('>f8'), aff), d + '/bigendian.nii')
print('{}')
)PY",
                  {QString::fromStdString(dir.string())});
        for (const char* n : {"scaled4d.nii", "v2.nii.gz", "pair.hdr", "bigendian.nii"})
            compareWithNibabel(dir / n, 1e-5);
        const ImageVolume v4 = readNifti(dir / "scaled4d.nii");
        QCOMPARE(v4.shape(), (std::vector<std::size_t>{3, 4, 5, 7}));
        QCOMPARE(v4.meta.rescaleSlope, 0.5);
        QCOMPARE(*v4.meta.frameTimeMs, 250.0);
        QCOMPARE(readNifti(dir / "v2.nii.gz").meta.format, std::string("NIfTI-2"));
        QCOMPARE(readNifti(dir / "pair.img").values, readNifti(dir / "pair.hdr").values);
    }

    void writerRoundTripsThroughNibabel() {
        const ImageVolume v = readNifti(demo_ / "ct/volumes/ct_0002.nii.gz");
        const fs::path out = tmp_.filePath("roundtrip.nii.gz").toStdString();
        writeNifti(out, v);
        compareWithNibabel(out, 0.0);
        QCOMPARE(readNifti(out).values, v.values);
    }

    void demoSeriesMatchesItsNifti() {
        const auto s = loadDicomSeries(demo_ / "ct/dicom/ct_0001");
        const ImageVolume n = readNifti(demo_ / "ct/volumes/ct_0001.nii.gz");
        QCOMPARE(s.volume.shape(), (std::vector<std::size_t>{48, 64, 64}));
        QVERIFY(s.report.uniform);
        QVERIFY(s.report.gapsAfter.empty());
        QCOMPARE(s.report.sliceSpacing, 2.5);
        QCOMPARE(s.volume.spacing[0], 1.5);
        QCOMPARE(s.volume.spacing[2], 2.5);
        // docs/demo-workspace.md: DICOM (c, r, k) is NIfTI voxel (63-c, 63-r, k).
        std::size_t mismatches = 0;
        for (std::size_t k = 0; k < 48; ++k)
            for (std::size_t r = 0; r < 64; ++r)
                for (std::size_t c = 0; c < 64; ++c)
                    if (s.volume.values[(k * 64 + r) * 64 + c] != n.values[(k * 64 + (63 - r)) * 64 + (63 - c)])
                        ++mismatches;
        QCOMPARE(mismatches, std::size_t(0));
        // Same geometry in LPS: the voxel centre of DICOM (0,0,0) is NIfTI (63,63,0).
        const auto a = rasAffine(n);
        const double lpsX = -(a[0] * 63 + a[1] * 63 + a[3]), lpsY = -(a[4] * 63 + a[5] * 63 + a[7]);
        QVERIFY(std::fabs(s.volume.origin[0] - lpsX) < 1e-6);
        QVERIFY(std::fabs(s.volume.origin[1] - lpsY) < 1e-6);
    }

    void seriesOnThreadsMatchesSerialWithProgress() {
        // The gappy, reverse-named folder of the next test's kind, read serially and on 4
        // threads: the same volume and report; progress rises to 1; a throwing progress
        // callback stops the read with its own exception.
        const fs::path src = demo_ / "ct/dicom/ct_0001";
        const fs::path dir = tmp_.filePath("threads").toStdString();
        fs::create_directories(dir);
        for (int k = 1; k <= 48; ++k) {
            if (k == 30) continue;
            char from[32], to[32];
            std::snprintf(from, sizeof from, "IM%04d.dcm", k);
            std::snprintf(to, sizeof to, "z%02d.dcm", 60 - k);
            fs::copy_file(src / from, dir / to);
        }
        writeBytes(dir / "junk.dcm", "DICM? no");
        DicomSeriesOptions serial;
        serial.threads = 1;
        const auto a = loadDicomSeries(dir, {}, serial);
        DicomSeriesOptions parallel;
        parallel.threads = 4;
        std::vector<double> fractions;
        parallel.progress = [&](double f, const std::string&) { fractions.push_back(f); };
        const auto b = loadDicomSeries(dir, {}, parallel);
        QCOMPARE(b.volume.values, a.volume.values);
        QCOMPARE(b.volume.stored, a.volume.stored);
        QCOMPARE(b.report.files, a.report.files);
        QCOMPARE(b.report.positions, a.report.positions);
        QCOMPARE(b.report.skipped, a.report.skipped);
        QCOMPARE(b.report.gapsAfter, a.report.gapsAfter);
        QCOMPARE(b.volume.origin, a.volume.origin);
        QCOMPARE(b.volume.meta.seriesInstanceUid, a.volume.meta.seriesInstanceUid);
        QVERIFY(fractions.size() >= 2);
        QVERIFY(std::is_sorted(fractions.begin(), fractions.end()));
        QCOMPARE(fractions.back(), 1.0);
        DicomSeriesOptions stop;
        stop.threads = 2;
        int calls = 0;
        stop.progress = [&](double f, const std::string&) {
            if (f > 0.3 && ++calls == 1) throw std::runtime_error("stop here");
        };
        QCOMPARE(errorOf<std::runtime_error>([&] { loadDicomSeries(dir, {}, stop); }), std::string("stop here"));
    }

    void seriesSortsByPositionAndReportsGaps() {
        const fs::path src = demo_ / "ct/dicom/ct_0001";
        const fs::path dir = tmp_.filePath("gappy").toStdString();
        fs::create_directories(dir);
        // File names in reverse order of position, slice 20 missing, a non-DICOM file.
        for (int k = 1; k <= 48; ++k) {
            if (k == 21) continue;
            char from[32], to[32];
            std::snprintf(from, sizeof from, "IM%04d.dcm", k);
            std::snprintf(to, sizeof to, "z%02d.dcm", 60 - k);
            fs::copy_file(src / from, dir / to);
        }
        writeBytes(dir / "notes.txt", "not a slice");
        const auto s = loadDicomSeries(dir);
        QCOMPARE(s.volume.depth, 47);
        QCOMPARE(s.report.gapsAfter, (std::vector<std::size_t>{19}));
        QVERIFY(!s.report.uniform);
        QCOMPARE(s.report.maxStep, 5.0);
        QCOMPARE(s.report.skipped.size(), std::size_t(1));
        QVERIFY(!s.report.warnings.empty());
        const auto full = loadDicomSeries(src);
        QVERIFY(std::equal(s.volume.values.begin(), s.volume.values.begin() + 20 * 4096, full.volume.values.begin()));
        QVERIFY(std::equal(s.volume.values.begin() + 20 * 4096, s.volume.values.end(),
                           full.volume.values.begin() + 21 * 4096));
        const fs::path none = tmp_.filePath("empty_series").toStdString();
        fs::create_directories(none);
        QCOMPARE(errorOf([&] { loadDicomSeries(none); }), none.string() + ": no DICOM image slices found");
    }

    // The CT path (data::readCtVolume) does not stack an irregular folder silently: a gap or a
    // second series is an error naming the folder, or a warning when allowed.
    void ctPathReportsGapsAndSeveralSeries() {
        const fs::path gappy = tmp_.filePath("gappy").toStdString();  // made by the test above
        QVERIFY(fs::is_directory(gappy));
        const auto gapError = errorOf<ReadError>([&] { lumen::data::readCtVolume(gappy); });
        QVERIFY2(gapError.starts_with(gappy.string() + ": not one regular DICOM series: gap of 5 mm after slice 19"),
                 gapError.c_str());
        QVERIFY2(gapError.find("data.allow_irregular_series") != std::string::npos, gapError.c_str());
        std::vector<std::string> warnings;
        const auto v = lumen::data::readCtVolume(gappy, {true}, &warnings);
        QCOMPARE(v.depth, 47);
        QVERIFY(!warnings.empty());
        QVERIFY2(warnings[0].starts_with(gappy.string() + ": gap of 5 mm"), warnings[0].c_str());

        // The demo series plus 5 slices of another series (new SeriesInstanceUID, by pydicom).
        const fs::path src = demo_ / "ct/dicom/ct_0001";
        const fs::path two = tmp_.filePath("two_series").toStdString();
        fs::create_directories(two);
        for (const auto& e : fs::directory_iterator(src)) fs::copy_file(e.path(), two / e.path().filename());
        runPython(R"PY(
import sys, json, pydicom
for k in range(1, 6):
    ds = pydicom.dcmread(f"{sys.argv[1]}/IM{k:04d}.dcm")
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.777"
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.777.{k}"
    ds.save_as(f"{sys.argv[2]}/other{k}.dcm")
print(json.dumps({}))
)PY",
                  {QString::fromStdString(src.string()), QString::fromStdString(two.string())});
        const auto seriesError = errorOf<ReadError>([&] { lumen::data::readCtVolume(two); });
        QVERIFY2(seriesError.find("2 series in one folder") != std::string::npos &&
                     seriesError.find("1.2.826.0.1.3680043.8.498.777") != std::string::npos &&
                     seriesError.find("(48 slices)") != std::string::npos,
                 seriesError.c_str());
        warnings.clear();
        QCOMPARE(lumen::data::readCtVolume(two, {true}, &warnings).depth, 48);
        QCOMPARE(warnings.size(), std::size_t(1));
        // The regular demo series reads without a word.
        warnings.clear();
        QCOMPARE(lumen::data::readCtVolume(src, {}, &warnings).depth, 48);
        QVERIFY(warnings.empty());
    }

    void malformedNiftiGivesErrors() {
        const fs::path dir = tmp_.filePath("badnii").toStdString();
        fs::create_directories(dir);
        const std::string good = readBytes(demo_ / "ct/volumes/ct_0001.nii.gz");
        writeBytes(dir / "empty.nii", "");
        writeBytes(dir / "words.nii", std::string(400, 'x'));
        writeBytes(dir / "words.nii.gz", "not gzip at all");
        // Uncompressed copy, then truncations of it.
        writeNifti(dir / "plain.nii", readNifti(demo_ / "ct/volumes/ct_0001.nii.gz"));
        const std::string plain = readBytes(dir / "plain.nii");
        writeBytes(dir / "trunc_header.nii", plain.substr(0, 200));
        writeBytes(dir / "trunc_data.nii", plain.substr(0, plain.size() / 2));
        writeBytes(dir / "trunc.nii.gz", good.substr(0, good.size() / 2));
        // A header declaring 32767^3 voxels on a small file (dim[1..3] at byte 42).
        std::string huge = plain;
        for (int d = 1; d <= 3; ++d) {
            huge[std::size_t(40 + 2 * d)] = char(0xff);
            huge[std::size_t(41 + 2 * d)] = char(0x7f);
        }
        writeBytes(dir / "huge.nii", huge);
        // Found by tests/fuzz/fuzz_nifti: a NIfTI-2 header with dim[0] ~ 7e17 overflowed
        // nifti2_io's stack; the header is now checked before nifti2_io sees it.
        runPython(R"PY(
import sys, struct, gzip, numpy as np, nibabel as nib
nib.save(nib.Nifti2Image(np.zeros((2, 2, 2), np.float32), np.eye(4)), sys.argv[1] + '/dim0.nii')
b = bytearray(open(sys.argv[1] + '/dim0.nii', 'rb').read())
b[16:24] = struct.pack('<q', 727905340894087693)
open(sys.argv[1] + '/dim0.nii', 'wb').write(b)
open(sys.argv[1] + '/dim0.nii.gz', 'wb').write(gzip.compress(bytes(b)))
# Every dimension allowed, their product 2^64: it wrapped to 0 voxels and passed the size check.
struct.pack_into('<8q', b, 16, 4, 65536, 65536, 65536, 65536, 1, 1, 1)
open(sys.argv[1] + '/wrap.nii', 'wb').write(b)
print('{}')
)PY",
                  {QString::fromStdString(dir.string())});
        for (const char* n : {"dim0.nii", "dim0.nii.gz"})
            QCOMPARE(errorOf([&] { readNifti(dir / n); }),
                     (dir / n).string() + ": dim[0] is 727905340894087693, not 1..7");
        QCOMPARE(errorOf([&] { readNifti(dir / "wrap.nii"); }),
                 (dir / "wrap.nii").string() + ": declared size 65536x65536x65536x65536 is implausibly large");
        for (const char* n : {"empty.nii", "words.nii", "words.nii.gz", "trunc_header.nii", "trunc_data.nii",
                              "trunc.nii.gz", "huge.nii"}) {
            const std::string e = errorOf([&] { readNifti(dir / n); });
            qInfo("%s", e.c_str());
            QVERIFY2(e.rfind((dir / n).string() + ": ", 0) == 0, e.c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestVolumeReaders)
#include "test_volume_readers.moc"
