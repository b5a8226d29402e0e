// Qt Test suite for the volume viewer: crosshair linking between the MPR views (for a DICOM-
// and a NIfTI-oriented volume), orientation letters, window presets and drag, HU read-out at a
// known voxel, overlay resampling and toggling, loading as a job, and — where OpenGL works
// (xcb under Xvfb) — a non-blank 3-D rendering and mouse events forwarded to VTK.
#include "job_event_bridge.h"
#include "volume_viewer.h"
#include "vtk_render_widget.h"

#include "demo/demo_workspace.h"
#include "io/nifti_writer.h"
#include "jobs/job_pool.h"

#include "test_support.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QSignalSpy>
#include <QTemporaryDir>

#include <vtkCamera.h>
#include <vtkRenderer.h>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace lumen;
using widgets::MprPlane;
using widgets::VolumeViewer;
using widgets::VtkRenderWidget;

namespace {

constexpr int kCols = 40, kRows = 30, kSlices = 20;

// value(i, j, k) = i + 50 j + 2000 k - 1000: every voxel distinct, exact in float.
float valueOf(int i, int j, int k) { return float(i + 50 * j + 2000 * k - 1000); }

// A CT-like volume: identity direction (a DICOM axial series) or the LPS form of a NIfTI RAS
// volume (i towards the patient's right, j anterior: direction diag(-1, -1, 1)).
std::shared_ptr<io::ImageVolume> makeVolume(bool niftiLike) {
    auto v = std::make_shared<io::ImageVolume>();
    v->columns = kCols;
    v->rows = kRows;
    v->depth = kSlices;
    v->isVolume = true;
    v->spacing = {0.8, 0.9, 2.0};
    v->origin = {-10, 20, -50};
    if (niftiLike) v->direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
    v->meta.modality = "CT";
    v->meta.format = "DICOM";
    v->values.resize(std::size_t(kCols) * kRows * kSlices);
    std::size_t n = 0;
    for (int k = 0; k < kSlices; ++k)
        for (int j = 0; j < kRows; ++j)
            for (int i = 0; i < kCols; ++i) v->values[n++] = valueOf(i, j, k);
    return v;
}

void sendMouse(QWidget* w, QEvent::Type type, QPointF pos, Qt::MouseButton button, Qt::MouseButtons buttons) {
    QMouseEvent e(type, pos, w->mapToGlobal(pos), button, buttons, Qt::NoModifier);
    QApplication::sendEvent(w, &e);
}

void sendWheel(QWidget* w, QPointF pos, int notches) {
    QWheelEvent e(pos, w->mapToGlobal(pos), QPoint(), QPoint(0, 120 * notches), Qt::NoButton, Qt::NoModifier,
                  Qt::NoScrollPhase, false);
    QApplication::sendEvent(w, &e);
}

int countDifferent(const QImage& a, const QImage& b) {
    if (a.size() != b.size()) return -1;
    const QImage x = a.convertToFormat(QImage::Format_RGB32), y = b.convertToFormat(QImage::Format_RGB32);
    int n = 0;
    for (int r = 0; r < x.height(); ++r)
        for (int c = 0; c < x.width(); ++c) n += x.pixel(c, r) != y.pixel(c, r);
    return n;
}

bool isColoured(QRgb p) { return qRed(p) != qGreen(p) || qGreen(p) != qBlue(p); }

}  // namespace

class TestVolumeViewer : public QObject {
    Q_OBJECT
private slots:
    void crosshairLinksViews_data();
    void crosshairLinksViews();
    void orientationLetters_data();
    void orientationLetters();
    void wheelAndKeysChangeSlice();
    void windowPresets();
    void windowByRightDrag();
    void huReadoutAtKnownVoxel();
    void overlayResampling();
    void overlayMatchesExplainUpsample();
    void overlayBadShapeIsAnError();
    void overlayToggleChangesPixels();
    void overlayFileFollowsWorldGeometry();
    void loadsAsJobWithProgress();
    void loadFailureIsReported();
    void rendering3dIsNonBlank();
    void mouseAndKeysReachVtk();
    void overlayToggleChanges3d();
    void screenshotWithHeatmap();
};

void TestVolumeViewer::crosshairLinksViews_data() {
    QTest::addColumn<bool>("niftiLike");
    QTest::newRow("DICOM axial (identity)") << false;
    QTest::newRow("NIfTI RAS (i to the right, j anterior)") << true;
}

