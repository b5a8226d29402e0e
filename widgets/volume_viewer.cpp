#include "volume_viewer.h"
#include "util/parallel.h"

#include "vtk_render_widget.h"

#include "io/dicom_series.h"
#include "io/media_reader.h"
#include "io/nifti_reader.h"
#include "io/volume_resample.h"
#include "jobs/job.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QSlider>
#include <QThread>
#include <QVBoxLayout>
#include <QWheelEvent>
#include <QtConcurrent/QtConcurrentRun>

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkColorTransferFunction.h>
#include <vtkFixedPointVolumeRayCastMapper.h>
#include <vtkFlyingEdges3D.h>
#include <vtkFloatArray.h>
#include <vtkGenericRenderWindowInteractor.h>
#include <vtkImageData.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkMatrix4x4.h>
#include <vtkObjectFactory.h>
#include <vtkPiecewiseFunction.h>
#include <vtkPointData.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderer.h>
#include <vtkVolume.h>
#include <vtkVolumeProperty.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace lumen::widgets {

namespace {

constexpr const char* kPlaneNames[] = {"Axial", "Coronal", "Sagittal"};

// Screen layout of each plane in patient (LPS) terms: the world axis across (and which way
// is right), the world axis down (and which way is down), the world axis of the normal.
// Radiological convention: patient's left on the right of axial and coronal views, anterior
// up in axial, superior up in coronal and sagittal, anterior left in sagittal.
struct PlaneLayout {
    int across, down, normal;
    bool rightIsPositive, downIsPositive;
};
constexpr PlaneLayout kLayouts[] = {
    {0, 1, 2, true, true},    // axial: right = +x (L), down = +y (P)
    {0, 2, 1, true, false},   // coronal: right = L, down = -z (I)
    {1, 2, 0, true, false},   // sagittal: right = +y (P), down = I
};

// Letters for a direction in LPS: the dominant axis, plus the second one when it is strong
// (oblique acquisitions).
QString letters(const std::array<double, 3>& v) {
    static const char* pos = "LPS";
    static const char* neg = "RAI";
    std::array<int, 3> order{0, 1, 2};
    std::sort(order.begin(), order.end(), [&](int a, int b) { return std::fabs(v[std::size_t(a)]) > std::fabs(v[std::size_t(b)]); });
    QString s;
    for (int n = 0; n < 2; ++n) {
        const int a = order[std::size_t(n)];
        const double c = v[std::size_t(a)];
        if (n == 1 && std::fabs(c) < 0.3 * std::fabs(v[std::size_t(order[0])])) break;
        s += QChar(c >= 0 ? pos[a] : neg[a]);
    }
    return s;
}

// 3-D view: a trackball style whose keys are limited to what makes sense here ('r' resets
// the camera); VTK's defaults include stereo, wireframe and exit keys.
class ViewerStyle : public vtkInteractorStyleTrackballCamera {
public:
    static ViewerStyle* New();
    vtkTypeMacro(ViewerStyle, vtkInteractorStyleTrackballCamera);
    std::function<void()> onReset;
    void OnChar() override {
        const char key = this->Interactor ? this->Interactor->GetKeyCode() : 0;
        if ((key == 'r' || key == 'R') && onReset) onReset();
    }
};
vtkStandardNewMacro(ViewerStyle);

}  // namespace

// ---------------------------------------------------------------------------------------
// PreparedVolume

float PreparedVolume::value(int i, int j, int k) const {
    const auto& v = *volume;
    const std::size_t idx = (std::size_t(k) * std::size_t(v.rows) + std::size_t(j)) * std::size_t(v.columns) + std::size_t(i);
    return v.values[idx * std::size_t(v.samples)];
}

std::shared_ptr<const PreparedVolume> prepareVolume(std::shared_ptr<const io::ImageVolume> volume) {
    if (!volume || volume->elementCount() == 0 || volume->values.size() < volume->elementCount())
        throw std::invalid_argument("the volume is empty");
    auto p = std::make_shared<PreparedVolume>();
    p->volume = volume;
    const auto& v = *volume;
    p->dims = {v.columns, v.rows, v.depth};
    const std::size_t n = std::size_t(v.columns) * std::size_t(v.rows) * std::size_t(v.depth);
    float lo = v.values[0], hi = v.values[0];
    for (std::size_t i = 0; i < n; ++i) {
        const float x = v.values[i * std::size_t(v.samples)];
        lo = std::min(lo, x);
        hi = std::max(hi, x);
    }
    p->minValue = lo;
    p->maxValue = std::max(hi, lo + 1);

    // Voxel axis -> closest world axis: the permutation with the largest |cosines|.
    const auto& d = v.direction;  // row-major; column a = voxel axis a
    std::array<int, 3> best{0, 1, 2}, perm{0, 1, 2};
    double bestScore = -1;
    do {
        double score = 0;
        for (int a = 0; a < 3; ++a) score += std::fabs(d[std::size_t(perm[std::size_t(a)] * 3 + a)]);
        if (score > bestScore + 1e-9) {
            bestScore = score;
            best = perm;
        }
    } while (std::next_permutation(perm.begin(), perm.end()));
    for (int a = 0; a < 3; ++a) {
        const int w = best[std::size_t(a)];
        p->axisOfWorld[std::size_t(w)] = a;
        p->positive[std::size_t(w)] = d[std::size_t(w * 3 + a)] >= 0;
    }

    for (int a = 0; a < 3; ++a) {
        const int dim = p->dims[std::size_t(a)];
        const int f = (dim + PreparedVolume::kMaxProxy - 1) / PreparedVolume::kMaxProxy;
        p->proxyFactor[std::size_t(a)] = f;
        p->proxyDims[std::size_t(a)] = (dim + f - 1) / f;
    }
    const auto [fx, fy, fz] = p->proxyFactor;
    const auto [px, py, pz] = p->proxyDims;
    p->proxy.assign(std::size_t(px) * std::size_t(py) * std::size_t(pz), 0.0f);
    // Box averages, proxy slices split over the cores (each thread owns its own output).
    std::vector<int> pcol(std::size_t(v.columns));
    for (int i = 0; i < v.columns; ++i) pcol[std::size_t(i)] = i / fx;
    const std::size_t samples = std::size_t(v.samples);
    const auto work = [&](int firstSlice, int endSlice) {
        for (int pk = firstSlice; pk < endSlice; ++pk) {
            float* out = p->proxy.data() + std::size_t(pk) * std::size_t(py) * std::size_t(px);
            const int k1 = std::min(v.depth, (pk + 1) * fz);
            for (int k = pk * fz; k < k1; ++k)
                for (int j = 0; j < v.rows; ++j) {
                    const float* in = v.values.data() + (std::size_t(k) * std::size_t(v.rows) + std::size_t(j)) * std::size_t(v.columns) * samples;
                    float* row = out + std::size_t(j / fy) * std::size_t(px);
                    if (fx == 1 && samples == 1)
                        for (int i = 0; i < v.columns; ++i) row[i] += in[i];
                    else
                        for (int i = 0; i < v.columns; ++i) row[pcol[std::size_t(i)]] += in[std::size_t(i) * samples];
                }
            const int nz = k1 - pk * fz;
            for (int pj = 0; pj < py; ++pj) {
                const int ny = std::min(v.rows, (pj + 1) * fy) - pj * fy;
                for (int pi = 0; pi < px; ++pi) {
                    const int nx = std::min(v.columns, (pi + 1) * fx) - pi * fx;
                    out[std::size_t(pj) * std::size_t(px) + std::size_t(pi)] /= float(nx * ny * nz);
                }
            }
        }
    };
    const int threads = std::clamp(int(util::resolveThreads(0)), 1, std::max(1, pz));
    util::parallelFor(std::size_t(threads), unsigned(threads),
                      [&](std::size_t t) { work(pz * int(t) / threads, pz * (int(t) + 1) / threads); });
    return p;
}

