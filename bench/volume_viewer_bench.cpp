// Volume viewer benchmark (docs/volume-viewer.md): writes a 512x512x300 CT-like DICOM series
// (300 files) to a temp folder with DCMTK, then measures
//   1. series load time (loadDicomSeries, serial and on all cores; plus prepareVolume),
//   2. MPR slice-change time (wheel step -> the three views repainted),
//   3. 3-D interaction frame rate of the 800x600 VTK view while rotating, and a still frame.
// Needs an X display (run_volume_viewer_bench.sh uses xvfb-run). Prints a Markdown table.
#include "volume_viewer.h"
#include "vtk_render_widget.h"

#include "io/dicom_reader.h"
#include "util/allocator.h"
#include "io/dicom_series.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QMouseEvent>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace lumen;

namespace {

constexpr int kSize = 512, kSlices = 300;

void writeSeries(const fs::path& dir) {
    fs::create_directories(dir);
    std::mt19937 rng(1);
    std::vector<Uint16> px(std::size_t(kSize) * kSize);
    const std::string series = "1.2.826.0.1.3680043.10.1234.99.1", study = "1.2.826.0.1.3680043.10.1234.99.2";
    for (int k = 0; k < kSlices; ++k) {
        const double z = (k - kSlices / 2.0) / (kSlices / 2.0);
        for (int r = 0; r < kSize; ++r)
            for (int c = 0; c < kSize; ++c) {
                const double x = (c - 256.0) / 220.0, y = (r - 256.0) / 160.0;
                double hu = -1000;
                if (x * x + y * y < 1) hu = 40;  // body
                if (std::pow((std::fabs(x) - 0.45) / 0.3, 2) + std::pow(y / 0.6, 2) < 1 - 0.3 * z * z)
                    hu = -820;                                                                    // lungs
                if (std::pow((c - 256.0) / 25, 2) + std::pow((r - 370.0) / 25, 2) < 1) hu = 700;  // spine
                if (std::fabs(y) > 0.9 && x * x + y * y < 1 && (k / 12) % 2 == 0) hu = 500;       // ribs
                hu += double(rng() % 21) - 10;
                px[std::size_t(r) * kSize + std::size_t(c)] = Uint16(std::clamp(hu + 1024, 0.0, 4095.0));
            }
        DcmFileFormat file;
        DcmDataset& ds = *file.getDataset();
        const auto put = [&](const DcmTagKey& t, const std::string& v) { ds.putAndInsertString(DcmTag(t), v.c_str()); };
        put(DCM_SOPClassUID, UID_CTImageStorage);
        put(DCM_SOPInstanceUID, series + "." + std::to_string(k + 1));
        put(DCM_StudyInstanceUID, study);
        put(DCM_SeriesInstanceUID, series);
        put(DCM_Modality, "CT");
        put(DCM_PatientID, "BENCH");
        put(DCM_InstanceNumber, std::to_string(k + 1));
        put(DCM_ImagePositionPatient, "-200\\-200\\" + std::to_string(-300 + k * 1.0));
        put(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
        put(DCM_PixelSpacing, "0.78125\\0.78125");
        put(DCM_SliceThickness, "1");
        put(DCM_PhotometricInterpretation, "MONOCHROME2");
        put(DCM_RescaleIntercept, "-1024");
        put(DCM_RescaleSlope, "1");
        ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
        ds.putAndInsertUint16(DCM_Rows, kSize);
        ds.putAndInsertUint16(DCM_Columns, kSize);
        ds.putAndInsertUint16(DCM_BitsAllocated, 16);
        ds.putAndInsertUint16(DCM_BitsStored, 12);
        ds.putAndInsertUint16(DCM_HighBit, 11);
        ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
        ds.putAndInsertUint16Array(DCM_PixelData, px.data(), unsigned(px.size()));
        char name[32];
        std::snprintf(name, sizeof name, "IM%04d.dcm", k + 1);
        if (file.saveFile((dir / name).c_str(), EXS_LittleEndianExplicit).bad()) {
            std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
            std::exit(2);
        }
    }
}

double ms(const QElapsedTimer& t) { return double(t.nsecsElapsed()) / 1e6; }

struct Stat {
    double mean = 0, median = 0, max = 0;
};
Stat stats(std::vector<double> v) {
    Stat s;
    if (v.empty()) return s;
    s.mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
    std::sort(v.begin(), v.end());
    s.median = v[v.size() / 2];
    s.max = v.back();
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    // As lumen and lumen-cli do; LUMEN_BENCH_DEFAULT_MALLOC=1 measures glibc's defaults.
    if (!qEnvironmentVariableIsSet("LUMEN_BENCH_DEFAULT_MALLOC")) util::keepFreedMemoryForReuse();
    widgets::VtkRenderWidget::setDefaultSurfaceFormat();
    QApplication app(argc, argv);
    const fs::path dir = fs::temp_directory_path() / ("lumen_viewer_bench_" + std::to_string(::getpid()));
    QElapsedTimer t;
    t.start();
    writeSeries(dir);
    std::printf("wrote %d files (%dx%d) in %.1f s to %s\n\n", kSlices, kSize, kSize, ms(t) / 1000, dir.c_str());
    std::printf("| measurement | value | goal |\n|---|---|---|\n");

    // 1. Loading (the page cache is warm after writing: the disk is not measured).
    std::shared_ptr<const io::ImageVolume> volume;
    {
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
        t.restart();
        for (const auto& f : files) io::readDicom(f, io::DicomReadOptions{false});
        const double headers = ms(t);
        t.restart();
        for (const auto& f : files) io::readDicom(f);
        std::printf("| 1 thread: %zu header reads / full reads | %.0f ms / %.0f ms | |\n", files.size(), headers,
                    ms(t));
    }
    for (unsigned threads : {1u, 0u}) {
        std::vector<double> runs;
        for (int r = 0; r < 2; ++r) {
            io::DicomSeriesOptions o;
            o.threads = threads;
            t.restart();
            auto s = io::loadDicomSeries(dir, {}, o);
            runs.push_back(ms(t));
            if (threads == 0) volume = std::make_shared<const io::ImageVolume>(std::move(s.volume));
        }
        std::printf("| series load, %s | %.0f ms (best of 2: %.0f) |%s\n", threads == 1 ? "1 thread" : "all cores",
                    stats(runs).mean, *std::min_element(runs.begin(), runs.end()),
                    threads == 1 ? " |" : " ≤ 3000 ms |");
    }
    t.restart();
    auto prepared = widgets::prepareVolume(volume);
    const double prepareMs = ms(t);
    std::printf("| prepareVolume (min/max, 3-D proxy %dx%dx%d) | %.0f ms | |\n", prepared->proxyDims[0],
                prepared->proxyDims[1], prepared->proxyDims[2], prepareMs);

    // 2. MPR slice changes, all three views visible (viewer 1600x1250: each view ~800x600).
    widgets::VolumeViewer viewer;
    viewer.resize(1640, 1300);
    viewer.setPreparedVolume(prepared, "bench");
    viewer.applyWindowPreset("lung");
    viewer.show();
    for (int i = 0; i < 20; ++i) QApplication::processEvents();
    const char* names[] = {"axial", "coronal", "sagittal"};
    // What the user sees: the slice step, then one pass of the event loop (the views'
    // update()s are coalesced into one paint and one flush of the window).
    const auto sliceSteps = [&](const char* label) {
        for (int q = 0; q < 3; ++q) {
            const auto plane = widgets::MprPlane(q);
            std::vector<double> times, render;
            for (int step = 0; step < 40; ++step) {
                t.restart();
                viewer.setSliceIndex(plane, viewer.sliceIndex(plane) + (step < 20 ? 1 : -1));
                QApplication::processEvents();
                times.push_back(ms(t));
                t.restart();
                viewer.view(plane)->invalidate();
                (void)viewer.view(plane)->sliceImage();
                render.push_back(ms(t));
            }
            const Stat s = stats(times);
            std::printf(
                "| MPR slice change, %s step, %s (views %dx%d) | mean %.1f ms, median %.1f, max %.1f (slice image "
                "alone %.1f ms) | ≤ 33 ms |\n",
                names[q], label, viewer.view(plane)->width(), viewer.view(plane)->height(), s.mean, s.median, s.max,
                stats(render).mean);
        }
    };
    sliceSteps("with the 3-D view");
    {
        std::vector<double> times;
        for (int step = 0; step < 20; ++step) {
            t.restart();
            viewer.setWindow(-600 + step * 10, 1500);
            QApplication::processEvents();
            times.push_back(ms(t));
        }
        std::printf("| window/level drag step (3 views redrawn) | mean %.1f ms | |\n", stats(times).mean);
    }
    if (viewer.view3d()) {
        viewer.view3d()->hide();
        for (int i = 0; i < 10; ++i) QApplication::processEvents();
        sliceSteps("3-D view hidden");
        viewer.view3d()->show();
    }
    {
        // The viewer built without its 3-D view, for comparison.
        widgets::VolumeViewer mprOnly(nullptr, false);
        mprOnly.resize(1640, 1300);
        mprOnly.setPreparedVolume(prepared, "bench");
        mprOnly.applyWindowPreset("lung");
        mprOnly.show();
        for (int i = 0; i < 20; ++i) QApplication::processEvents();
        for (int q = 0; q < 3; ++q) {
            const auto plane = widgets::MprPlane(q);
            std::vector<double> times;
            for (int step = 0; step < 40; ++step) {
                t.restart();
                mprOnly.setSliceIndex(plane, mprOnly.sliceIndex(plane) + (step < 20 ? 1 : -1));
                QApplication::processEvents();
                times.push_back(ms(t));
            }
            const Stat s = stats(times);
            std::printf(
                "| MPR slice change, %s step, viewer without 3-D view | mean %.1f ms, median %.1f, max %.1f | ≤ 33 ms "
                "|\n",
                names[q], s.mean, s.median, s.max);
        }
        mprOnly.hide();
        for (int i = 0; i < 10; ++i) QApplication::processEvents();
    }

    // 3. 3-D interaction at 800x600.
    auto* view = viewer.view3d();
    if (!view) {
        std::printf("| 3-D | no OpenGL on this platform | |\n");
        return 0;
    }
    for (auto preset : {widgets::VolumeViewer::RenderPreset::CtSoftTissue, widgets::VolumeViewer::RenderPreset::CtBone,
                        widgets::VolumeViewer::RenderPreset::Mip}) {
        viewer.setRenderPreset(preset);
        viewer.resetCamera();
        view->setFixedSize(800, 600);
        for (int i = 0; i < 10; ++i) QApplication::processEvents();
        view->requestRender();  // a full-quality frame of the still scene, rendered now
        t.restart();
        view->repaint();
        const double still = ms(t);
        const int framesBefore = view->framesRendered();
        const QPointF c(400, 300);
        const auto send = [&](QEvent::Type type, QPointF p, Qt::MouseButton b, Qt::MouseButtons bs) {
            QMouseEvent e(type, p, view->mapToGlobal(p), b, bs, Qt::NoModifier);
            QApplication::sendEvent(view, &e);
        };
        send(QEvent::MouseButtonPress, c, Qt::LeftButton, Qt::LeftButton);
        std::vector<double> frames;
        QElapsedTimer all;
        for (int s = 1; s <= 40; ++s) {
            if (s == 11) all.start();  // the first frames let the mapper tune its sampling
            t.restart();
            send(QEvent::MouseMove, c + QPointF(4 * s, std::sin(s * 0.3) * 20), Qt::NoButton, Qt::LeftButton);
            view->repaint();
            if (s > 10) frames.push_back(ms(t));
        }
        const double fps = 30.0 / (ms(all) / 1000.0);
        const int rendered = view->framesRendered() - framesBefore;  // each move really rendered
        send(QEvent::MouseButtonRelease, c + QPointF(160, 0), Qt::LeftButton, Qt::NoButton);
        t.restart();
        view->repaint();  // the release asked for the full-quality frame
        const double after = ms(t);
        const char* name = preset == widgets::VolumeViewer::RenderPreset::CtBone ? "CT bone"
                           : preset == widgets::VolumeViewer::RenderPreset::Mip  ? "MIP"
                                                                                 : "CT soft tissue";
        const Stat s = stats(frames);
        std::printf(
            "| 3-D rotate 800x600, %s | %.1f fps (frame mean %.0f ms, max %.0f; %d of 40 moves rendered) | ≥ 10 fps "
            "|\n",
            name, fps, s.mean, s.max, rendered);
        std::printf("| 3-D still frame 800x600, %s | first %.0f ms, after interaction %.0f ms | |\n", name, still,
                    after);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