void TestVolumeViewer::crosshairLinksViews() {
    QFETCH(bool, niftiLike);
    VolumeViewer viewer;
    viewer.resize(900, 800);
    viewer.setVolume(makeVolume(niftiLike), "synthetic");
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    QCOMPARE(viewer.cursorVoxel(), (std::array<int, 3>{kCols / 2, kRows / 2, kSlices / 2}));

    // Click on voxel (i 12, j 21) of the axial view, located from the geometry alone: the
    // patient's left is on the right, anterior at the top. With the identity direction i runs
    // to the left (screen right); the NIfTI-like volume runs i to the patient's right, so
    // the display is mirrored.
    auto* axial = viewer.view(MprPlane::Axial);
    const QRectF r = axial->imageRect();
    QVERIFY(!r.isEmpty());
    const int i = 12, j = 21;
    const double u = niftiLike ? kCols - 1 - i : i, w = niftiLike ? kRows - 1 - j : j;
    const QPointF at(r.left() + (u + 0.5) * r.width() / kCols, r.top() + (w + 0.5) * r.height() / kRows);
    QSignalSpy moved(&viewer, &VolumeViewer::cursorChanged);
    QTest::mouseClick(axial, Qt::LeftButton, Qt::NoModifier, at.toPoint());
    QCOMPARE(moved.count(), 1);
    QCOMPARE(viewer.sliceIndex(MprPlane::Sagittal), i);
    QCOMPARE(viewer.sliceIndex(MprPlane::Coronal), j);
    QCOMPARE(viewer.sliceIndex(MprPlane::Axial), kSlices / 2);

    // Click in the coronal view at slice k = 15 (superior up): the axial slice follows, the
    // sagittal stays, the coronal keeps its own slice.
    auto* coronal = viewer.view(MprPlane::Coronal);
    const QRectF rc = coronal->imageRect();
    const int k = 15, i2 = 30;
    const double u2 = niftiLike ? kCols - 1 - i2 : i2;
    const QPointF at2(rc.left() + (u2 + 0.5) * rc.width() / kCols,
                      rc.top() + (kSlices - 1 - k + 0.5) * rc.height() / kSlices);
    QTest::mouseClick(coronal, Qt::LeftButton, Qt::NoModifier, at2.toPoint());
    QCOMPARE(viewer.sliceIndex(MprPlane::Axial), k);
    QCOMPARE(viewer.sliceIndex(MprPlane::Sagittal), i2);
    QCOMPARE(viewer.sliceIndex(MprPlane::Coronal), j);
    // The views' physical aspect: coronal is 40 x 0.8 mm wide, 20 x 2 mm high.
    QVERIFY(std::fabs(rc.width() / rc.height() - (kCols * 0.8) / (kSlices * 2.0)) < 0.02);
}

void TestVolumeViewer::orientationLetters_data() { crosshairLinksViews_data(); }

void TestVolumeViewer::orientationLetters() {
    QFETCH(bool, niftiLike);
    VolumeViewer viewer;
    viewer.setVolume(makeVolume(niftiLike));
    // Both volumes are shown in the radiological convention, so the letters are the same.
    const auto letters = [&](MprPlane p) {
        QStringList l;
        for (int e = 0; e < 4; ++e) l << viewer.view(p)->edgeLabel(e);
        return l.join(",");
    };
    QCOMPARE(letters(MprPlane::Axial), QString("R,L,A,P"));
    QCOMPARE(letters(MprPlane::Coronal), QString("R,L,S,I"));
    QCOMPARE(letters(MprPlane::Sagittal), QString("A,P,S,I"));

    // An oblique acquisition (rotated 30 degrees about z): two letters where both matter.
    auto oblique = makeVolume(false);
    const double c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
    oblique->direction = {c, -s, 0, s, c, 0, 0, 0, 1};
    viewer.setVolume(oblique);
    QCOMPARE(viewer.view(MprPlane::Axial)->edgeLabel(1), QString("LP"));
}