// ---------------------------------------------------------------------------------------
// MprView

MprView::MprView(VolumeViewer* viewer, MprPlane plane, QWidget* parent)
    : QWidget(parent), viewer_(viewer), plane_(plane) {
    setObjectName(QString("mpr") + kPlaneNames[int(plane)]);
    setMinimumSize(160, 160);
    setMouseTracking(true);
    setFocusPolicy(Qt::StrongFocus);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setCursor(Qt::CrossCursor);
}

void MprView::invalidate() {
    dirty_ = true;
    update();
}

QImage MprView::displayImage(QSize size) const {
    const QImage src = sliceImage();
    if (!displayDirty_ && !dirty_ && display_.size() == size) return display_;
    displayDirty_ = false;
    if (src.isNull() || size.isEmpty()) return display_ = QImage();
    if (src.width() * src.height() <= 256 * 256) {
        // Small volumes (the demo's 64x64) look better interpolated, and are cheap to scale.
        display_ = src.scaled(size, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
        return display_;
    }
    // Nearest neighbour through index tables: one read per output pixel (~1 ms for 800x600).
    display_ = QImage(size, QImage::Format_RGB32);
    std::vector<int> xs(std::size_t(size.width()));
    for (int x = 0; x < size.width(); ++x)
        xs[std::size_t(x)] = std::min(int((x + 0.5) * src.width() / size.width()), src.width() - 1);
    for (int y = 0; y < size.height(); ++y) {
        const int sy = std::min(int((y + 0.5) * src.height() / size.height()), src.height() - 1);
        const auto* in = reinterpret_cast<const QRgb*>(src.constScanLine(sy));
        auto* out = reinterpret_cast<QRgb*>(display_.scanLine(y));
        for (int x = 0; x < size.width(); ++x) out[x] = in[xs[std::size_t(x)]];
    }
    return display_;
}

MprView::Axis MprView::horizontal() const {
    const auto* p = viewer_->prepared();
    const PlaneLayout& l = kLayouts[int(plane_)];
    if (!p) return {l.across, false};
    return {p->axisOfWorld[std::size_t(l.across)], p->positive[std::size_t(l.across)] != l.rightIsPositive};
}

MprView::Axis MprView::vertical() const {
    const auto* p = viewer_->prepared();
    const PlaneLayout& l = kLayouts[int(plane_)];
    if (!p) return {l.down, false};
    return {p->axisOfWorld[std::size_t(l.down)], p->positive[std::size_t(l.down)] != l.downIsPositive};
}

QRectF MprView::imageRect() const {
    const auto* p = viewer_->prepared();
    if (!p) return {};
    const auto& sp = p->volume->spacing;
    const Axis h = horizontal(), v = vertical();
    const double w = p->dims[std::size_t(h.voxelAxis)] * std::max(sp[std::size_t(h.voxelAxis)], 1e-6);
    const double hgt = p->dims[std::size_t(v.voxelAxis)] * std::max(sp[std::size_t(v.voxelAxis)], 1e-6);
    const double margin = 18;  // room for the orientation letters
    const double aw = std::max(1.0, width() - 2 * margin), ah = std::max(1.0, height() - 2 * margin);
    const double s = std::min(aw / w, ah / hgt);
    // Whole pixels, so the cached display image is blitted 1:1.
    const double dw = std::max(1.0, std::round(w * s)), dh = std::max(1.0, std::round(hgt * s));
    return QRectF(std::floor((width() - dw) / 2), std::floor((height() - dh) / 2), dw, dh);
}

std::optional<std::array<int, 3>> MprView::voxelAt(QPointF pos) const {
    const auto* p = viewer_->prepared();
    const QRectF r = imageRect();
    if (!p || r.isEmpty() || !r.contains(pos)) return std::nullopt;
    const Axis h = horizontal(), v = vertical();
    const int nh = p->dims[std::size_t(h.voxelAxis)], nv = p->dims[std::size_t(v.voxelAxis)];
    int u = std::clamp(int((pos.x() - r.left()) / r.width() * nh), 0, nh - 1);
    int w = std::clamp(int((pos.y() - r.top()) / r.height() * nv), 0, nv - 1);
    if (h.flipped) u = nh - 1 - u;
    if (v.flipped) w = nv - 1 - w;
    std::array<int, 3> voxel = viewer_->cursorVoxel();
    voxel[std::size_t(h.voxelAxis)] = u;
    voxel[std::size_t(v.voxelAxis)] = w;
    return voxel;
}

QPointF MprView::pointOf(const std::array<int, 3>& voxel) const {
    const auto* p = viewer_->prepared();
    const QRectF r = imageRect();
    if (!p || r.isEmpty()) return {};
    const Axis h = horizontal(), v = vertical();
    const int nh = p->dims[std::size_t(h.voxelAxis)], nv = p->dims[std::size_t(v.voxelAxis)];
    int u = voxel[std::size_t(h.voxelAxis)], w = voxel[std::size_t(v.voxelAxis)];
    if (h.flipped) u = nh - 1 - u;
    if (v.flipped) w = nv - 1 - w;
    return {r.left() + (u + 0.5) * r.width() / nh, r.top() + (w + 0.5) * r.height() / nv};
}

QString MprView::edgeLabel(int edge) const {
    const auto* p = viewer_->prepared();
    if (!p) return {};
    const auto& d = p->volume->direction;
    const Axis a = edge < 2 ? horizontal() : vertical();
    // The world direction in which the screen coordinate grows (right or down).
    std::array<double, 3> dir{d[std::size_t(a.voxelAxis)], d[std::size_t(3 + a.voxelAxis)], d[std::size_t(6 + a.voxelAxis)]};
    const bool towardsEdge = edge == 1 || edge == 3;
    const double s = (a.flipped ? -1.0 : 1.0) * (towardsEdge ? 1.0 : -1.0);
    for (double& c : dir) c *= s;
    return letters(dir);
}

QImage MprView::renderSlice() const {
    const auto* p = viewer_->prepared();
    if (!p) return {};
    const Axis h = horizontal(), v = vertical();
    const int nh = p->dims[std::size_t(h.voxelAxis)], nv = p->dims[std::size_t(v.voxelAxis)];
    QImage img(nh, nv, QImage::Format_RGB32);
    const double lo = viewer_->windowCenter() - viewer_->windowWidth() / 2;
    const double scale = 255.0 / std::max(viewer_->windowWidth(), 1e-6);
    const auto& vol = *p->volume;
    const std::size_t samples = std::size_t(vol.samples);
    const std::array<std::size_t, 3> stride{samples, std::size_t(vol.columns) * samples,
                                            std::size_t(vol.columns) * std::size_t(vol.rows) * samples};
    const std::array<int, 3> c = viewer_->cursorVoxel();
    const int na = viewer_->normalAxis(plane_);
    const std::size_t base = std::size_t(c[std::size_t(na)]) * stride[std::size_t(na)];
    const std::size_t sh = stride[std::size_t(h.voxelAxis)], sv = stride[std::size_t(v.voxelAxis)];
    const float* values = vol.values.data();

    const OverlaySampler& ov = viewer_->overlay();
    const bool overlay = viewer_->overlayVisible() && !ov.empty();
    const auto& lut = viewer_->overlayLut();
    const double alpha = viewer_->overlayOpacity();
    const double threshold = viewer_->overlayThreshold();
    for (int y = 0; y < nv; ++y) {
        const int w = v.flipped ? nv - 1 - y : y;
        auto* line = reinterpret_cast<QRgb*>(img.scanLine(y));
        const std::size_t rowBase = base + std::size_t(w) * sv;
        std::array<int, 3> voxel = c;
        voxel[std::size_t(v.voxelAxis)] = w;
        for (int x = 0; x < nh; ++x) {
            const int u = h.flipped ? nh - 1 - x : x;
            const int g = std::clamp(int((values[rowBase + std::size_t(u) * sh] - lo) * scale), 0, 255);
            QRgb rgb = qRgb(g, g, g);
            if (overlay) {
                voxel[std::size_t(h.voxelAxis)] = u;
                const float o = ov.atVoxel(voxel[0], voxel[1], voxel[2]);
                const bool show = ov.labelMask() ? o > 0.5f : o >= threshold && o > 0;
                if (show) {
                    const QRgb col = lut[std::size_t(std::clamp(int(ov.labelMask() ? std::lround(o) : std::lround(o * 255)), 0, 255))];
                    rgb = qRgb(int(g + (qRed(col) - g) * alpha), int(g + (qGreen(col) - g) * alpha),
                               int(g + (qBlue(col) - g) * alpha));
                }
            }
            line[x] = rgb;
        }
    }
    return img;
}

QImage MprView::sliceImage() const {
    if (dirty_ || cache_.isNull()) {
        cache_ = renderSlice();
        dirty_ = false;
        displayDirty_ = true;
    }
    return cache_;
}

void MprView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.fillRect(rect(), Qt::black);
    const auto* p = viewer_->prepared();
    painter.setPen(QColor(230, 230, 230));
    QFont f = font();
    f.setPointSizeF(std::max(7.0, f.pointSizeF() * 0.9));
    painter.setFont(f);
    if (!p) {
        painter.drawText(rect(), Qt::AlignCenter,
                         viewer_->message_.isEmpty() ? tr("%1: no volume").arg(tr(kPlaneNames[int(plane_)])) : viewer_->message_);
        return;
    }
    const QRectF r = imageRect();
    painter.drawImage(r.topLeft(), displayImage(r.size().toSize()));

    // Crosshair: the two other planes through the cursor, in their colours.
    static const QColor planeColours[] = {QColor(255, 80, 80), QColor(80, 220, 80), QColor(90, 150, 255)};
    const QPointF c = pointOf(viewer_->cursorVoxel());
    const Axis h = horizontal();
    const Axis v = vertical();
    auto planeOfAxis = [&](int voxelAxis) {
        for (int q = 0; q < 3; ++q)
            if (viewer_->normalAxis(MprPlane(q)) == voxelAxis) return q;
        return 0;
    };
    painter.setRenderHint(QPainter::Antialiasing, false);
    QPen pen(planeColours[planeOfAxis(h.voxelAxis)]);
    pen.setWidthF(1.0);
    painter.setPen(pen);
    painter.drawLine(QPointF(c.x(), r.top()), QPointF(c.x(), r.bottom()));
    pen.setColor(planeColours[planeOfAxis(v.voxelAxis)]);
    painter.setPen(pen);
    painter.drawLine(QPointF(r.left(), c.y()), QPointF(r.right(), c.y()));

    // Orientation letters at the edges, plane name, slice and window in the corners.
    painter.setPen(QColor(255, 210, 80));
    const QFontMetrics fm(painter.font());
    painter.drawText(QRectF(0, 0, 18, height()), Qt::AlignCenter, edgeLabel(0));
    painter.drawText(QRectF(width() - 18, 0, 18, height()), Qt::AlignCenter, edgeLabel(1));
    painter.drawText(QRectF(0, 0, width(), 18), Qt::AlignCenter, edgeLabel(2));
    painter.drawText(QRectF(0, height() - 18, width(), 18), Qt::AlignCenter, edgeLabel(3));
    painter.setPen(planeColours[int(plane_)]);
    const int slice = viewer_->sliceIndex(plane_) + 1;
    painter.drawText(QPointF(4, fm.ascent() + 2),
                     tr("%1  %2/%3").arg(tr(kPlaneNames[int(plane_)])).arg(slice).arg(viewer_->sliceCount(plane_)));
    painter.setPen(QColor(200, 200, 200));
    painter.drawText(QPointF(4, height() - 4),
                     tr("W %1  L %2").arg(viewer_->windowWidth(), 0, 'f', 0).arg(viewer_->windowCenter(), 0, 'f', 0));
    if (hasFocus()) {
        painter.setPen(QPen(QColor(90, 90, 90), 1));
        painter.drawRect(rect().adjusted(0, 0, -1, -1));
    }
}

