// One MPR view of the volume viewer (volume_viewer.h), painted with QPainter from the buffer.
#include "volume_viewer.h"
#include "color_bar.h"
#include "volume_viewer_layout.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

namespace lumen::widgets {

using namespace viewer_layout;

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
    std::array<double, 3> dir{d[std::size_t(a.voxelAxis)], d[std::size_t(3 + a.voxelAxis)],
                              d[std::size_t(6 + a.voxelAxis)]};
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
                    const QRgb col = lut[std::size_t(
                        std::clamp(int(ov.labelMask() ? std::lround(o) : std::lround(o * 255)), 0, 255))];
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
        painter.drawText(
            rect(), Qt::AlignCenter,
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
                     DicomImageView::windowText(viewer_->windowWidth(), viewer_->windowCenter()));
    // A heatmap overlay (not a label mask) gets its colour bar in the bottom-right corner.
    if (viewer_->hasOverlay() && viewer_->overlayVisible() && !viewer_->overlay().labelMask()) {
        const auto& lut = viewer_->overlayLut();
        const QImage bar = colorBarImage(
            [&lut](double t) {
                return lut.empty() ? qRgb(0, 0, 0) : lut[std::size_t(std::lround(t * (lut.size() - 1)))];
            },
            viewer_->overlayThreshold(), std::min(160, height() / 2), painter.font());
        painter.drawImage(QPoint(width() - bar.width() - 22, height() - bar.height() - 22), bar);
    }
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

}  // namespace lumen::widgets