void TestVolumeViewer::wheelAndKeysChangeSlice() {
    VolumeViewer viewer;
    viewer.resize(800, 700);
    viewer.setVolume(makeVolume(false));
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    auto* axial = viewer.view(MprPlane::Axial);
    const QPointF centre = axial->imageRect().center();
    sendWheel(axial, centre, 3);
    QCOMPARE(viewer.sliceIndex(MprPlane::Axial), kSlices / 2 + 3);
    sendWheel(axial, centre, -1);
    QCOMPARE(viewer.sliceIndex(MprPlane::Axial), kSlices / 2 + 2);
    axial->setFocus();
    QTest::keyClick(axial, Qt::Key_Down);
    QCOMPARE(viewer.sliceIndex(MprPlane::Axial), kSlices / 2 + 1);
    QTest::keyClick(axial, Qt::Key_PageUp);
    QCOMPARE(viewer.sliceIndex(MprPlane::Axial), kSlices - 1);  // clamped
    // The sagittal view wheel moves i only.
    sendWheel(viewer.view(MprPlane::Sagittal), viewer.view(MprPlane::Sagittal)->imageRect().center(), -2);
    QCOMPARE(viewer.cursorVoxel(), (std::array<int, 3>{kCols / 2 - 2, kRows / 2, kSlices - 1}));
}

void TestVolumeViewer::windowPresets() {
    VolumeViewer viewer;
    viewer.setVolume(makeVolume(false));
    const struct {
        const char* name;
        double c, w;
    } expected[] = {{"lung", -600, 1500}, {"mediastinum", 40, 400}, {"bone", 400, 1800}, {"brain", 40, 80}};
    for (const auto& e : expected) {
        QVERIFY(viewer.applyWindowPreset(e.name));
        QCOMPARE(viewer.windowCenter(), e.c);
        QCOMPARE(viewer.windowWidth(), e.w);
    }
    QVERIFY(!viewer.applyWindowPreset("liver?"));
    // Through the combo box, as a user picks it.
    auto* box = viewer.findChild<QComboBox*>("windowPreset");
    QVERIFY(box);
    const int lung = box->findData("lung");
    QVERIFY(lung > 0);
    box->setCurrentIndex(lung);
    emit box->activated(lung);
    QCOMPARE(viewer.windowCenter(), -600.0);
    QCOMPARE(viewer.windowWidth(), 1500.0);
    // What the view draws follows the window: voxel value v -> grey (v - (c - w/2)) * 255 / w.
    viewer.applyWindowPreset("mediastinum");
    viewer.setCursorVoxel({0, 20, 0});  // value 0 + 1000 - 1000 = 0 HU
    const QImage img = viewer.view(MprPlane::Axial)->sliceImage();
    const int grey = int((0 - (40 - 200)) * 255.0 / 400);
    QCOMPARE(qRed(img.pixel(0, 20)), grey);  // column 0 = i 0 (identity: screen x = i)
}

void TestVolumeViewer::windowByRightDrag() {
    VolumeViewer viewer;
    viewer.resize(800, 700);
    viewer.setVolume(makeVolume(false));
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    viewer.applyWindowPreset("mediastinum");
    auto* view = viewer.view(MprPlane::Coronal);
    const QPointF p = view->imageRect().center();
    sendMouse(view, QEvent::MouseButtonPress, p, Qt::RightButton, Qt::RightButton);
    sendMouse(view, QEvent::MouseMove, p + QPointF(40, 0), Qt::NoButton, Qt::RightButton);
    sendMouse(view, QEvent::MouseButtonRelease, p + QPointF(40, 0), Qt::RightButton, Qt::NoButton);
    QVERIFY(viewer.windowWidth() > 400);  // dragging right widens
    QCOMPARE(viewer.windowCenter(), 40.0);
    const double w = viewer.windowWidth();
    sendMouse(view, QEvent::MouseButtonPress, p, Qt::RightButton, Qt::RightButton);
    sendMouse(view, QEvent::MouseMove, p + QPointF(0, -30), Qt::NoButton, Qt::RightButton);
    sendMouse(view, QEvent::MouseButtonRelease, p + QPointF(0, -30), Qt::RightButton, Qt::NoButton);
    QVERIFY(viewer.windowCenter() < 40);  // dragging up lowers the level
    QCOMPARE(viewer.windowWidth(), w);
}