void MprView::mousePressEvent(QMouseEvent* e) {
    setFocus(Qt::MouseFocusReason);
    if (e->button() == Qt::LeftButton) {
        if (const auto v = voxelAt(e->position())) viewer_->setCursorVoxel(*v);
    } else if (e->button() == Qt::RightButton) {
        windowing_ = true;
        dragStart_ = e->position();
        dragCenter_ = viewer_->windowCenter();
        dragWidth_ = viewer_->windowWidth();
    }
    e->accept();
}

void MprView::mouseMoveEvent(QMouseEvent* e) {
    const auto v = voxelAt(e->position());
    if ((e->buttons() & Qt::LeftButton) && v) viewer_->setCursorVoxel(*v);
    if (windowing_ && (e->buttons() & Qt::RightButton)) {
        const auto* p = viewer_->prepared();
        // The whole value range over ~2 view widths of drag: HU and 8-bit data alike.
        const double sensitivity = p ? std::max((p->maxValue - p->minValue) / 512.0, 0.01) : 1.0;
        const QPointF d = e->position() - dragStart_;
        viewer_->setWindow(dragCenter_ + d.y() * sensitivity, std::max(1.0, dragWidth_ + d.x() * sensitivity));
    }
    viewer_->hover(v);
    e->accept();
}

