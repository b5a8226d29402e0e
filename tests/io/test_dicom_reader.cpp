// Qt Test suite for core/io/dicom_reader: every pixel-bearing pydicom test file we support is
// decoded and compared with pydicom in the same run (see docs/io.md for which reference each
// transfer syntax gets), plus malformed inputs that must give errors, not crashes.
#include "io/dicom_reader.h"
#include "io/rle_decoder.h"
#include "io/npy_writer.h"
#include "io/read_error.h"

#include "io_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <chrono>
#include <cmath>

using namespace lumen::io;
using namespace lumen::iotest;

namespace {

// file -> lossless twin whose uncompressed pixels are the reference (independent of our decoders).
const std::map<std::string, std::string> kTwins = {
    {"MR_small_jp2klossless.dcm", "MR_small.dcm"},
    {"MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"},
    {"SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm"},
    {"SC_rgb_gdcm_KY.dcm", "SC_rgb_rle.dcm"},
};

const std::vector<std::string> kFiles = {
    // uncompressed: implicit/explicit little, big endian, deflate, 1/8/16/32 bit, YBR_FULL_422
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_implicit.dcm",
    "MR_small_padded.dcm",
    "ExplVR_BigEnd.dcm",
    "SC_rgb_small_odd.dcm",
    "SC_rgb_jpeg_dcmd.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "image_dfl.dcm",
    "liver_1frame.dcm",
    "liver_expb_1frame.dcm",
    "rtdose.dcm",
    "rtdose_1frame.dcm",
    "rtdose_expb.dcm",
    "rtdose_expb_1frame.dcm",
    // RLE
    "MR_small_RLE.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_rle_16bit.dcm",
    "SC_rgb_rle_16bit_2frame.dcm",
    "SC_rgb_rle_2frame.dcm",
    "SC_rgb_rle_32bit.dcm",
    "SC_rgb_rle_32bit_2frame.dcm",
    "rtdose_rle.dcm",
    "rtdose_rle_1frame.dcm",
    // JPEG baseline / extended / lossless
    "JPEG-lossy.dcm",
    "JPGExtended.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "SC_jpeg_no_color_transform_2.dcm",
    "SC_rgb_dcmtk_+eb+cr.dcm",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm",
    "SC_rgb_dcmtk_+eb+cy+n2.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm",
    "SC_rgb_dcmtk_+eb+cy+s4.dcm",
    "SC_rgb_jpeg_app14_dcmd.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "SC_rgb_jpeg_lossy_gdcm.dcm",
    "SC_rgb_small_odd_jpeg.dcm",
    // JPEG-LS, JPEG 2000 lossless with twins
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "SC_rgb_gdcm_KY.dcm",
};

const char* kCrossCheck = R"PY(
import sys, json, os, subprocess, tempfile
import numpy as np, pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut, convert_color_space
src, ours, spec = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
JPEG = {'1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70'}
JLS = {'1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81'}
tmp = tempfile.mkdtemp()
out = {}
for name in spec['files']:
    path = os.path.join(src, name)
    ds = pydicom.dcmread(path, force=True)
    ts = str(ds.file_meta.get('TransferSyntaxUID', ''))
    if name in spec['twins']:
        ref_path, how = os.path.join(src, spec['twins'][name]), 'lossless twin ' + spec['twins'][name] + ' (pydicom)'
    elif ts in JPEG or ts in JLS:
        tool = 'dcmdjpeg' if ts in JPEG else 'dcmdjpls'
        ref_path = os.path.join(tmp, name)
        subprocess.run([tool, path, ref_path], check=True, capture_output=True)
        how = tool + ' + pydicom'
    else:
        ref_path, how = path, 'pydicom ' + ('RLE handler' if ts == '1.2.840.10008.1.2.5' else 'numpy handler')
    ref = pydicom.dcmread(ref_path, force=True)
    arr = ref.pixel_array
    pi = ref.PhotometricInterpretation
    if ref.SamplesPerPixel == 1:
        vals = apply_modality_lut(arr, ref)
    elif pi in ('YBR_FULL', 'YBR_FULL_422'):
        vals = convert_color_space(arr, pi, 'RGB')
    else:
        vals = arr
    mv = np.load(os.path.join(ours, name + '.values.npy'))
    ms = np.load(os.path.join(ours, name + '.stored.npy'))
    r = {'reference': how, 'ref_shape': list(arr.shape), 'shape': list(mv.shape), 'stored_shape': list(ms.shape),
         'ycc': pi.startswith('YBR'), 'values_dtype': str(mv.dtype)}
    if mv.shape == arr.shape and ms.shape == arr.shape:
        v = np.asarray(vals, np.float64)
        r['max_abs_value_diff'] = float(np.max(np.abs(mv.astype(np.float64) - v)))
        r['max_rel_value_diff'] = float(np.max(np.abs(mv.astype(np.float64) - v) / np.maximum(1.0, np.abs(v))))
        r['max_stored_diff'] = float(np.max(np.abs(ms.astype(np.float64) - arr.astype(np.float64))))
        r['stored_dtype_matches'] = (ms.dtype == arr.dtype) or (ms.dtype.kind == arr.dtype.kind and ms.dtype.itemsize == arr.dtype.itemsize)
    out[name] = r
print(json.dumps(out))
)PY";

}  // namespace