void TestVolumeViewer::huReadoutAtKnownVoxel() {
    VolumeViewer viewer;
    viewer.resize(800, 700);
    viewer.setVolume(makeVolume(false));
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    // Put the axial slice at k = 5, then hover voxel (7, 11).
    viewer.setSliceIndex(MprPlane::Axial, 5);
    auto* axial = viewer.view(MprPlane::Axial);
    const QRectF r = axial->imageRect();
    const QPointF at(r.left() + 7.5 * r.width() / kCols, r.top() + 11.5 * r.height() / kRows);
    sendMouse(axial, QEvent::MouseMove, at, Qt::NoButton, Qt::NoButton);
    // HU = 7 + 550 + 10000 - 1000 = 9557; position = origin + spacing * index (identity).
    const QString expected = "HU 9557.0 at (-4.4, 29.9, -40.0) mm LPS, voxel (7, 11, 5)";
    QCOMPARE(viewer.readout(), expected);
    QCOMPARE(viewer.findChild<QLabel*>("readout")->text(), expected);
    QCOMPARE(viewer.valueAt({7, 11, 5}), valueOf(7, 11, 5));
    // The NIfTI-like volume: the same voxel is elsewhere on screen and in LPS.
    viewer.setVolume(makeVolume(true));
    const auto world = viewer.worldPosition({7, 11, 5});
    QCOMPARE(world[0], -10 - 7 * 0.8);
    QCOMPARE(world[1], 20 - 11 * 0.9);
}

void TestVolumeViewer::overlayResampling() {
    // A 2x2x2 map of x-index 0/1 sampled on 4 columns, as torch's trilinear
    // interpolate(align_corners=False) gives: 0, 0.25, 0.75, 1.
    widgets::VolumeOverlay o;
    o.shape = {2, 2, 2};
    o.values = {0, 1, 0, 1, 0, 1, 0, 1};
    const widgets::OverlaySampler s(o, {4, 4, 4});
    const float expected[] = {0, 0.25f, 0.75f, 1};
    for (int i = 0; i < 4; ++i) QCOMPARE(s.atVoxel(i, 2, 1), expected[i]);
    const auto full = s.resampled();
    QCOMPARE(full.size(), std::size_t(64));
    QCOMPARE(full[1], 0.25f);
    // Heatmaps are min-max normalised; a constant map becomes zeros.
    o.values = {5, 7, 5, 7, 5, 7, 5, 7};
    QCOMPARE(widgets::OverlaySampler(o, {4, 4, 4}).atVoxel(3, 0, 0), 1.0f);
    o.values.assign(8, 3.0f);
    QCOMPARE(widgets::OverlaySampler(o, {4, 4, 4}).atVoxel(3, 0, 0), 0.0f);
    // Label masks: nearest neighbour, labels kept.
    o.labelMask = true;
    o.values = {0, 2, 0, 2, 0, 2, 0, 2};
    const widgets::OverlaySampler m(o, {4, 4, 4});
    QCOMPARE(m.atVoxel(1, 0, 0), 0.0f);
    QCOMPARE(m.atVoxel(2, 0, 0), 2.0f);
}

void TestVolumeViewer::overlayMatchesExplainUpsample() {
    // The viewer samples on the fly what explain::upsample(normalised(h)) computes for the
    // whole grid (that one is checked against torch in tests/explain): the same numbers.
    explain::Heatmap h;
    h.shape = {3, 5, 4};
    for (int n = 0; n < 60; ++n) h.values.push_back(float(std::sin(n * 0.7) * 3 + n * 0.05));
    VolumeViewer viewer;
    viewer.setVolume(makeVolume(false));
    viewer.setHeatmap(h);
    const auto ref =
        explain::upsample(explain::normalised(h), {std::size_t(kSlices), std::size_t(kRows), std::size_t(kCols)});
    const auto ours = viewer.overlay().resampled();
    QCOMPARE(ours.size(), ref.values.size());
    double worst = 0;
    for (std::size_t n = 0; n < ours.size(); ++n) worst = std::max(worst, double(std::fabs(ours[n] - ref.values[n])));
    QVERIFY2(worst < 1e-5, qPrintable(QString::number(worst)));
    // A label mask through its own entry point.
    viewer.setLabelMask({1, 2, 2}, {0, 3, 0, 3});
    QVERIFY(viewer.overlay().labelMask());
    QCOMPARE(viewer.overlay().atVoxel(kCols - 1, 0, 0), 3.0f);
}

void TestVolumeViewer::overlayBadShapeIsAnError() {
    VolumeViewer viewer;
    widgets::VolumeOverlay o;
    o.shape = {2, 2, 2};
    o.values = {1, 2, 3};
    QCOMPARE(errorOf<std::invalid_argument>([&] { viewer.setOverlay(o); }), std::string("overlay: no volume is shown"));
    viewer.setVolume(makeVolume(false));
    QCOMPARE(errorOf<std::invalid_argument>([&] { viewer.setOverlay(o); }),
             std::string("overlay: shape holds 8 values, got 3"));
    o.shape = {8};
    QCOMPARE(errorOf<std::invalid_argument>([&] { viewer.setOverlay(o); }),
             std::string("overlay: shape must be (depth, rows, columns) or (rows, columns), got 1 dimensions"));
}