void MprView::mouseReleaseEvent(QMouseEvent* e) {
    if (e->button() == Qt::RightButton) windowing_ = false;
    e->accept();
}

void MprView::wheelEvent(QWheelEvent* e) {
    const int steps = e->angleDelta().y() / 120;
    if (steps != 0) viewer_->setSliceIndex(plane_, viewer_->sliceIndex(plane_) + steps);
    e->accept();
}

void MprView::keyPressEvent(QKeyEvent* e) {
    switch (e->key()) {
    case Qt::Key_Up: viewer_->setSliceIndex(plane_, viewer_->sliceIndex(plane_) + 1); break;
    case Qt::Key_Down: viewer_->setSliceIndex(plane_, viewer_->sliceIndex(plane_) - 1); break;
    case Qt::Key_PageUp: viewer_->setSliceIndex(plane_, viewer_->sliceIndex(plane_) + 10); break;
    case Qt::Key_PageDown: viewer_->setSliceIndex(plane_, viewer_->sliceIndex(plane_) - 10); break;
    default: QWidget::keyPressEvent(e); return;
    }
    e->accept();
}

void MprView::leaveEvent(QEvent*) { viewer_->hover(std::nullopt); }

// ---------------------------------------------------------------------------------------
// VolumeViewer: 3-D state

struct VolumeViewer::Vtk {
    vtkSmartPointer<vtkImageData> image;
    vtkSmartPointer<vtkFixedPointVolumeRayCastMapper> mapper;
    vtkSmartPointer<vtkVolume> volume;
    vtkSmartPointer<vtkVolumeProperty> property;
    vtkSmartPointer<vtkColorTransferFunction> colours;
    vtkSmartPointer<vtkPiecewiseFunction> opacity;
    vtkSmartPointer<vtkMatrix4x4> matrix;
    vtkSmartPointer<vtkImageData> overlayImage;
    vtkSmartPointer<vtkFlyingEdges3D> surface;
    vtkSmartPointer<vtkActor> overlayActor;
    std::vector<float> overlayValues;
    std::shared_ptr<const PreparedVolume> shown;  // keeps the proxy the image points into alive
};

VolumeViewer::VolumeViewer(QWidget* parent, bool with3d) : QWidget(parent), lut_(overlayColormap("jet")) {
    setObjectName("volumeViewer");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);

    auto* bar = new QHBoxLayout;
    windowPreset_ = new QComboBox;
    windowPreset_->setObjectName("windowPreset");
    windowPreset_->addItem(tr("Window: default"), "default");
    for (const auto& p : DicomImageView::presets())
        windowPreset_->addItem(tr("%1 (%2/%3)").arg(p.name).arg(p.center).arg(p.width), p.name);
    renderPresetBox_ = new QComboBox;
    renderPresetBox_->setObjectName("renderPreset");
    renderPresetBox_->addItems({tr("3D: CT bone"), tr("3D: CT soft tissue"), tr("3D: MIP")});
    renderPresetBox_->setCurrentIndex(int(renderPreset_));
    resetCamera_ = new QPushButton(tr("Reset camera"));
    resetCamera_->setObjectName("resetCamera");
    overlayBox_ = new QCheckBox(tr("Overlay"));
    overlayBox_->setObjectName("overlayVisible");
    overlayBox_->setChecked(overlayVisible_);
    overlayBox_->setEnabled(false);
    colormapBox_ = new QComboBox;
    colormapBox_->setObjectName("overlayColormap");
    colormapBox_->addItems(overlayColormapNames());
    opacitySlider_ = new QSlider(Qt::Horizontal);
    opacitySlider_->setObjectName("overlayOpacity");
    opacitySlider_->setRange(0, 100);
    opacitySlider_->setValue(int(overlayOpacity_ * 100));
    opacitySlider_->setToolTip(tr("Overlay opacity"));
    opacitySlider_->setMaximumWidth(110);
    thresholdSlider_ = new QSlider(Qt::Horizontal);
    thresholdSlider_->setObjectName("overlayThreshold");
    thresholdSlider_->setRange(0, 100);
    thresholdSlider_->setValue(int(overlayThreshold_ * 100));
    thresholdSlider_->setToolTip(tr("Overlay threshold (fraction of the heatmap's range)"));
    thresholdSlider_->setMaximumWidth(110);
    bar->addWidget(windowPreset_);
    bar->addWidget(renderPresetBox_);
    bar->addWidget(resetCamera_);
    bar->addSpacing(12);
    bar->addWidget(overlayBox_);
    bar->addWidget(colormapBox_);
    bar->addWidget(new QLabel(tr("opacity")));
    bar->addWidget(opacitySlider_);
    bar->addWidget(new QLabel(tr("threshold")));
    bar->addWidget(thresholdSlider_);
    bar->addStretch(1);
    layout->addLayout(bar);

    auto* grid = new QGridLayout;
    grid->setSpacing(2);
    for (int q = 0; q < 3; ++q) views_[std::size_t(q)] = new MprView(this, MprPlane(q));
    grid->addWidget(views_[0], 0, 0);
    grid->addWidget(views_[1], 0, 1);
    grid->addWidget(views_[2], 1, 0);
    if (with3d && VtkRenderWidget::glAvailable()) {
        view3d_ = new VtkRenderWidget;
        view3d_->setObjectName("view3d");
        grid->addWidget(view3d_, 1, 1);
        build3d();
    } else {
        auto* none = new QLabel(with3d ? tr("3-D view needs an OpenGL display (not available on this platform)") : QString());
        none->setObjectName("view3dUnavailable");
        none->setAlignment(Qt::AlignCenter);
        none->setWordWrap(true);
        grid->addWidget(none, 1, 1);
    }
    grid->setRowStretch(0, 1);
    grid->setRowStretch(1, 1);
    grid->setColumnStretch(0, 1);
    grid->setColumnStretch(1, 1);
    layout->addLayout(grid, 1);

    auto* bottom = new QHBoxLayout;
    readout_ = new QLabel;
    readout_->setObjectName("readout");
    readout_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    status_ = new QLabel;
    status_->setObjectName("viewerStatus");
    progress_ = new QProgressBar;
    progress_->setObjectName("loadProgress");
    progress_->setRange(0, 1000);
    progress_->setMaximumWidth(220);
    progress_->hide();
    bottom->addWidget(readout_, 1);
    bottom->addWidget(status_);
    bottom->addWidget(progress_);
    layout->addLayout(bottom);

    connect(windowPreset_, &QComboBox::activated, this,
            [this](int index) { applyWindowPreset(windowPreset_->itemData(index).toString()); });
    connect(renderPresetBox_, &QComboBox::activated, this, [this](int index) { setRenderPreset(RenderPreset(index)); });
    connect(resetCamera_, &QPushButton::clicked, this, &VolumeViewer::resetCamera);
    connect(overlayBox_, &QCheckBox::toggled, this, &VolumeViewer::setOverlayVisible);
    connect(colormapBox_, &QComboBox::textActivated, this, &VolumeViewer::setOverlayColormap);
    connect(opacitySlider_, &QSlider::valueChanged, this, [this](int v) { setOverlayOpacity(v / 100.0); });
    connect(thresholdSlider_, &QSlider::valueChanged, this, [this](int v) { setOverlayThreshold(v / 100.0); });
    resetCamera_->setEnabled(view3d_ != nullptr);
    renderPresetBox_->setEnabled(view3d_ != nullptr);
}

