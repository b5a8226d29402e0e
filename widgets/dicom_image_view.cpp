#include "dicom_image_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QTimer>
#include <QWheelEvent>

#include "data/volume_preprocessing.h"

#include <algorithm>
#include <cmath>

namespace lumen::widgets {

const std::vector<WindowPreset>& DicomImageView::presets() {
    static const std::vector<WindowPreset> p = [] {
        std::vector<WindowPreset> out;
        for (const auto& w : data::ctWindowPresets())
            out.push_back({QString::fromStdString(w.name), w.centre, w.width});
        return out;
    }();
    return p;
}

bool DicomImageView::isHounsfield(const io::ImageVolume& v) {
    return v.meta.modality == "CT" || v.meta.rescaleType == "HU";
}

std::vector<WindowPreset> DicomImageView::presetsFor(const io::ImageVolume& v) {
    if (isHounsfield(v)) return presets();
    if (v.values.empty()) return {};
    // Percentiles from at most ~1M evenly spaced values: a long cine has hundreds of millions.
    const std::size_t step = std::max<std::size_t>(1, v.values.size() / 1000000);
    std::vector<float> sample;
    sample.reserve(v.values.size() / step + 1);
    for (std::size_t i = 0; i < v.values.size(); i += step) sample.push_back(v.values[i]);
    const auto at = [&](double q) {
        auto nth = sample.begin() + std::ptrdiff_t(q * double(sample.size() - 1));
        std::nth_element(sample.begin(), nth, sample.end());
        return double(*nth);
    };
    const double lo = at(0.0), hi = std::max(at(1.0), lo + 1);
    const double p1 = at(0.01), p99 = std::max(at(0.99), p1 + 1);
    return {{"full", (lo + hi) / 2, hi - lo}, {"auto", (p1 + p99) / 2, p99 - p1}};
}

QString DicomImageView::windowText(double width, double level) {
    return tr("W %1  L %2").arg(width, 0, 'f', 0).arg(level, 0, 'f', 0);
}

DicomImageView::DicomImageView(QWidget* parent) : QWidget(parent), timer_(new QTimer(this)) {
    setObjectName("dicomImageView");
    setMinimumSize(256, 256);
    setMouseTracking(false);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setCursor(Qt::CrossCursor);
    timer_->setTimerType(Qt::PreciseTimer);
    connect(timer_, &QTimer::timeout, this, [this] {
        if (frameCount() > 1) setFrame((frame_ + 1) % frameCount());
    });
}

DicomImageView::~DicomImageView() = default;

void DicomImageView::setVolume(std::shared_ptr<const io::ImageVolume> volume, const QString& caption) {
    pause();
    volume_ = std::move(volume);
    caption_ = caption;
    message_.clear();
    frame_ = 0;
    minValue_ = 0;
    maxValue_ = 1;
    if (volume_ && !volume_->values.empty()) {
        const auto [lo, hi] = std::minmax_element(volume_->values.begin(), volume_->values.end());
        minValue_ = *lo;
        maxValue_ = std::max(double(*hi), double(*lo) + 1);
    }
    const auto ft = volume_ ? volume_->meta.frameTimeMs : std::nullopt;
    setFps(ft && *ft > 0 ? 1000.0 / *ft : kDefaultFps);
    resetWindow();
    invalidate();
    emit frameChanged(frame_);
}

void DicomImageView::clear(const QString& message) {
    pause();
    volume_.reset();
    caption_.clear();
    message_ = message;
    frame_ = 0;
    invalidate();
}

int DicomImageView::frameCount() const { return volume_ ? volume_->time * volume_->depth : 0; }

void DicomImageView::setFrame(int frame) {
    const int n = frameCount();
    if (n == 0) return;
    frame = std::clamp(frame, 0, n - 1);
    if (frame == frame_) return;
    frame_ = frame;
    invalidate();
    emit frameChanged(frame_);
}

void DicomImageView::setWindow(double center, double width) {
    width = std::max(width, 1e-3);
    if (center == center_ && width == width_) return;
    center_ = center;
    width_ = width;
    invalidate();
    emit windowChanged(center_, width_);
}

void DicomImageView::resetWindow() {
    if (!volume_) return;
    const auto [c, w] = defaultWindow(*volume_);
    setWindow(c, w);
}

bool DicomImageView::applyPreset(const QString& name) {
    if (name.compare("file", Qt::CaseInsensitive) == 0) {
        resetWindow();
        return true;
    }
    std::vector<WindowPreset> all = presets();
    if (volume_ && !isHounsfield(*volume_))
        for (const auto& p : presetsFor(*volume_)) all.push_back(p);
    for (const auto& p : all)
        if (p.name.compare(name, Qt::CaseInsensitive) == 0) {
            setWindow(p.center, p.width);
            return true;
        }
    return false;
}

double DicomImageView::dragSensitivity() const {
    // The whole value range over ~2 widget widths of drag: fine for 8-bit cines and HU alike.
    return std::max((maxValue_ - minValue_) / 512.0, 0.01);
}

bool DicomImageView::isPlaying() const { return timer_->isActive(); }

void DicomImageView::play() {
    if (frameCount() <= 1 || isPlaying()) return;
    timer_->start(int(std::lround(1000.0 / fps_)));
    emit playingChanged(true);
}

void DicomImageView::pause() {
    if (!isPlaying()) return;
    timer_->stop();
    emit playingChanged(false);
}

void DicomImageView::setFps(double fps) {
    fps_ = std::clamp(fps, 0.5, 120.0);
    if (isPlaying()) timer_->setInterval(int(std::lround(1000.0 / fps_)));
}

void DicomImageView::invalidate() {
    cacheValid_ = false;
    update();
}

QImage DicomImageView::renderFrame(const io::ImageVolume& v, int frame, double center, double width) {
    if (v.values.empty() || v.rows <= 0 || v.columns <= 0) return {};
    const int rows = v.rows, cols = v.columns, samples = v.samples;
    const std::size_t perFrame = std::size_t(rows) * std::size_t(cols) * std::size_t(samples);
    if ((std::size_t(frame) + 1) * perFrame > v.values.size()) return {};
    const float* src = v.values.data() + std::size_t(frame) * perFrame;
    // PS3.3 C.11.2.1.2 linear window: values below c - w/2 black, above c + w/2 white.
    const double lo = center - width / 2, scale = 255.0 / std::max(width, 1e-3);
    const bool invert = v.meta.invertForDisplay && samples == 1;
    QImage img(cols, rows, samples == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
    for (int r = 0; r < rows; ++r) {
        uchar* line = img.scanLine(r);
        const float* in = src + std::size_t(r) * std::size_t(cols) * std::size_t(samples);
        for (int i = 0; i < cols * samples; ++i) {
            const int g = std::clamp(int(std::lround((double(in[i]) - lo) * scale)), 0, 255);
            line[i] = uchar(invert ? 255 - g : g);
        }
    }
    return img;
}

std::pair<double, double> DicomImageView::defaultWindow(const io::ImageVolume& v) {
    if (v.meta.windowCenter && v.meta.windowWidth && *v.meta.windowWidth > 0)
        return {*v.meta.windowCenter, *v.meta.windowWidth};
    if (v.values.empty()) return {0.5, 1};
    const auto [lo, hi] = std::minmax_element(v.values.begin(), v.values.end());
    const double a = *lo, b = std::max(double(*hi), a + 1);
    return {(a + b) / 2, b - a};
}

QImage DicomImageView::renderedFrame() const {
    if (cacheValid_) return cache_;
    cache_ = volume_ && frameCount() > 0 ? renderFrame(*volume_, frame_, center_, width_) : QImage();
    cacheValid_ = true;
    return cache_;
}

QRect DicomImageView::imageRect() const {
    if (!volume_ || volume_->rows == 0) return {};
    // Keep the physical aspect ratio (pixel spacing: row step over column step).
    const double aspect =
        double(volume_->columns) * volume_->spacing[0] / (double(volume_->rows) * volume_->spacing[1]);
    const QRect area = rect().adjusted(4, 4, -4, -4);
    int w = area.width(), h = int(std::lround(w / aspect));
    if (h > area.height()) {
        h = area.height();
        w = int(std::lround(h * aspect));
    }
    return QRect(area.left() + (area.width() - w) / 2, area.top() + (area.height() - h) / 2, w, h);
}

void DicomImageView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), Qt::black);
    const QImage img = renderedFrame();
    QFont small = font();
    small.setPointSizeF(std::max(8.0, font().pointSizeF() * 0.95));
    p.setFont(small);
    if (img.isNull()) {
        p.setPen(QColor(150, 150, 150));
        p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap,
                   message_.isEmpty() ? tr("Select a series or an image in the tree") : message_);
        return;
    }
    p.setRenderHint(QPainter::SmoothPixmapTransform, true);
    p.drawImage(imageRect(), img);

    // Overlay: caption top left, window bottom left, frame bottom right (as on a workstation).
    const auto& m = volume_->meta;
    auto shadowText = [&](const QRect& r, int flags, const QString& text) {
        p.setPen(QColor(0, 0, 0, 200));
        p.drawText(r.translated(1, 1), flags, text);
        p.setPen(QColor(255, 214, 102));
        p.drawText(r, flags, text);
    };
    const QRect box = rect().adjusted(10, 8, -10, -8);
    QString top = caption_;
    const QString dims = QString("%1 × %2").arg(volume_->columns).arg(volume_->rows);
    top += (top.isEmpty() ? "" : "\n") + QString::fromStdString(m.modality) + (m.modality.empty() ? "" : "  ") + dims;
    if (m.invertForDisplay) top += "  MONOCHROME1 (inverted)";
    shadowText(box, Qt::AlignLeft | Qt::AlignTop, top);
    const QString unit = isHounsfield(*volume_) ? " HU" : "";
    shadowText(box, Qt::AlignLeft | Qt::AlignBottom, windowText(width_, center_) + unit);
    if (frameCount() > 1) {
        const QString what = volume_->isVolume ? tr("Slice") : tr("Frame");
        QString right = tr("%1 %2 / %3").arg(what).arg(frame_ + 1).arg(frameCount());
        if (!volume_->isVolume) right += tr("\n%1 fps").arg(fps_, 0, 'f', 1);
        shadowText(box, Qt::AlignRight | Qt::AlignBottom, right);
    }
}

void DicomImageView::mousePressEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton && volume_) {
        dragFrom_ = event->position().toPoint();
        dragCenter_ = center_;
        dragWidth_ = width_;
        setCursor(Qt::SizeAllCursor);
    }
}

void DicomImageView::mouseMoveEvent(QMouseEvent* event) {
    if (!dragFrom_) return;
    const QPoint d = event->position().toPoint() - *dragFrom_;
    const double s = dragSensitivity();
    // Right = wider (less contrast), down = higher centre (darker), as on most workstations.
    setWindow(dragCenter_ + d.y() * s, std::max(1.0, dragWidth_ + d.x() * s));
}

void DicomImageView::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton && dragFrom_) {
        mouseMoveEvent(event);
        dragFrom_.reset();
        setCursor(Qt::CrossCursor);
    }
}

void DicomImageView::mouseDoubleClickEvent(QMouseEvent*) { resetWindow(); }

void DicomImageView::wheelEvent(QWheelEvent* event) {
    // The wheel steps through frames / slices.
    const int steps = event->angleDelta().y() / 120;
    if (steps != 0) setFrame(frame_ - steps);
    event->accept();
}

}  // namespace lumen::widgets