void TestVolumeViewer::overlayToggleChangesPixels() {
    VolumeViewer viewer;
    viewer.resize(800, 700);
    viewer.setVolume(makeVolume(false));
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    // A heatmap hot in the (low i, low j) corner.
    widgets::VolumeOverlay o;
    o.shape = {2, 4, 4};
    o.values.assign(32, 0.0f);
    o.values[0] = o.values[16] = 1.0f;
    viewer.setOverlay(o);
    auto* box = viewer.findChild<QCheckBox*>("overlayVisible");
    QVERIFY(box && box->isEnabled() && box->isChecked());
    viewer.setOverlayThreshold(0.2);
    viewer.setCursorVoxel({0, 0, 5});
    auto* axial = viewer.view(MprPlane::Axial);
    const QImage on = axial->sliceImage();
    const QPixmap onShot = axial->grab();
    QVERIFY(isColoured(on.pixel(0, 0)));     // hot corner
    QVERIFY(!isColoured(on.pixel(39, 29)));  // cold corner stays grey
    box->click();                            // the user unticks "Overlay"
    QVERIFY(!viewer.overlayVisible());
    const QImage off = axial->sliceImage();
    QVERIFY(!isColoured(off.pixel(0, 0)));
    QVERIFY(countDifferent(onShot.toImage(), axial->grab().toImage()) > 50);
    // The heatmap's colour bar sits in the view's bottom-right corner while the overlay shows;
    // the threshold's value is written beside its slider.
    const auto cornerColoured = [&](const QImage& shot) {
        int n = 0;
        for (int y = shot.height() * 2 / 3; y < shot.height(); ++y)
            for (int x = shot.width() - 90; x < shot.width(); ++x) n += isColoured(shot.pixel(x, y));
        return n;
    };
    QCOMPARE(cornerColoured(axial->grab().toImage()), 0);
    box->click();
    QCOMPARE(countDifferent(on, axial->sliceImage()), 0);
    QVERIFY(cornerColoured(axial->grab().toImage()) > 100);
    QCOMPARE(viewer.findChild<QLabel*>("overlayThresholdValue")->text(), QString("0.20"));
    // A higher threshold colours fewer voxels; opacity 0 colours none.
    const auto coloured = [&] {
        const QImage img = axial->sliceImage();
        int n = 0;
        for (int y = 0; y < img.height(); ++y)
            for (int x = 0; x < img.width(); ++x) n += isColoured(img.pixel(x, y));
        return n;
    };
    const int at02 = coloured();
    viewer.setOverlayThreshold(0.7);
    QVERIFY(coloured() < at02);
    QVERIFY(coloured() > 0);
    viewer.setOverlayOpacity(0);
    QCOMPARE(coloured(), 0);
}