VolumeViewer::~VolumeViewer() = default;

void VolumeViewer::build3d() {
    vtk_ = std::make_unique<Vtk>();
    auto& v = *vtk_;
    v.mapper = vtkSmartPointer<vtkFixedPointVolumeRayCastMapper>::New();
    // Coarser rays while the user drags (the interactor asks for DesiredUpdateRate), full
    // quality once still: the mapper adjusts its image sample distance to the time allowed.
    v.mapper->SetAutoAdjustSampleDistances(1);
    v.mapper->SetMaximumImageSampleDistance(6);
    v.mapper->SetNumberOfThreads(std::max(1, QThread::idealThreadCount()));
    v.property = vtkSmartPointer<vtkVolumeProperty>::New();
    v.colours = vtkSmartPointer<vtkColorTransferFunction>::New();
    v.opacity = vtkSmartPointer<vtkPiecewiseFunction>::New();
    v.property->SetColor(v.colours);
    v.property->SetScalarOpacity(v.opacity);
    v.property->SetInterpolationTypeToLinear();
    v.volume = vtkSmartPointer<vtkVolume>::New();
    v.volume->SetMapper(v.mapper);
    v.volume->SetProperty(v.property);
    v.matrix = vtkSmartPointer<vtkMatrix4x4>::New();
    v.volume->SetUserMatrix(v.matrix);
    v.surface = vtkSmartPointer<vtkFlyingEdges3D>::New();
    v.surface->ComputeNormalsOn();
    v.surface->ComputeScalarsOff();
    auto overlayMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
    overlayMapper->SetInputConnection(v.surface->GetOutputPort());
    overlayMapper->ScalarVisibilityOff();
    v.overlayActor = vtkSmartPointer<vtkActor>::New();
    v.overlayActor->SetMapper(overlayMapper);
    v.overlayActor->SetUserMatrix(v.matrix);
    v.overlayActor->VisibilityOff();

    auto* ren = view3d_->renderer();
    ren->SetBackground(0.05, 0.05, 0.08);
    auto* iren = view3d_->interactor();
    iren->SetDesiredUpdateRate(20.0);
    iren->SetStillUpdateRate(0.001);
    vtkNew<ViewerStyle> style;
    style->onReset = [this] { resetCamera(); };
    iren->SetInteractorStyle(style);
}

void VolumeViewer::update3dVolume() {
    if (!vtk_) return;
    auto& v = *vtk_;
    auto* ren = view3d_->renderer();
    ren->RemoveVolume(v.volume);
    ren->RemoveActor(v.overlayActor);
    if (!prepared_) {
        v.image = nullptr;
        v.shown.reset();
        view3d_->requestRender();
        return;
    }
    const auto& p = *prepared_;
    const auto& vol = *p.volume;
    auto image = vtkSmartPointer<vtkImageData>::New();
    image->SetDimensions(p.proxyDims[0], p.proxyDims[1], p.proxyDims[2]);
    double spacing[3], origin[3];
    for (int a = 0; a < 3; ++a) {
        const double f = p.proxyFactor[std::size_t(a)];
        spacing[a] = vol.spacing[std::size_t(a)] * f;
        origin[a] = vol.spacing[std::size_t(a)] * (f - 1) / 2;  // centre of the first box
    }
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    auto array = vtkSmartPointer<vtkFloatArray>::New();
    // No copy: the array points into the prepared proxy, which `shown` keeps alive.
    array->SetArray(const_cast<float*>(p.proxy.data()), vtkIdType(p.proxy.size()), 1);
    array->SetName("values");
    image->GetPointData()->SetScalars(array);
    v.image = image;
    v.shown = prepared_;
    v.mapper->SetInputData(image);
    // World (LPS mm) = origin + direction * (index * spacing): the prop's user matrix.
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) v.matrix->SetElement(r, c, vol.direction[std::size_t(r * 3 + c)]);
        v.matrix->SetElement(r, 3, vol.origin[std::size_t(r)]);
    }
    v.matrix->Modified();
    ren->AddVolume(v.volume);
    ren->AddActor(v.overlayActor);
    update3dTransfer();
    update3dOverlay();
    resetCamera();
}

void VolumeViewer::update3dTransfer() {
    if (!vtk_) return;
    auto& v = *vtk_;
    v.colours->RemoveAllPoints();
    v.opacity->RemoveAllPoints();
    switch (renderPreset_) {
    case RenderPreset::CtBone:
        v.mapper->SetBlendModeToComposite();
        v.colours->AddRGBPoint(-1000, 0, 0, 0);
        v.colours->AddRGBPoint(150, 0.75, 0.45, 0.35);
        v.colours->AddRGBPoint(400, 0.98, 0.92, 0.82);
        v.colours->AddRGBPoint(1500, 1, 1, 1);
        v.opacity->AddPoint(-1000, 0);
        v.opacity->AddPoint(150, 0);
        v.opacity->AddPoint(300, 0.35);
        v.opacity->AddPoint(700, 0.85);
        v.opacity->AddPoint(3000, 0.9);
        v.property->ShadeOn();
        break;
    case RenderPreset::CtSoftTissue:
        v.mapper->SetBlendModeToComposite();
        v.colours->AddRGBPoint(-1000, 0, 0, 0);
        v.colours->AddRGBPoint(-600, 0.35, 0.25, 0.2);
        v.colours->AddRGBPoint(-100, 0.78, 0.5, 0.38);
        v.colours->AddRGBPoint(40, 0.88, 0.38, 0.32);
        v.colours->AddRGBPoint(300, 0.95, 0.88, 0.78);
        v.colours->AddRGBPoint(1500, 1, 1, 1);
        v.opacity->AddPoint(-1000, 0);
        v.opacity->AddPoint(-700, 0);
        v.opacity->AddPoint(-500, 0.02);
        v.opacity->AddPoint(-150, 0.04);
        v.opacity->AddPoint(20, 0.12);
        v.opacity->AddPoint(120, 0.25);
        v.opacity->AddPoint(400, 0.7);
        v.opacity->AddPoint(3000, 0.8);
        v.property->ShadeOn();
        break;
    case RenderPreset::Mip: {
        v.mapper->SetBlendModeToMaximumIntensity();
        const double lo = center_ - width_ / 2, hi = center_ + width_ / 2;
        v.colours->AddRGBPoint(lo, 0, 0, 0);
        v.colours->AddRGBPoint(hi, 1, 1, 1);
        v.opacity->AddPoint(lo, 0);
        v.opacity->AddPoint(hi, 1);
        v.property->ShadeOff();
        break;
    }
    }
    v.property->SetAmbient(0.3);
    v.property->SetDiffuse(0.7);
    v.property->SetSpecular(0.2);
    view3d_->requestRender();
}

