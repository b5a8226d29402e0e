// Runs lumen-cli inspect/convert as a researcher would and loads the outputs with NumPy next
// to pydicom's and nibabel's arrays (transposed as docs/io.md specifies).
#include "demo/demo_workspace.h"

#include "io_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

using namespace lumen::iotest;
namespace fs = std::filesystem;

namespace {

const QString kCli = LUMEN_BINARY_DIR "/bin/lumen-cli";

const char* kCompare = R"PY(
import sys, json, glob, os
import numpy as np, pydicom, nibabel as nib
from pydicom.pixel_data_handlers.util import apply_modality_lut
src, out, demo = sys.argv[1], sys.argv[2], sys.argv[3]
r = {}
def diff(a, b):
    a = np.asarray(a); b = np.asarray(b)
    return {'shape': list(a.shape), 'ref_shape': list(b.shape), 'dtype': str(a.dtype),
            'max_diff': float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape else None}
ct = pydicom.dcmread(src + '/CT_small.dcm')
r['ct_values'] = diff(np.load(out + '/ct.npy'), apply_modality_lut(ct.pixel_array, ct))
r['ct_stored'] = diff(np.load(out + '/ct_stored.npy'), ct.pixel_array)
r['ct_stored']['ref_dtype'] = str(ct.pixel_array.dtype)
rle = pydicom.dcmread(src + '/SC_rgb_rle_2frame.dcm')
r['rgb_frames'] = diff(np.load(out + '/rgb2.npy'), rle.pixel_array)
cine_path = sorted(glob.glob(demo + '/angio/studies/*/view1.dcm'))[0]
cine = pydicom.dcmread(cine_path)
r['cine'] = diff(np.load(out + '/cine.npy'), cine.pixel_array)
r['cine']['frame_time'] = float(cine.FrameTime)
slices = [pydicom.dcmread(f) for f in glob.glob(demo + '/ct/dicom/ct_0001/*.dcm')]
slices.sort(key=lambda d: float(d.ImagePositionPatient[2]))
vol = np.stack([apply_modality_lut(d.pixel_array, d) for d in slices])
r['series'] = diff(np.load(out + '/series.npy'), vol)
nii = nib.load(demo + '/ct/volumes/ct_0001.nii.gz')
r['nifti'] = diff(np.load(out + '/nifti.npy'), nii.get_fdata().T)
r['series_as_nifti'] = diff(nib.load(out + '/series.nii.gz').get_fdata().T, vol)
r['series_as_nifti']['affine_vs_source'] = float(np.max(np.abs(nib.load(out + '/series.nii.gz').affine[:3, :3] - np.diag([-1.5, -1.5, 2.5]))))
print(json.dumps(r))
)PY";

}  // namespace

class TestIoCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path demo_, out_;

    ProcessResult cli(const QStringList& args) {
        const auto r = runProcess(kCli, args);
        if (r.code != 0) qWarning("lumen-cli %s -> %d: %s", qPrintable(args.join(' ')), r.code, r.err.c_str());
        return r;
    }
    static QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        demo_ = fs::path(tmp_.filePath("demo").toStdString());
        out_ = fs::path(tmp_.filePath("out").toStdString());
        fs::create_directories(out_);
        lumen::demo::DemoOptions o;
        o.chestImages = 2;
        o.ctVolumes = 1;
        o.angioStudies = 1;
        o.predictionStudies = 10;
        lumen::demo::createDemoWorkspace(demo_, o);
    }

    void inspectJson() {
        auto r = cli({"inspect", q(kPydicomFiles / "CT_small.dcm"), "--json"});
        QCOMPARE(r.code, 0);
        auto j = nlohmann::json::parse(r.out);
        const auto ref = runPython(R"PY(
import sys, json, pydicom
d = pydicom.dcmread(sys.argv[1])
print(json.dumps({'rows': d.Rows, 'columns': d.Columns, 'modality': d.Modality, 'ts': str(d.file_meta.TransferSyntaxUID),
                  'pi': d.PhotometricInterpretation, 'ps': [float(x) for x in d.PixelSpacing]}))
)PY",
                                   {q(kPydicomFiles / "CT_small.dcm")});
        QCOMPARE(j["rows"].get<int>(), ref["rows"].get<int>());
        QCOMPARE(j["columns"].get<int>(), ref["columns"].get<int>());
        QCOMPARE(j["modality"].get<std::string>(), ref["modality"].get<std::string>());
        QCOMPARE(j["transfer_syntax"].get<std::string>(), ref["ts"].get<std::string>());
        QCOMPARE(j["photometric"].get<std::string>(), ref["pi"].get<std::string>());
        QCOMPARE(j["spacing"][0].get<double>(), ref["ps"][1].get<double>());
        QCOMPARE(j["frames"].get<int>(), 1);
        QCOMPARE(j["slices"].get<int>(), 1);
        for (const char* key : {"window_center", "window_width", "frame_time_ms"}) QVERIFY2(j.contains(key), key);

        const auto cine = *fs::directory_iterator(demo_ / "angio/studies");
        r = cli({"inspect", q(cine.path() / "view1.dcm"), "--json"});
        QCOMPARE(r.code, 0);
        j = nlohmann::json::parse(r.out);
        QCOMPARE(j["frames"].get<int>(), 16);
        QCOMPARE(j["modality"].get<std::string>(), std::string("XA"));
        QCOMPARE(j["frame_time_ms"].get<double>(), 66.7);

        r = cli({"inspect", q(demo_ / "ct/dicom/ct_0001"), "--json"});
        QCOMPARE(r.code, 0);
        j = nlohmann::json::parse(r.out);
        QCOMPARE(j["slices"].get<int>(), 48);
        QCOMPARE(j["kind"].get<std::string>(), std::string("dicom-series"));
        QCOMPARE(j["series"]["slice_spacing"].get<double>(), 2.5);
        QCOMPARE(j["window_center"].get<double>(), 40.0);
        QCOMPARE(j["window_width"].get<double>(), 400.0);

        r = cli({"inspect", q(kPydicomFiles / "MR_truncated.dcm")});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find((kPydicomFiles / "MR_truncated.dcm").string() + ": ") != std::string::npos, r.err.c_str());
        r = cli({"inspect", q(out_ / "nothing-here.dcm")});
        QCOMPARE(r.code, 2);
    }

    void convertMatchesPydicomAndNibabel() {
        // The Python side sorts the angiography folders with glob; take the same first one.
        std::vector<fs::path> views;
        for (const auto& e : fs::directory_iterator(demo_ / "angio/studies")) views.push_back(e.path() / "view1.dcm");
        std::sort(views.begin(), views.end());
        QCOMPARE(cli({"convert", q(kPydicomFiles / "CT_small.dcm"), q(out_ / "ct.npy")}).code, 0);
        QCOMPARE(cli({"convert", q(kPydicomFiles / "CT_small.dcm"), q(out_ / "ct_stored.npy"), "--stored"}).code, 0);
        QCOMPARE(cli({"convert", q(kPydicomFiles / "SC_rgb_rle_2frame.dcm"), q(out_ / "rgb2.npy")}).code, 0);
        QCOMPARE(cli({"convert", q(views.front()), q(out_ / "cine.npy")}).code, 0);
        QCOMPARE(cli({"convert", q(demo_ / "ct/dicom/ct_0001"), q(out_ / "series.npy")}).code, 0);
        QCOMPARE(cli({"convert", q(demo_ / "ct/dicom/ct_0001"), q(out_ / "series.nii.gz")}).code, 0);
        QCOMPARE(cli({"convert", q(demo_ / "ct/volumes/ct_0001.nii.gz"), q(out_ / "nifti.npy")}).code, 0);
        QCOMPARE(cli({"convert", q(demo_ / "ct/dicom/ct_0001"), q(out_ / "slice.png"), "--index", "24"}).code, 0);
        QVERIFY(fs::file_size(out_ / "slice.png") > 100);
        const auto r = runPython(kCompare, {q(kPydicomFiles), q(out_), q(demo_)});
        for (const char* key : {"ct_values", "ct_stored", "rgb_frames", "cine", "series", "nifti", "series_as_nifti"}) {
            const auto& d = r[key];
            qInfo("%s: %s", key, d.dump().c_str());
            QCOMPARE(d["shape"].dump(), d["ref_shape"].dump());
            QVERIFY2(!d["max_diff"].is_null() && d["max_diff"].get<double>() == 0.0, d.dump().c_str());
        }
        QCOMPARE(r["ct_values"]["dtype"].get<std::string>(), std::string("float32"));
        QCOMPARE(r["ct_stored"]["dtype"].get<std::string>(), r["ct_stored"]["ref_dtype"].get<std::string>());
        QCOMPARE(r["cine"]["shape"].dump(), std::string("[16,128,128]"));
        QCOMPARE(r["rgb_frames"]["shape"].dump(), std::string("[2,100,100,3]"));
        QVERIFY(r["series_as_nifti"]["affine_vs_source"].get<double>() < 1e-6);
    }

    void convertErrors() {
        auto r = cli({"convert", q(kPydicomFiles / "CT_small.dcm"), q(out_ / "x.jpg")});
        QCOMPARE(r.code, 2);
        r = cli({"convert", q(demo_ / "ct/volumes/ct_0001.nii.gz"), q(out_ / "n.npy"), "--stored"});
        QCOMPARE(r.code, 0);
        r = cli({"convert", q(demo_ / "chest_xray/Data_Entry_2017.csv"), q(out_ / "csv.npy")});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.find("Data_Entry_2017.csv: ") != std::string::npos, r.err.c_str());
        QVERIFY(!fs::exists(out_ / "csv.npy"));
    }
};

QTEST_GUILESS_MAIN(TestIoCli)
#include "test_io_cli.moc"