// A CAM written on another grid (coarser, flipped axes like a RAS NIfTI, its own origin) lands
// on the volume where its world coordinates say; integer files become label masks.
void TestVolumeViewer::overlayFileFollowsWorldGeometry() {
    QTemporaryDir dir;
    VolumeViewer viewer(nullptr, false);
    QSignalSpy failed(&viewer, &VolumeViewer::loadFailed);
    viewer.openOverlayPath(dir.filePath("cam.nii.gz"));  // no volume yet: an error, nothing else
    QCOMPARE(failed.count(), 1);
    QVERIFY(failed.first().first().toString().contains("cam.nii.gz"));
    viewer.setVolume(makeVolume(false));  // identity direction, spacing (0.8, 0.9, 2), origin (-10, 20, -50)

    io::ImageVolume cam;
    cam.columns = 10, cam.rows = 12, cam.depth = 6, cam.isVolume = true;
    cam.spacing = {2.4, 2.7, 4.0};
    cam.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
    // Hot voxel (3, 4, 2) at world origin + (-7.2, -10.8, 8) = volume voxel (20, 25, 6) = (6, 42.5, -38).
    cam.origin = {13.2, 53.3, -46.0};
    cam.values.assign(std::size_t(10 * 12 * 6), 0.1f);
    cam.values[std::size_t((2 * 12 + 4) * 10 + 3)] = 0.9f;
    const QString camFile = dir.filePath("ct_0001__Lung_nodule.nii.gz");
    io::writeNifti(camFile.toStdString(), cam);
    QSignalSpy loaded(&viewer, &VolumeViewer::overlayLoaded);
    viewer.openOverlayPath(camFile);
    QVERIFY(loaded.wait(10000));
    QVERIFY(!viewer.overlay().labelMask());
    QVERIFY(viewer.overlayVisible());
    const auto grid = viewer.overlay().resampled();
    QCOMPARE(grid.size(), std::size_t(kCols * kRows * kSlices));
    const auto peak = std::size_t(std::max_element(grid.begin(), grid.end()) - grid.begin());
    QCOMPARE(peak % kCols, std::size_t(20));
    QCOMPARE((peak / kCols) % kRows, std::size_t(25));
    QCOMPARE(peak / (kCols * kRows), std::size_t(6));
    QCOMPARE(viewer.cursorVoxel(), (std::array<int, 3>{20, 25, 6}));  // the crosshair went to the peak
    // Outside the CAM's extent the overlay is 0 (the normalised minimum).
    QCOMPARE(viewer.overlay().atVoxel(0, 0, 19), 0.0f);

    // Integers: a label mask, sampled nearest-neighbour.
    io::ImageVolume mask = cam;
    std::fill(mask.values.begin(), mask.values.end(), 0.0f);
    mask.values[std::size_t((2 * 12 + 4) * 10 + 3)] = 2.0f;
    const QString maskFile = dir.filePath("mask.nii.gz");
    io::writeNifti(maskFile.toStdString(), mask);
    viewer.openOverlayPath(maskFile);
    QVERIFY(loaded.wait(10000));
    QVERIFY(viewer.overlay().labelMask());
    QCOMPARE(viewer.overlay().atVoxel(20, 25, 6), 2.0f);

    // A file that is not NIfTI: an error naming it; the shown overlay stays.
    const QString bad = dir.filePath("bad.nii");
    std::ofstream(bad.toStdString()) << "not a nifti";
    viewer.openOverlayPath(bad);
    QVERIFY(failed.wait(10000));
    QVERIFY(failed.last().first().toString().contains("bad.nii"));
    QVERIFY(viewer.overlay().labelMask());
}

void TestVolumeViewer::loadsAsJobWithProgress() {
    QTemporaryDir dir;
    auto v = makeVolume(true);
    v->meta.format = "NIfTI-1";
    const std::string file = dir.filePath("ct.nii.gz").toStdString();
    io::writeNifti(file, *v);

    jobs::JobPool pool(2);
    widgets::JobEventBridge bridge;
    VolumeViewer viewer;
    QString kindSeen, titleSeen;
    viewer.setJobRunner(
        [&](const QString& kind, const QString& title, jobs::JobFunction work) {
            kindSeen = kind;
            titleSeen = title;
            return pool.submit(kind.toStdString(), title.toStdString(), std::move(work), bridge.observer());
        },
        &bridge);
    QSignalSpy loaded(&viewer, &VolumeViewer::volumeLoaded);
    QSignalSpy progress(&bridge, &widgets::JobEventBridge::progress);
    viewer.openPath(QString::fromStdString(file));
    QVERIFY(viewer.isLoading());
    QCOMPARE(kindSeen, QString("volume"));
    QVERIFY(titleSeen.contains("ct.nii.gz"));
    QVERIFY(loaded.wait(20000));
    QVERIFY(!viewer.isLoading());
    QVERIFY(progress.count() >= 1);
    QVERIFY(viewer.volume());
    QCOMPARE(viewer.volume()->columns, kCols);
    QCOMPARE(viewer.volume()->depth, kSlices);
    QCOMPARE(viewer.valueAt({7, 11, 5}), valueOf(7, 11, 5));
    QCOMPARE(viewer.caption(), QString("ct.nii.gz"));
}

void TestVolumeViewer::loadFailureIsReported() {
    QTemporaryDir dir;
    const QString bad = dir.filePath("broken.nii");
    std::ofstream(bad.toStdString()) << "not a nifti file";
    VolumeViewer viewer;  // no job runner: QtConcurrent
    QSignalSpy failed(&viewer, &VolumeViewer::loadFailed);
    viewer.openPath(bad);
    QVERIFY(failed.wait(20000));
    QVERIFY2(failed.first().first().toString().contains("broken.nii"), qPrintable(failed.first().first().toString()));
    QVERIFY(!viewer.volume());
}