void VolumeViewer::update3dOverlay() {
    if (!vtk_) return;
    auto& v = *vtk_;
    if (!prepared_ || overlay_.empty() || !overlayVisible_) {
        v.overlayActor->VisibilityOff();
        view3d_->requestRender();
        return;
    }
    // The overlay on a grid of at most 128 per axis (and no finer than the volume): enough
    // for a smooth surface of a CAM, cheap to contour.
    const auto& p = *prepared_;
    const auto& vol = *p.volume;
    std::array<int, 3> g{};
    for (int a = 0; a < 3; ++a) g[std::size_t(a)] = std::min(p.dims[std::size_t(a)], 128);
    v.overlayValues.resize(std::size_t(g[0]) * std::size_t(g[1]) * std::size_t(g[2]));
    std::size_t n = 0;
    const auto pos = [&](int a, int idx) { return (idx + 0.5) * p.dims[std::size_t(a)] / g[std::size_t(a)] - 0.5; };
    for (int k = 0; k < g[2]; ++k)
        for (int j = 0; j < g[1]; ++j)
            for (int i = 0; i < g[0]; ++i) v.overlayValues[n++] = overlay_.sample(pos(0, i), pos(1, j), pos(2, k));
    auto image = vtkSmartPointer<vtkImageData>::New();
    image->SetDimensions(g[0], g[1], g[2]);
    double spacing[3], origin[3];
    for (int a = 0; a < 3; ++a) {
        const double step = double(p.dims[std::size_t(a)]) / g[std::size_t(a)];
        spacing[a] = vol.spacing[std::size_t(a)] * step;
        origin[a] = vol.spacing[std::size_t(a)] * (0.5 * step - 0.5);
    }
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    auto array = vtkSmartPointer<vtkFloatArray>::New();
    array->SetArray(v.overlayValues.data(), vtkIdType(v.overlayValues.size()), 1);
    image->GetPointData()->SetScalars(array);
    v.overlayImage = image;
    v.surface->SetInputData(image);
    const double level = overlay_.labelMask() ? 0.5 : std::max(overlayThreshold_, 0.02);
    v.surface->SetValue(0, level);
    const QRgb c = lut_[std::size_t(overlay_.labelMask() ? 1 : std::clamp(int((level + (1 - level) / 2) * 255), 0, 255))];
    v.overlayActor->GetProperty()->SetColor(qRed(c) / 255.0, qGreen(c) / 255.0, qBlue(c) / 255.0);
    v.overlayActor->GetProperty()->SetOpacity(std::clamp(overlayOpacity_ + 0.25, 0.0, 1.0));
    v.overlayActor->VisibilityOn();
    view3d_->requestRender();
}