class TestDicomReader : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    nlohmann::json reference_;
    std::map<std::string, ImageVolume> decoded_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        QVERIFY2(std::filesystem::is_directory(kPydicomFiles), "pydicom's test files are missing (python3-pydicom)");
        const std::filesystem::path ours = tmp_.filePath("ours").toStdString();
        std::filesystem::create_directories(ours);
        for (const auto& name : kFiles) {
            ImageVolume v;
            try {
                v = readDicom(kPydicomFiles / name);
            } catch (const std::exception& e) {
                QFAIL(e.what());
            }
            writeNpy(ours / (name + ".values.npy"), v);
            writeNpy(ours / (name + ".stored.npy"), v, true);
            decoded_[name] = std::move(v);
        }
        nlohmann::json spec{{"files", kFiles}, {"twins", kTwins}};
        const auto specPath = ours / "spec.json";
        writeBytes(specPath, spec.dump());
        reference_ =
            runPython(kCrossCheck, {QString::fromStdString(kPydicomFiles.string()),
                                    QString::fromStdString(ours.string()), QString::fromStdString(specPath.string())});
    }

    void matchesPydicom_data() {
        QTest::addColumn<QString>("file");
        for (const auto& f : kFiles) QTest::newRow(f.c_str()) << QString::fromStdString(f);
    }
    void matchesPydicom() {
        QFETCH(QString, file);
        const auto& r = reference_.at(file.toStdString());
        qInfo("%s: %s, shape %s", qPrintable(file), r["reference"].get<std::string>().c_str(),
              r["shape"].dump().c_str());
        QCOMPARE(r["shape"].dump(), r["ref_shape"].dump());
        QCOMPARE(r["stored_shape"].dump(), r["ref_shape"].dump());
        QCOMPARE(r["values_dtype"].get<std::string>(), std::string("float32"));
        QVERIFY(r["stored_dtype_matches"].get<bool>());
        QCOMPARE(r["max_stored_diff"].get<double>(), 0.0);
        // YBR -> RGB: our arithmetic and pydicom's may round a .5 differently.
        if (r["ycc"].get<bool>()) QVERIFY2(r["max_abs_value_diff"].get<double>() <= 1.0, r.dump().c_str());
        else QVERIFY2(r["max_rel_value_diff"].get<double>() <= 1e-6, r.dump().c_str());
    }

    void metadata() {
        const auto& ct = decoded_.at("CT_small.dcm");
        QCOMPARE(ct.meta.modality, std::string("CT"));
        QCOMPARE(ct.meta.transferSyntax, std::string("1.2.840.10008.1.2.1"));
        QCOMPARE(ct.meta.rescaleIntercept, -1024.0);
        QCOMPARE(ct.storedType, StoredType::I16);
        QCOMPARE(ct.shape(), (std::vector<std::size_t>{128, 128}));
        const auto ref = runPython(R"PY(
import sys, json, pydicom
ds = pydicom.dcmread(sys.argv[1])
print(json.dumps({'ps': [float(x) for x in ds.PixelSpacing], 'ipp': [float(x) for x in ds.ImagePositionPatient],
                  'iop': [float(x) for x in ds.ImageOrientationPatient], 'wc': float(ds.get('WindowCenter', 'nan')) if 'WindowCenter' in ds else None,
                  'thick': float(ds.SliceThickness)}))
)PY",
                                   {QString::fromStdString((kPydicomFiles / "CT_small.dcm").string())});
        QCOMPARE(ct.spacing[0], ref["ps"][1].get<double>());
        QCOMPARE(ct.spacing[1], ref["ps"][0].get<double>());
        for (int i = 0; i < 3; ++i) QCOMPARE(ct.origin[std::size_t(i)], ref["ipp"][std::size_t(i)].get<double>());
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(ct.direction[std::size_t(i * 3)], ref["iop"][std::size_t(i)].get<double>());
            QCOMPARE(ct.direction[std::size_t(i * 3 + 1)], ref["iop"][std::size_t(i + 3)].get<double>());
        }
        const auto& rle2 = decoded_.at("SC_rgb_rle_2frame.dcm");
        QCOMPARE(rle2.depth, 2);
        QCOMPARE(rle2.shape(), (std::vector<std::size_t>{2, 100, 100, 3}));
        QCOMPARE(rle2.meta.decoder, std::string("DCMTK RLE"));
        QCOMPARE(decoded_.at("SC_rgb_dcmtk_+eb+cy+np.dcm").meta.photometric, std::string("RGB"));
        QCOMPARE(decoded_.at("SC_rgb_dcmtk_+eb+cy+np.dcm").meta.sourcePhotometric, std::string("YBR_FULL_422"));
        QVERIFY(decoded_.at("MR_small_jp2klossless.dcm").meta.decoder.rfind("OpenJPEG", 0) == 0);
        QCOMPARE(decoded_.at("rtdose.dcm").depth, 15);
    }

    void jpeg2000WithoutTwin() {
        // Values published in pydicom's own test suite (test_gdcm_pixel_data.py, decoded by
        // GDCM): the codestream says unsigned 13-bit, the dataset signed; the dataset wins.
        const ImageVolume v = readDicom(kPydicomFiles / "J2K_pixelrep_mismatch.dcm");
        QCOMPARE(v.storedType, StoredType::I16);
        auto at = [&](int r, int c) { return v.values[std::size_t(r) * 512 + std::size_t(c)]; };
        QCOMPARE(at(0, 0), -2000.0f);
        const std::vector<float> col279{621, 412, 138, -193, -520, -767, -907, -966, -988, -995};
        const std::vector<float> col106{-377, -121, 141, 383, 633, 910, 1198, 1455, 1638, 1732};
        for (int i = 0; i < 10; ++i) {
            QCOMPARE(at(47 + i, 279), col279[std::size_t(i)]);
            QCOMPARE(at(328 + i, 106), col106[std::size_t(i)]);
        }
        // JPEG2000.dcm holds only a 250-byte stub of a 1024x256 codestream (pydicom uses it for
        // parsing tests); OpenJPEG decodes what is there. Its twin has (FFFE,E0DD) bytes planted
        // inside the SIZ marker: a corrupt codestream, reported as such.
        const ImageVolume a = readDicom(kPydicomFiles / "JPEG2000.dcm");
        QCOMPARE(a.shape(), (std::vector<std::size_t>{1024, 256}));
        const auto bad = kPydicomFiles / "JPEG2000-embedded-sequence-delimiter.dcm";
        const std::string e = errorOf([&] { readDicom(bad); });
        QVERIFY2(e.rfind(bad.string() + ": frame 1: JPEG 2000", 0) == 0, e.c_str());
        const ImageVolume rct = readDicom(kPydicomFiles / "GDCMJ2K_TextGBR.dcm");
        QCOMPARE(rct.shape(), (std::vector<std::size_t>{400, 400, 3}));
        QCOMPARE(rct.meta.photometric, std::string("RGB"));
        const ImageVolume ct = readDicom(kPydicomFiles / "693_J2KI.dcm");
        QCOMPARE(ct.shape(), (std::vector<std::size_t>{512, 512}));
        const auto [lo, hi] = std::minmax_element(ct.values.begin(), ct.values.end());
        // Within the signed 14-bit range after the -1024 intercept, soft tissue in the middle.
        QVERIFY2(*lo >= -8192 - 1024 && *hi <= 8191 - 1024 && *hi > 500,
                 "693_J2KI: values outside 14-bit signed range");
        QVERIFY(std::fabs(ct.values[256 * 512 + 200] - 32.0f) < 100);
    }

    void headerOnly() {
        const ImageVolume v = readDicom(kPydicomFiles / "rtdose.dcm", DicomReadOptions{false});
        QCOMPARE(v.depth, 15);
        QVERIFY(v.values.empty());
    }

    void bufferEntryPointMatchesFile() {
        for (const char* name : {"CT_small.dcm", "MR_small_RLE.dcm", "image_dfl.dcm", "SC_rgb_jpeg_dcmtk.dcm"}) {
            const std::string bytes = readBytes(kPydicomFiles / name);
            const ImageVolume a = readDicomBuffer(bytes.data(), bytes.size(), name);
            QVERIFY2(a.values == decoded_.at(name).values, name);
        }
    }

    void malformedInputsGiveErrors() {
        const std::filesystem::path dir = tmp_.filePath("bad").toStdString();
        std::filesystem::create_directories(dir);
        // The truncated file pydicom ships.
        const auto truncated = kPydicomFiles / "MR_truncated.dcm";
        QVERIFY(errorOf([&] { readDicom(truncated); }).rfind(truncated.string() + ": ", 0) == 0);
        const auto empty = dir / "empty.dcm";
        writeBytes(empty, "");
        QCOMPARE(errorOf([&] { readDicom(empty); }), empty.string() + ": empty file");
        const auto text = dir / "notes.dcm";
        writeBytes(text, "this is not DICOM at all, just words\n");
        QVERIFY(errorOf([&] { readDicom(text); }).rfind(text.string() + ": ", 0) == 0);
        const auto noPixels = kPydicomFiles / "rtplan.dcm";
        QCOMPARE(errorOf([&] { readDicom(noPixels); }),
                 noPixels.string() + ": no Pixel Data (7FE0,0010): not an image");
        QVERIFY(errorOf([&] { readDicom(dir / "missing.dcm"); }).find("no such file") != std::string::npos);

        // Truncated copies of real files at many cut points: an error naming the file or, for
        // a cut after the pixels, a result; never a crash. Cuts inside the pixels must fail.
        int errors = 0, cuts = 0;
        for (const char* name : {"CT_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm",
                                 "SC_rgb_jpeg_dcmtk.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                                 "SC_rgb_rle_2frame.dcm", "JPEG-lossy.dcm"}) {
            const std::string bytes = readBytes(kPydicomFiles / name);
            for (double f : {0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.97, 0.995}) {
                const std::size_t n = std::size_t(double(bytes.size()) * f);
                const auto cut = dir / (std::to_string(n) + "_" + name);
                writeBytes(cut, bytes.substr(0, n));
                const std::string e = errorOf([&] { readDicom(cut); });
                ++cuts;
                QVERIFY2(e.rfind("OTHER", 0) != 0, e.c_str());
                QVERIFY2(e != "(no error)", (cut.string() + " decoded although truncated").c_str());
                QVERIFY2(e.rfind(cut.string() + ": ", 0) == 0, e.c_str());
                ++errors;
                const std::string m = errorOf([&] { readDicomBuffer(bytes.data(), n, cut.string()); });
                QVERIFY2(m.rfind(cut.string() + ": ", 0) == 0, m.c_str());
            }
        }
        qInfo("%d truncated copies, %d errors", cuts, errors);
    }

    void hugeElementLengthFromMemory() {
        // A Pixel Data length of 0xF0000000 in a 64x64 file, through the memory entry point:
        // an error naming the input, no crash (see docs/fuzzing.md for the deflate case).
        std::string bytes = readBytes(kPydicomFiles / "MR_small.dcm");
        const std::string pixelTag("\xE0\x7F\x10\x00OW\x00\x00", 8);
        const std::size_t at = bytes.rfind(pixelTag);
        QVERIFY(at != std::string::npos);
        bytes.replace(at + 8, 4, std::string("\x00\x00\x00\xF0", 4));  // length 0xF0000000
        const std::string e = errorOf([&] { readDicomBuffer(bytes.data(), bytes.size(), "big.dcm"); });
        qInfo("%s", e.c_str());
        QVERIFY2(e.rfind("big.dcm: not a readable DICOM file", 0) == 0, e.c_str());
    }

    void hugeDeclaredSizesAreRefused() {
        const std::filesystem::path dir = tmp_.filePath("huge").toStdString();
        std::filesystem::create_directories(dir);
        // pydicom writes the lies: 65535 x 65535 x 10^9 frames on CT_small's 32 KiB of pixels,
        // and 1000 frames on an RLE file holding one.
        runPython(R"PY(
import sys, json, pydicom
d = pydicom.dcmread(sys.argv[1] + '/CT_small.dcm'); d.Rows = 65535; d.Columns = 65535; d.NumberOfFrames = 1000000000
d.save_as(sys.argv[2] + '/huge.dcm')
d = pydicom.dcmread(sys.argv[1] + '/CT_small.dcm'); d.Rows = 4096; d.Columns = 4096
d.save_as(sys.argv[2] + '/short.dcm')
d = pydicom.dcmread(sys.argv[1] + '/MR_small_RLE.dcm'); d.NumberOfFrames = 1000
d.save_as(sys.argv[2] + '/rle_frames.dcm')
d = pydicom.dcmread(sys.argv[1] + '/MR_small_jp2klossless.dcm'); d.NumberOfFrames = 100000
d.save_as(sys.argv[2] + '/j2k_frames.dcm')
d = pydicom.dcmread(sys.argv[1] + '/CT_small.dcm'); d.BitsAllocated = 12
d.save_as(sys.argv[2] + '/bits12.dcm')
# Found by fuzz_dicom: a codestream whose SIZ marker declares a huge image made OpenJPEG
# allocate 17 GB before decoding. Here: 100000 x 100000 in one tile on a 64 x 64 header.
import struct
d = pydicom.dcmread(sys.argv[1] + '/MR_small_jp2klossless.dcm'); px = bytearray(d.PixelData)
siz = px.index(b'\xff\x51')
struct.pack_into('>II', px, siz + 6, 100000, 100000)       # Xsiz, Ysiz
struct.pack_into('>II', px, siz + 22, 100000, 100000)      # XTsiz, YTsiz
d.PixelData = bytes(px); d.save_as(sys.argv[2] + '/j2k_siz.dcm')
# Found by fuzz_dicom too: a 3 KB file whose header declares a huge image made the JPEG 2000
# path allocate 14 GB for the decoded values before decoding a frame.
d = pydicom.dcmread(sys.argv[1] + '/MR_small_jp2klossless.dcm'); d.Rows = 30000; d.Columns = 30000
d.save_as(sys.argv[2] + '/j2k_huge_header.dcm')
# Found by fuzz_dicom: JPEG fragments whose header DCMTK's bit-depth scan looped on forever.
from pydicom.encaps import generate_pixel_data_frame, encapsulate
for name, head in (('jpeg_no_soi', b'\xff\x01\x00\x00'), ('jpeg_zero_segment', b'\xff\xd8\xff\xe0\x00\x00')):
    d = pydicom.dcmread(sys.argv[1] + '/SC_rgb_jpeg_dcmtk.dcm')
    frame = bytearray(next(generate_pixel_data_frame(d.PixelData)))
    frame[:len(head)] = head
    d.PixelData = encapsulate([bytes(frame)])
    d.save_as(sys.argv[2] + '/' + name + '.dcm')
# Found by fuzz_dicom (a UBSan report): (7FE0,0010) with another VR made DCMTK build another
# element class, which the reader cast to DcmPixelData. Here: CT_small's pixels as OF.
raw = bytearray(open(sys.argv[1] + '/CT_small.dcm', 'rb').read())
at = raw.rindex(b'\xe0\x7f\x10\x00OW'); raw[at + 4:at + 6] = b'OF'
open(sys.argv[2] + '/pixel_vr.dcm', 'wb').write(raw)
print('{}')
)PY",
                  {QString::fromStdString(kPydicomFiles.string()), QString::fromStdString(dir.string())});
        for (const char* name :
             {"huge.dcm", "short.dcm", "rle_frames.dcm", "j2k_frames.dcm", "bits12.dcm", "j2k_siz.dcm",
              "j2k_huge_header.dcm", "jpeg_no_soi.dcm", "jpeg_zero_segment.dcm", "pixel_vr.dcm"}) {
            const std::string e = errorOf([&] { readDicom(dir / name); });
            qInfo("%s", e.c_str());
            QVERIFY2(e.rfind((dir / name).string() + ": ", 0) == 0, e.c_str());
        }
        QVERIFY(errorOf([&] { readDicom(dir / "huge.dcm"); }).find("implausibly large") != std::string::npos);
        QVERIFY(errorOf([&] { readDicom(dir / "short.dcm"); }).find("truncated") != std::string::npos);
        QVERIFY(errorOf([&] {
                    readDicom(dir / "jpeg_no_soi.dcm");
                }).find("fragment 1 does not start with a JPEG SOI marker") != std::string::npos);
        QVERIFY(errorOf([&] { readDicom(dir / "jpeg_zero_segment.dcm"); }).find("JPEG segment of length 0 at byte 2") !=
                std::string::npos);
        const auto huge = errorOf([&] { readDicom(dir / "j2k_huge_header.dcm"); });
        QVERIFY2(
            huge.find("declared image size 30000x30000x1 needs 1800000000 bytes, more than") != std::string::npos &&
                huge.find("compressed bytes can hold") != std::string::npos,
            huge.c_str());
        QCOMPARE(errorOf([&] { readDicom(dir / "pixel_vr.dcm"); }),
                 (dir / "pixel_vr.dcm").string() + ": PixelData has VR OF, not OB/OW (damaged file?)");
        QCOMPARE(
            errorOf([&] { readDicom(dir / "j2k_siz.dcm"); }),
            (dir / "j2k_siz.dcm").string() + ": frame 1: JPEG 2000 image is 100000x100000x1, the header says 64x64x1");
    }

    void parallelFramesMatchSerial() {
        // A grey 512x512x12 cine (native), re-encoded losslessly with DCMTK's tools: decoding
        // its frames on several threads must give exactly the serial result, and the native
        // pixels.
        const std::filesystem::path dir = tmp_.filePath("parallel").toStdString();
        std::filesystem::create_directories(dir);
        runPython(R"PY(
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from cine_maker import write_cine
for bits in (8, 16):
    rng = np.random.default_rng(bits)
    y, x = np.mgrid[0:512, 0:512]
    frames = np.stack([((x + 3 * k) ^ (y // 2)) % (250 if bits == 8 else 3000) for k in range(12)])
    frames = (frames + rng.integers(0, 4, frames.shape)).astype(np.uint8 if bits == 8 else np.uint16)
    write_cine(sys.argv[1] + '/native%d.dcm' % bits, frames, bits_stored=8 if bits == 8 else 12)
print('{}')
)PY",
                  {QString::fromStdString(dir.string()), QStringLiteral(LUMEN_SOURCE_DIR "/tests")});
        for (int bits : {8, 16}) {
            const std::string n = std::to_string(bits);
            const auto native = dir / ("native" + n + ".dcm");
            for (const auto& [tool, flag] :
                 std::vector<std::pair<QString, QString>>{{"dcmcrle", ""}, {"dcmcjpls", ""}, {"dcmcjpeg", "+e1"}}) {
                const auto out = dir / (tool.toStdString() + n + ".dcm");
                QStringList args;
                if (!flag.isEmpty()) args << flag;
                args << QString::fromStdString(native.string()) << QString::fromStdString(out.string());
                const auto r = runProcess(tool, args);
                QVERIFY2(r.code == 0, (tool.toStdString() + ": " + r.err).c_str());
                setDicomDecodeThreads(1);
                const auto serial = readDicom(out);
                setDicomDecodeThreads(4);
                const auto parallel = readDicom(out);
                setDicomDecodeThreads(0);
                const auto reference = readDicom(native);
                QCOMPARE(parallel.depth, 12);
                QVERIFY2(parallel.stored == serial.stored, out.c_str());
                QVERIFY2(parallel.values == serial.values, out.c_str());
                QVERIFY2(parallel.stored == reference.stored, out.c_str());
                QCOMPARE(parallel.meta.photometric, std::string("MONOCHROME2"));
            }
        }
        // A corrupt frame is an error naming the file, from whichever thread met it.
        const std::string good = readBytes(dir / "dcmcrle8.dcm");
        std::string bad = good;
        for (std::size_t i = good.size() / 2; i < good.size() / 2 + 4096 && i < bad.size(); ++i) bad[i] = char(0xFF);
        writeBytes(dir / "corrupt.dcm", bad);
        setDicomDecodeThreads(4);
        const std::string e = errorOf([&] { readDicom(dir / "corrupt.dcm"); });
        setDicomDecodeThreads(0);
        qInfo("%s", e.c_str());
        QVERIFY(e.rfind("OTHER", 0) != 0);
    }

    void jpeg2000SingleFrameOnThreads() {
        // One large J2K frame: the idle threads go into OpenJPEG's code-blocks; the samples must
        // not depend on it (lossless and irreversible, grey and colour).
        // J2K_pixelrep_mismatch (138 KB, lossless 512²) is over the threshold; the rest check the
        // small path stays as it was.
        for (const char* name : {"J2K_pixelrep_mismatch.dcm", "GDCMJ2K_TextGBR.dcm", "693_J2KI.dcm", "JPEG2000.dcm"}) {
            setDicomDecodeThreads(1);
            const auto serial = readDicom(kPydicomFiles / name);
            setDicomDecodeThreads(4);
            const auto threaded = readDicom(kPydicomFiles / name);
            setDicomDecodeThreads(0);
            QVERIFY2(threaded.stored == serial.stored, name);
            QVERIFY2(threaded.values == serial.values, name);
            QVERIFY2(!serial.stored.empty() || !serial.values.empty(), name);
        }
    }

    void jpegBaselineCineThroughTurboJpeg() {
        // The grey 8-bit cine of parallelFramesMatchSerial, lossy JPEG baseline (dcmcjpeg +eb):
        // libjpeg-turbo decodes it, on 1 or 4 threads alike, to exactly what DCMTK's dcmdjpeg
        // (IJG 6b) decompresses it to.
        const std::filesystem::path dir = tmp_.filePath("parallel").toStdString();
        const auto native = dir / "native8.dcm", jpeg = dir / "baseline8.dcm",
                   reference = dir / "baseline8_dcmdjpeg.dcm";
        QVERIFY2(std::filesystem::exists(native), "parallelFramesMatchSerial makes native8.dcm first");
        const auto enc = runProcess(
            "dcmcjpeg", {"+eb", QString::fromStdString(native.string()), QString::fromStdString(jpeg.string())});
        QVERIFY2(enc.code == 0, enc.err.c_str());
        const auto dec =
            runProcess("dcmdjpeg", {QString::fromStdString(jpeg.string()), QString::fromStdString(reference.string())});
        QVERIFY2(dec.code == 0, dec.err.c_str());
        setDicomDecodeThreads(1);
        const auto serial = readDicom(jpeg);
        setDicomDecodeThreads(4);
        const auto parallel = readDicom(jpeg);
        setDicomDecodeThreads(0);
        const auto ijg = readDicom(reference);
        QCOMPARE(parallel.meta.decoder, std::string("libjpeg-turbo (TurboJPEG)"));
        QCOMPARE(parallel.depth, 12);
        QVERIFY(parallel.stored == serial.stored);
        QVERIFY(parallel.stored == ijg.stored);
        QVERIFY(parallel.values == ijg.values);
        QVERIFY(parallel.stored != readDicom(native).stored);  // lossy: the check is not vacuous
        // A frame cut short (an EOI marker planted in the middle of the last frame's entropy-coded
        // data) is an error naming the file and the frame, not made-up grey.
        std::string bytes = readBytes(jpeg);
        const std::size_t eoi = bytes.rfind(std::string("\xFF\xD9", 2));
        QVERIFY(eoi != std::string::npos && eoi > 4000);
        bytes[eoi - 3000] = char(0xFF);
        bytes[eoi - 2999] = char(0xD9);
        writeBytes(dir / "baseline8_cut.dcm", bytes);
        setDicomDecodeThreads(4);
        const std::string e = errorOf([&] { readDicom(dir / "baseline8_cut.dcm"); });
        setDicomDecodeThreads(0);
        qInfo("%s", e.c_str());
        QVERIFY2(e.find("baseline8_cut.dcm") != std::string::npos && e.find("frame 12") != std::string::npos,
                 e.c_str());
    }

    void storedFirstMatchesFullRead() {
        // A stored-first read (straight into the stored samples where the layout allows: native
        // little endian, libjpeg-turbo) holds the same stored samples as the full read, no float
        // values for grey images until ensureValues, and then exactly the full read's values.
        std::vector<std::filesystem::path> files;
        for (const auto& name : kFiles) files.push_back(kPydicomFiles / name);
        const std::filesystem::path dir = tmp_.filePath("parallel").toStdString();
        for (const char* cine : {"native8.dcm", "native16.dcm", "baseline8.dcm", "dcmcrle8.dcm", "dcmcjpeg16.dcm"}) {
            QVERIFY2(std::filesystem::exists(dir / cine), "parallelFramesMatchSerial makes the cines first");
            files.push_back(dir / cine);
        }
        // A deflated 12-of-16-bit cine (dcmconv +td): inflated, then read like a native one.
        const auto deflated = dir / "deflated16.dcm";
        const auto conv = runProcess("dcmconv", {"+td", QString::fromStdString((dir / "native16.dcm").string()),
                                                 QString::fromStdString(deflated.string())});
        QVERIFY2(conv.code == 0, conv.err.c_str());
        files.push_back(deflated);
        DicomReadOptions storedFirst;
        storedFirst.values = PixelValues::StoredFirst;
        QVERIFY(readDicom(deflated, storedFirst).stored == readDicom(dir / "native16.dcm").stored);
        QCOMPARE(readDicom(deflated).meta.transferSyntax, std::string("1.2.840.10008.1.2.1.99"));
        int grey = 0, direct = 0;
        for (const auto& file : files) {
            const ImageVolume full = readDicom(file);
            ImageVolume lazy = readDicom(file, storedFirst);
            const std::string where = file.filename().string();
            QVERIFY2(lazy.stored == full.stored, where.c_str());
            QCOMPARE(lazy.meta.decoder, full.meta.decoder);
            QCOMPARE(lazy.meta.photometric, full.meta.photometric);
            if (full.samples == 1) {
                ++grey;
                QVERIFY2(lazy.values.empty(), where.c_str());
                ensureValues(lazy);
                direct += full.meta.decoder == "native" || full.meta.decoder == "Lumen RLE" ||
                          full.meta.decoder.starts_with("libjpeg-turbo");
            }
            QVERIFY2(lazy.values == full.values, where.c_str());
        }
        qInfo("%zu files, %d grey, %d of them native, Lumen RLE or libjpeg-turbo", files.size(), grey, direct);
        QVERIFY(grey >= 20 && direct >= 10);
        // A native cine cut inside its pixel data: an error naming the file, not a short read.
        std::string bytes = readBytes(dir / "native8.dcm");
        bytes.resize(bytes.size() - 100000);
        writeBytes(dir / "native8_cut.dcm", bytes);
        const std::string e = errorOf([&] { readDicom(dir / "native8_cut.dcm", storedFirst); });
        qInfo("%s", e.c_str());
        QVERIFY2(e.find("native8_cut.dcm") != std::string::npos, e.c_str());
    }

    void onlyFramesAreDecoded() {
        // DicomReadOptions::onlyFrames (angio_multiview's streamed clips): a stored-first read of
        // the native, JPEG and RLE 8-bit cines reads the frames named, exactly as a full read
        // does, and leaves the others zero; an index past the end is ignored; a cine whose samples
        // need unpacking (12 of 16 bits stored) reads every frame.
        const std::filesystem::path dir = tmp_.filePath("parallel").toStdString();
        DicomReadOptions clip;
        clip.values = PixelValues::StoredFirst;
        clip.onlyFrames = {7, 2, 3, 2, 40};
        for (const char* cine : {"baseline8.dcm", "dcmcrle8.dcm", "native8.dcm", "dcmcrle16.dcm", "native16.dcm"}) {
            QVERIFY2(std::filesystem::exists(dir / cine), "parallelFramesMatchSerial makes the cines first");
            const ImageVolume full = readDicom(dir / cine);
            for (const unsigned threads : {1u, 4u}) {
                setDicomDecodeThreads(threads);
                const ImageVolume part = readDicom(dir / cine, clip);
                setDicomDecodeThreads(0);
                QCOMPARE(part.stored.size(), full.stored.size());
                const std::size_t frame = full.stored.size() / 12;
                // Every frame: the 16-bit cines (12 bits stored: the general unpacking).
                const bool native = std::string(cine).ends_with("16.dcm");
                for (std::size_t f = 0; f < 12; ++f) {
                    const auto a = full.stored.begin() + std::ptrdiff_t(f * frame);
                    const auto b = part.stored.begin() + std::ptrdiff_t(f * frame);
                    const bool wanted = native || f == 2 || f == 3 || f == 7;
                    const std::string where = std::string(cine) + " frame " + std::to_string(f);
                    if (wanted) QVERIFY2(std::equal(a, a + std::ptrdiff_t(frame), b), where.c_str());
                    else
                        QVERIFY2(std::all_of(b, b + std::ptrdiff_t(frame), [](std::uint8_t x) { return x == 0; }),
                                 where.c_str());
                }
                QVERIFY(!std::all_of(full.stored.begin(), full.stored.begin() + std::ptrdiff_t(frame),
                                     [](std::uint8_t x) { return x == 0; }));  // not vacuous
            }
        }
    }

    void rleDecoder() {
        // PackBits by hand: a literal run, a replicate run, the -128 no-op, the encoder's padding
        // byte past the pixels; 16-bit samples: segment 1 is the high bytes.
        auto frame = [](std::vector<std::vector<std::uint8_t>> segments) {
            std::vector<std::uint8_t> f(64, 0);
            f[0] = std::uint8_t(segments.size());
            for (std::size_t s = 0; s < segments.size(); ++s) {
                const auto off = std::uint32_t(f.size());
                for (int b = 0; b < 4; ++b) f[4 + 4 * s + std::size_t(b)] = std::uint8_t(off >> (8 * b));
                f.insert(f.end(), segments[s].begin(), segments[s].end());
            }
            return f;
        };
        const auto grey = frame({{2, 10, 20, 30, 0x80, 0xFD, 7, 0, 9, 0}});  // 10 20 30, 7 x4, 9, pad
        std::vector<std::uint8_t> out(8, 0xEE);
        decodeRleGreyFrame(grey.data(), grey.size(), 8, 1, out.data());
        QCOMPARE(out, (std::vector<std::uint8_t>{10, 20, 30, 7, 7, 7, 7, 9}));
        const auto wide = frame({{0xFF, 0x01, 0x01, 0x7F, 0x12}, {1, 0x34, 0x56, 0xFF, 0x00}});  // high 01 01 7F 12
        std::vector<std::uint8_t> words(8);
        decodeRleGreyFrame(wide.data(), wide.size(), 4, 2, words.data());
        QCOMPARE(words, (std::vector<std::uint8_t>{0x34, 0x01, 0x56, 0x01, 0x00, 0x7F, 0x00, 0x12}));
        // What is wrong is said: a short segment, a wrong segment count, an offset outside.
        const auto shortOne = frame({{1, 5, 6}});
        QVERIFY(errorOf([&] {
                    decodeRleGreyFrame(shortOne.data(), shortOne.size(), 8, 1, out.data());
                }).find("decodes to 2 of 8 bytes") != std::string::npos);
        QVERIFY(errorOf([&] {
                    decodeRleGreyFrame(grey.data(), grey.size(), 4, 2, words.data());
                }).find("declares 1 segments") != std::string::npos);
        auto outside = grey;
        outside[4] = 0xF0;
        QVERIFY(errorOf([&] {
                    decodeRleGreyFrame(outside.data(), outside.size(), 8, 1, out.data());
                }).find("segment 1 spans bytes 240") != std::string::npos);
        // In a file: the grey RLE cine decodes through it (exactly the native pixels, checked in
        // parallelFramesMatchSerial), and a damaged frame is an error naming file and frame.
        const std::filesystem::path dir = tmp_.filePath("parallel").toStdString();
        QCOMPARE(readDicom(dir / "dcmcrle8.dcm").meta.decoder, std::string("Lumen RLE"));
        std::string bytes = readBytes(dir / "dcmcrle8.dcm");
        const std::string header("\x01\0\0\0\x40\0\0\0", 8);  // 1 segment at byte 64
        const std::size_t last = bytes.rfind(header);
        QVERIFY(last != std::string::npos && bytes.find(header) < last);
        bytes[last] = 2;
        const std::string e = errorOf([&] { readDicomBuffer(bytes.data(), bytes.size(), "damaged.dcm"); });
        qInfo("%s", e.c_str());
        QVERIFY2(e.find("damaged.dcm") != std::string::npos && e.find("frame 12") != std::string::npos &&
                     e.find("declares 2 segments") != std::string::npos,
                 e.c_str());
    }

    void decodeSpeed() {
        // Informational: a 2-frame RLE colour image and the 1024x256 JPEG, repeated.
        for (const char* name :
             {"SC_rgb_rle_2frame.dcm", "JPGExtended.dcm", "MR_small_jp2klossless.dcm", "693_J2KI.dcm"}) {
            const auto t0 = std::chrono::steady_clock::now();
            int frames = 0;
            while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(300))
                frames += readDicom(kPydicomFiles / name).depth;
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            qInfo("%s: %.0f frames/s", name, frames / s);
        }
    }
};

QTEST_GUILESS_MAIN(TestDicomReader)
#include "test_dicom_reader.moc"