void TestVolumeViewer::rendering3dIsNonBlank() {
    if (!VtkRenderWidget::glAvailable()) QSKIP("needs OpenGL: run under xvfb-run with QT_QPA_PLATFORM=xcb");
    VolumeViewer viewer;
    viewer.resize(900, 800);
    viewer.setVolume(makeVolume(false));
    viewer.setRenderPreset(VolumeViewer::RenderPreset::Mip);
    viewer.applyWindowPreset("bone");
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    auto* view = viewer.view3d();
    QVERIFY(view);
    QTRY_VERIFY_WITH_TIMEOUT(view->framesRendered() > 0, 10000);
    const QImage img = view->grabFramebuffer();
    QVERIFY(!img.isNull());
    // An opaque frame with the renderer's background colour (0.05, 0.05, 0.08) in the corner:
    // alpha left by VTK must not leak into the read-back (it turned edges white once).
    const QRgb corner = img.pixel(1, 1);
    QCOMPARE(qAlpha(corner), 255);
    QVERIFY2(std::abs(qRed(corner) - 13) <= 1 && std::abs(qBlue(corner) - 20) <= 1,
             qPrintable(QString::number(corner, 16)));
    // The background is (0.05, 0.05, 0.08); the MIP of values up to ~39000 covers much more
    // than a few pixels, in many grey levels.
    int bright = 0;
    QSet<int> levels;
    for (int y = 0; y < img.height(); y += 2)
        for (int x = 0; x < img.width(); x += 2) {
            const QRgb p = img.pixel(x, y);
            if (qRed(p) > 40) ++bright;
            levels.insert(qRed(p));
        }
    QVERIFY2(bright > img.width() * img.height() / 4 / 20, qPrintable(QString::number(bright)));
    QVERIFY(levels.size() > 20);
    for (auto preset : {VolumeViewer::RenderPreset::CtBone, VolumeViewer::RenderPreset::CtSoftTissue}) {
        viewer.setRenderPreset(preset);
        const int before = view->framesRendered();
        QTRY_VERIFY_WITH_TIMEOUT(view->framesRendered() > before, 10000);
        QVERIFY(countDifferent(img, view->grabFramebuffer()) > 100);
    }
}

void TestVolumeViewer::mouseAndKeysReachVtk() {
    if (!VtkRenderWidget::glAvailable()) QSKIP("needs OpenGL: run under xvfb-run with QT_QPA_PLATFORM=xcb");
    VolumeViewer viewer;
    viewer.resize(900, 800);
    viewer.setVolume(makeVolume(false));
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    auto* view = viewer.view3d();
    QTRY_VERIFY_WITH_TIMEOUT(view->framesRendered() > 0, 10000);
    auto* cam = view->renderer()->GetActiveCamera();
    double p0[3], p1[3];
    cam->GetPosition(p0);
    // Left drag rotates (trackball camera): the camera moves.
    const QPointF c(view->width() / 2.0, view->height() / 2.0);
    sendMouse(view, QEvent::MouseButtonPress, c, Qt::LeftButton, Qt::LeftButton);
    for (int s = 1; s <= 5; ++s)
        sendMouse(view, QEvent::MouseMove, c + QPointF(12 * s, 0), Qt::NoButton, Qt::LeftButton);
    sendMouse(view, QEvent::MouseButtonRelease, c + QPointF(60, 0), Qt::LeftButton, Qt::NoButton);
    cam->GetPosition(p1);
    QVERIFY(std::fabs(p1[0] - p0[0]) > 1e-3);
    // The wheel zooms: the distance shrinks.
    const double d0 = cam->GetDistance();
    sendWheel(view, c, 1);
    QVERIFY(cam->GetDistance() < d0);
    // 'r' resets the camera to the anterior view.
    view->setFocus();
    QTest::keyClick(view, Qt::Key_R);
    cam->GetPosition(p1);
    QVERIFY(std::fabs(p1[0] - p0[0]) < 1e-6);
    QVERIFY(std::fabs(cam->GetDistance() - d0) < 1e-6);
    QTRY_VERIFY_WITH_TIMEOUT(view->framesRendered() > 1, 10000);
}