void VolumeViewer::resetCamera() {
    if (!vtk_ || !prepared_) return;
    auto* ren = view3d_->renderer();
    double b[6];
    vtk_->volume->GetBounds(b);
    const double c[3] = {(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2};
    auto* cam = ren->GetActiveCamera();
    // Seen from the front (anterior, -y in LPS), head up: the patient's left on the right.
    cam->SetFocalPoint(c);
    cam->SetPosition(c[0], c[1] - 1000, c[2]);
    cam->SetViewUp(0, 0, 1);
    ren->ResetCamera(b);
    cam->Zoom(1.3);
    ren->ResetCameraClippingRange();
    view3d_->requestRender();
}

// ---------------------------------------------------------------------------------------
// VolumeViewer: state

void VolumeViewer::setVolume(std::shared_ptr<const io::ImageVolume> volume, const QString& caption) {
    setPreparedVolume(prepareVolume(std::move(volume)), caption);
}

void VolumeViewer::setPreparedVolume(std::shared_ptr<const PreparedVolume> prepared, const QString& caption) {
    prepared_ = std::move(prepared);
    caption_ = caption;
    message_.clear();
    overlay_ = OverlaySampler();
    overlayBox_->setEnabled(false);
    if (prepared_) cursor_ = {prepared_->dims[0] / 2, prepared_->dims[1] / 2, prepared_->dims[2] / 2};
    applyWindowPreset("default");
    update3dVolume();
    refreshViews();
    hover(std::nullopt);
    emit cursorChanged(cursor_[0], cursor_[1], cursor_[2]);
    emit overlayChanged();
}

void VolumeViewer::clear(const QString& message) {
    prepared_.reset();
    caption_.clear();
    message_ = message;
    overlay_ = OverlaySampler();
    update3dVolume();
    refreshViews();
    readout_->clear();
}

void VolumeViewer::refreshViews() {
    for (auto* v : views_) v->invalidate();
}

int VolumeViewer::normalAxis(MprPlane plane) const {
    const int w = kLayouts[int(plane)].normal;
    return prepared_ ? prepared_->axisOfWorld[std::size_t(w)] : w;
}

int VolumeViewer::sliceCount(MprPlane plane) const {
    return prepared_ ? prepared_->dims[std::size_t(normalAxis(plane))] : 0;
}

void VolumeViewer::setCursorVoxel(std::array<int, 3> voxel) {
    if (!prepared_) return;
    for (int a = 0; a < 3; ++a) voxel[std::size_t(a)] = std::clamp(voxel[std::size_t(a)], 0, prepared_->dims[std::size_t(a)] - 1);
    if (voxel == cursor_) return;
    // Only a view whose slice changed redraws its image; the others just move the crosshair.
    for (int q = 0; q < 3; ++q) {
        const auto a = std::size_t(normalAxis(MprPlane(q)));
        if (voxel[a] != cursor_[a]) views_[std::size_t(q)]->invalidate();
        else views_[std::size_t(q)]->update();
    }
    cursor_ = voxel;
    readout_->setText(readoutText(cursor_));
    emit cursorChanged(cursor_[0], cursor_[1], cursor_[2]);
}

void VolumeViewer::setSliceIndex(MprPlane plane, int index) {
    std::array<int, 3> v = cursor_;
    v[std::size_t(normalAxis(plane))] = index;
    setCursorVoxel(v);
}

void VolumeViewer::setWindow(double center, double width) {
    width = std::max(width, 1e-3);
    if (center == center_ && width == width_) return;
    center_ = center;
    width_ = width;
    refreshViews();
    if (renderPreset_ == RenderPreset::Mip) update3dTransfer();
    emit windowChanged(center_, width_);
}

bool VolumeViewer::applyWindowPreset(const QString& name) {
    if (name == "default") {
        double c = 40, w = 400;
        if (prepared_) {
            const auto& m = prepared_->volume->meta;
            if (m.windowCenter && m.windowWidth && *m.windowWidth > 0) {
                c = *m.windowCenter;
                w = *m.windowWidth;
            } else {
                c = (prepared_->minValue + prepared_->maxValue) / 2.0;
                w = prepared_->maxValue - prepared_->minValue;
            }
        }
        setWindow(c, w);
        windowPreset_->setCurrentIndex(0);
        return true;
    }
    for (const auto& p : DicomImageView::presets())
        if (p.name.compare(name, Qt::CaseInsensitive) == 0) {
            setWindow(p.center, p.width);
            windowPreset_->setCurrentIndex(windowPreset_->findData(p.name));
            return true;
        }
    return false;
}

float VolumeViewer::valueAt(const std::array<int, 3>& v) const {
    return prepared_ ? prepared_->value(v[0], v[1], v[2]) : 0.0f;
}

std::array<double, 3> VolumeViewer::worldPosition(const std::array<int, 3>& v) const {
    if (!prepared_) return {0, 0, 0};
    const auto& vol = *prepared_->volume;
    std::array<double, 3> w = vol.origin;
    for (int r = 0; r < 3; ++r)
        for (int a = 0; a < 3; ++a)
            w[std::size_t(r)] += vol.direction[std::size_t(r * 3 + a)] * vol.spacing[std::size_t(a)] * v[std::size_t(a)];
    return w;
}

QString VolumeViewer::readoutText(const std::array<int, 3>& v) const {
    if (!prepared_) return {};
    const auto w = worldPosition(v);
    const bool hu = prepared_->volume->meta.modality == "CT" || prepared_->volume->meta.rescaleType == "HU" ||
                    prepared_->volume->meta.format.rfind("NIfTI", 0) == 0;
    QString text = tr("%1 %2 at (%3, %4, %5) mm LPS, voxel (%6, %7, %8)")
                       .arg(hu ? "HU" : tr("value"))
                       .arg(double(valueAt(v)), 0, 'f', 1)
                       .arg(w[0], 0, 'f', 1).arg(w[1], 0, 'f', 1).arg(w[2], 0, 'f', 1)
                       .arg(v[0]).arg(v[1]).arg(v[2]);
    if (!overlay_.empty()) text += tr(", overlay %1").arg(double(overlay_.atVoxel(v[0], v[1], v[2])), 0, 'f', 2);
    return text;
}

QString VolumeViewer::readout() const { return readout_->text(); }

void VolumeViewer::hover(const std::optional<std::array<int, 3>>& voxel) {
    if (!prepared_) return;
    readout_->setText(readoutText(voxel ? *voxel : cursor_));
}

void VolumeViewer::setOverlay(const VolumeOverlay& overlay) {
    if (!prepared_) throw std::invalid_argument("overlay: no volume is shown");
    overlay_ = OverlaySampler(overlay, prepared_->dims);
    if (overlay_.labelMask()) lut_ = overlayColormap("labels");
    else lut_ = overlayColormap(colormapName_);
    overlayBox_->setEnabled(true);
    refreshViews();
    update3dOverlay();
    emit overlayChanged();
}

void VolumeViewer::setHeatmap(const explain::Heatmap& heatmap) {
    setOverlay(VolumeOverlay{heatmap.shape, heatmap.values, false});
}

void VolumeViewer::setLabelMask(const std::vector<std::size_t>& shape, const std::vector<float>& labels) {
    setOverlay(VolumeOverlay{shape, labels, true});
}

void VolumeViewer::clearOverlay() {
    overlay_ = OverlaySampler();
    overlayBox_->setEnabled(false);
    refreshViews();
    update3dOverlay();
    emit overlayChanged();
}

void VolumeViewer::setOverlayVisible(bool visible) {
    if (visible == overlayVisible_) return;
    overlayVisible_ = visible;
    overlayBox_->setChecked(visible);
    refreshViews();
    update3dOverlay();
    emit overlayChanged();
}

void VolumeViewer::setOverlayOpacity(double opacity) {
    overlayOpacity_ = std::clamp(opacity, 0.0, 1.0);
    if (opacitySlider_->value() != int(std::lround(overlayOpacity_ * 100)))
        opacitySlider_->setValue(int(std::lround(overlayOpacity_ * 100)));
    refreshViews();
    update3dOverlay();
    emit overlayChanged();
}

void VolumeViewer::setOverlayThreshold(double threshold) {
    overlayThreshold_ = std::clamp(threshold, 0.0, 1.0);
    if (thresholdSlider_->value() != int(std::lround(overlayThreshold_ * 100)))
        thresholdSlider_->setValue(int(std::lround(overlayThreshold_ * 100)));
    refreshViews();
    update3dOverlay();
    emit overlayChanged();
}

void VolumeViewer::setOverlayColormap(const QString& name) {
    colormapName_ = overlayColormapNames().contains(name) ? name : QString("jet");
    colormapBox_->setCurrentText(colormapName_);
    if (!overlay_.labelMask()) lut_ = overlayColormap(colormapName_);
    refreshViews();
    update3dOverlay();
    emit overlayChanged();
}

void VolumeViewer::setRenderPreset(RenderPreset preset) {
    renderPreset_ = preset;
    renderPresetBox_->setCurrentIndex(int(preset));
    update3dTransfer();
}

// ---------------------------------------------------------------------------------------
// VolumeViewer: loading

void VolumeViewer::setJobRunner(JobSubmitter submit, JobEventBridge* bridge) {
    submit_ = std::move(submit);
    bridge_ = bridge;
    connect(bridge_, &JobEventBridge::progress, this, [this](quint64 job, double f, const QString& m, double) {
        if (job != loadJob_) return;
        progress_->setValue(int(f * 1000));
        status_->setText(m);
    });
    connect(bridge_, &JobEventBridge::finished, this, [this](quint64 job, const QString&) {
        if (job != loadJob_) return;
        loadJob_ = 0;
        finishLoad(loadSlot_ ? *loadSlot_ : nullptr, loadCaption_, {});
    });
    connect(bridge_, &JobEventBridge::failed, this, [this](quint64 job, const QString& error) {
        if (job != loadJob_) return;
        loadJob_ = 0;
        finishLoad(nullptr, {}, error);
    });
    connect(bridge_, &JobEventBridge::cancelled, this, [this](quint64 job) {
        if (job != loadJob_) return;
        loadJob_ = 0;
        finishLoad(nullptr, {}, tr("loading cancelled"));
    });
}

namespace {

// Reads what `path` names and prepares it for display. Runs on a worker thread.
std::shared_ptr<const PreparedVolume> loadForViewer(const std::filesystem::path& path, jobs::JobContext* job) {
    io::ImageVolume volume;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        io::DicomSeriesOptions options;
        if (job)
            options.progress = [job](double f, const std::string& m) {
                job->throwIfCancelled();
                job->progress(0.9 * f, m);
            };
        volume = io::loadDicomSeries(path, {}, options).volume;
    } else {
        if (job) job->progress(0.05, "reading " + path.filename().string());
        volume = io::readMedia(path).volume;
    }
    if (job) {
        job->throwIfCancelled();
        job->progress(0.92, "preparing views");
    }
    return prepareVolume(std::make_shared<const io::ImageVolume>(std::move(volume)));
}

}  // namespace

void VolumeViewer::openPath(const QString& path) {
    if (loading_) {
        status_->setText(tr("Still loading %1; open %2 when it is done.").arg(loadCaption_, QFileInfo(path).fileName()));
        return;
    }
    const std::filesystem::path file = path.toStdString();
    loadCaption_ = QFileInfo(path).fileName();
    setLoading(true, tr("Loading %1…").arg(loadCaption_));
    if (submit_) {
        auto slot = std::make_shared<std::shared_ptr<const PreparedVolume>>();
        loadSlot_ = slot;
        loadJob_ = submit_("volume", tr("Open volume %1").arg(loadCaption_), [file, slot](jobs::JobContext& job) {
            *slot = loadForViewer(file, &job);
            const auto& v = *(*slot)->volume;
            return std::to_string(v.columns) + "x" + std::to_string(v.rows) + "x" + std::to_string(v.depth) +
                   " volume from " + file.filename().string();
        });
        return;
    }
    // No job pool (a viewer on its own): a QtConcurrent thread, the result delivered here.
    struct Result {
        std::shared_ptr<const PreparedVolume> prepared;
        QString error;
    };
    auto* watcher = new QFutureWatcher<Result>(this);
    connect(watcher, &QFutureWatcher<Result>::finished, this, [this, watcher] {
        const Result r = watcher->result();
        watcher->deleteLater();
        finishLoad(r.prepared, loadCaption_, r.error);
    });
    watcher->setFuture(QtConcurrent::run([file]() -> Result {
        try {
            return {loadForViewer(file, nullptr), {}};
        } catch (const std::exception& e) {
            return {nullptr, QString::fromUtf8(e.what())};
        }
    }));
}

void VolumeViewer::openOverlayPath(const QString& path) {
    const QString name = QFileInfo(path).fileName();
    if (!prepared_) {
        emit loadFailed(tr("%1: open a volume first, then its overlay").arg(path));
        return;
    }
    const std::shared_ptr<const io::ImageVolume> target = prepared_->volume;
    const std::filesystem::path file = path.toStdString();
    struct Result {
        VolumeOverlay overlay;
        QString error;
    };
    auto* watcher = new QFutureWatcher<Result>(this);
    connect(watcher, &QFutureWatcher<Result>::finished, this, [this, watcher, target, name] {
        Result r = watcher->result();
        watcher->deleteLater();
        if (!prepared_ || prepared_->volume != target) return;  // another volume came meanwhile
        if (!r.error.isEmpty()) {
            emit loadFailed(r.error);
            return;
        }
        setOverlay(r.overlay);
        setOverlayVisible(true);
        if (!r.overlay.labelMask) {
            // Go to the hottest voxel: the first thing one wants to see of a CAM.
            const auto& v = r.overlay.values;
            const auto at = std::size_t(std::max_element(v.begin(), v.end()) - v.begin());
            const std::array<std::size_t, 3> g{r.overlay.shape[2], r.overlay.shape[1], r.overlay.shape[0]};
            const std::array<std::size_t, 3> cell{at % g[0], (at / g[0]) % g[1], at / (g[0] * g[1])};
            const std::array<int, 3> dims = prepared_->dims;
            std::array<int, 3> voxel{};
            for (std::size_t q = 0; q < 3; ++q)
                voxel[q] = std::clamp(int((double(cell[q]) + 0.5) * dims[q] / double(g[q])), 0, dims[q] - 1);
            setCursorVoxel(voxel);
        }
        status_->setText(tr("Overlay %1 (%2)").arg(name, r.overlay.labelMask ? tr("label mask") : tr("heatmap")));
        emit overlayLoaded(name);
    });
    watcher->setFuture(QtConcurrent::run([file, target]() -> Result {
        try {
            const io::ImageVolume src = io::readNifti(file);
            VolumeOverlay o;
            std::vector<float> distinct;
            bool integral = true;
            for (float v : src.values) {
                if (v != std::round(v) || v < 0) {
                    integral = false;
                    break;
                }
                if (distinct.size() <= 64 && std::find(distinct.begin(), distinct.end(), v) == distinct.end())
                    distinct.push_back(v);
            }
            o.labelMask = integral && distinct.size() <= 64;
            // The volume's own grid, at most 256 per axis: the viewer samples the rest.
            const std::array<int, 3> dims{std::min(target->columns, 256), std::min(target->rows, 256),
                                          std::min(target->depth, 256)};
            o.shape = {std::size_t(dims[2]), std::size_t(dims[1]), std::size_t(dims[0])};
            o.values = io::sampleOnGrid(src, *target, dims,
                                        o.labelMask ? io::Interpolation::Nearest : io::Interpolation::Linear);
            if (std::none_of(o.values.begin(), o.values.end(), [](float v) { return v != 0.0f; }))
                return {{}, QString::fromStdString(file.string() + ": does not overlap the shown volume (or is all zero)")};
            return {std::move(o), {}};
        } catch (const std::exception& e) {
            return {{}, QString::fromUtf8(e.what())};
        }
    }));
}

void VolumeViewer::setLoading(bool loading, const QString& message) {
    loading_ = loading;
    progress_->setVisible(loading);
    progress_->setValue(0);
    if (!submit_ && loading) progress_->setRange(0, 0);  // busy: no progress without a job
    else progress_->setRange(0, 1000);
    status_->setText(message);
}

void VolumeViewer::finishLoad(std::shared_ptr<const PreparedVolume> prepared, const QString& caption, const QString& error) {
    setLoading(false);
    if (!prepared) {
        const QString e = error.isEmpty() ? tr("nothing was read") : error;
        status_->setText(tr("Open failed: %1").arg(e));
        emit loadFailed(e);
        return;
    }
    setPreparedVolume(std::move(prepared), caption);
    const auto& v = *prepared_->volume;
    status_->setText(tr("%1: %2×%3×%4, %5×%6×%7 mm")
                         .arg(caption)
                         .arg(v.columns).arg(v.rows).arg(v.depth)
                         .arg(v.spacing[0], 0, 'g', 3).arg(v.spacing[1], 0, 'g', 3).arg(v.spacing[2], 0, 'g', 3));
    emit volumeLoaded(caption);
}

}  // namespace lumen::widgets