void TestVolumeViewer::overlayToggleChanges3d() {
    if (!VtkRenderWidget::glAvailable()) QSKIP("needs OpenGL: run under xvfb-run with QT_QPA_PLATFORM=xcb");
    VolumeViewer viewer;
    viewer.resize(900, 800);
    // Air only, so the volume rendering is transparent and the overlay's surface shows.
    auto air = makeVolume(false);
    std::fill(air->values.begin(), air->values.end(), -1000.0f);
    air->values[0] = 0;
    viewer.setVolume(air);
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    auto* view = viewer.view3d();
    widgets::VolumeOverlay o;
    o.shape = {4, 4, 4};
    o.values.assign(64, 0.0f);
    o.values[std::size_t(1 * 16 + 1 * 4 + 1)] = o.values[std::size_t(2 * 16 + 2 * 4 + 2)] = 1.0f;
    viewer.setOverlay(o);
    viewer.setOverlayOpacity(0.9);
    int before = view->framesRendered();
    QTRY_VERIFY_WITH_TIMEOUT(view->framesRendered() > before, 10000);
    const QImage on = view->grabFramebuffer();
    viewer.setOverlayVisible(false);
    before = view->framesRendered();
    QTRY_VERIFY_WITH_TIMEOUT(view->framesRendered() > before, 10000);
    const QImage off = view->grabFramebuffer();
    QVERIFY2(countDifferent(on, off) > 200, qPrintable(QString::number(countDifferent(on, off))));
}

void TestVolumeViewer::screenshotWithHeatmap() {
    if (!VtkRenderWidget::glAvailable()) QSKIP("needs OpenGL: run under xvfb-run with QT_QPA_PLATFORM=xcb");
    // The demo's first CT (NIfTI) with a coarse 3-D "CAM" peaking on its first planted lesion.
    QTemporaryDir dir;
    demo::DemoOptions options;
    options.chestImages = 10;
    options.ctVolumes = 2;
    options.angioStudies = 1;
    options.predictionStudies = 10;
    demo::createDemoWorkspace(dir.path().toStdString(), options);
    VolumeViewer viewer;
    QSignalSpy loaded(&viewer, &VolumeViewer::volumeLoaded);
    viewer.openPath(dir.filePath("ct/volumes/ct_0001.nii.gz"));
    QVERIFY(loaded.wait(20000));
    std::ifstream lesions(dir.filePath("ct/lesions.csv").toStdString());
    std::string line;
    std::getline(lesions, line);
    int li = 32, lj = 40, lk = 24;
    while (std::getline(lesions, line))
        if (line.rfind("ct_0001", 0) == 0) {
            std::stringstream s(line);
            std::string f[6];
            for (auto& x : f) std::getline(s, x, ',');
            li = std::stoi(f[2]);
            lj = std::stoi(f[3]);
            lk = std::stoi(f[4]);
            break;
        }
    const auto* v = viewer.volume();
    widgets::VolumeOverlay cam;
    cam.shape = {6, 8, 8};
    for (int k = 0; k < 6; ++k)
        for (int j = 0; j < 8; ++j)
            for (int i = 0; i < 8; ++i) {
                const double x = (i + 0.5) * v->columns / 8.0 - 0.5 - li, y = (j + 0.5) * v->rows / 8.0 - 0.5 - lj,
                             z = ((k + 0.5) * v->depth / 6.0 - 0.5 - lk) * v->spacing[2] / v->spacing[0];
                cam.values.push_back(float(std::exp(-(x * x + y * y + z * z) / (2 * 9.0 * 9.0))));
            }
    viewer.setOverlay(cam);
    viewer.setCursorVoxel({li, lj, lk});
    viewer.applyWindowPreset("lung");
    viewer.setRenderPreset(VolumeViewer::RenderPreset::CtBone);
    viewer.resize(1200, 950);
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    QTRY_VERIFY_WITH_TIMEOUT(viewer.view3d()->framesRendered() > 0, 10000);
    QTest::qWait(300);
    const QPixmap shot = viewer.grab();
    QVERIFY(shot.save(screenshotPath("volume_viewer.png")));
    // The overlay shows in the axial view at the lesion.
    // (NIfTI: i runs to the patient's right and j anterior, so the axial image is mirrored.)
    QVERIFY(isColoured(viewer.view(MprPlane::Axial)->sliceImage().pixel(v->columns - 1 - li, v->rows - 1 - lj)));
}

int main(int argc, char** argv) {
    VtkRenderWidget::setDefaultSurfaceFormat();
    QApplication app(argc, argv);
    TestVolumeViewer test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_volume_viewer.moc"
