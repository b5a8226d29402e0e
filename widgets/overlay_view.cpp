#include "overlay_view.h"

#include "color_bar.h"
#include "dicom_image_view.h"

#include "util/atomic_file.h"

#include <QCheckBox>
#include <QComboBox>
#include "file_dialogs.h"
#include <QHBoxLayout>
#include <QLabel>
#include <QMessageBox>
#include <QMouseEvent>
#include <QFontMetrics>
#include <QPainter>
#include <QPen>
#include <QSlider>
#include <QToolButton>
#include <QVBoxLayout>
#include <QWheelEvent>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace lumen::widgets {
namespace {

double clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

QRgb rgbOf(double r, double g, double b) {
    return qRgb(int(std::lround(clamp01(r) * 255)), int(std::lround(clamp01(g) * 255)),
                int(std::lround(clamp01(b) * 255)));
}

// Sixth-degree polynomial fits of matplotlib's maps (Matt Zucker, public domain): c0..c6 per channel.
using Poly = std::array<std::array<double, 3>, 7>;
constexpr Poly kViridis{{{0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
                         {0.1050930431085774, 1.404613529898575, 1.384590162594685},
                         {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
                         {-4.634230498983486, -5.799100973351585, -19.33244095627987},
                         {6.228269936347081, 14.17993336680509, 56.69055260068105},
                         {4.776384997670288, -13.74514537774601, -65.35303263337234},
                         {-5.435455855934631, 4.645852612178535, 26.3124352495832}}};
constexpr Poly kInferno{{{0.0002189403691192265, 0.001651004631001012, -0.01948089843709184},
                         {0.1065134194856116, 0.5639564367884091, 3.932712388889277},
                         {11.60249308247187, -3.972853965665698, -15.9423941062914},
                         {-41.70399613139459, 17.43639888205313, 44.35414519872813},
                         {77.162935699427, -33.40235894210092, -81.80730925738993},
                         {-71.31942824499214, 32.62606426397723, 73.20951985803202},
                         {25.13112622477341, -12.24266895238567, -23.07032500287172}}};

QRgb polyColor(const Poly& c, double t) {
    std::array<double, 3> v{};
    for (int k = 0; k < 3; ++k) {
        double acc = c[6][k];
        for (int i = 5; i >= 0; --i) acc = c[i][k] + t * acc;
        v[k] = acc;
    }
    return rgbOf(v[0], v[1], v[2]);
}

const std::array<QRgb, 256>& lut(Colormap map) {
    static const auto make = [](Colormap m) {
        std::array<QRgb, 256> l{};
        for (int i = 0; i < 256; ++i) l[i] = colormapColor(m, i / 255.0);
        return l;
    };
    static const std::array<std::array<QRgb, 256>, 4> all{make(Colormap::Jet), make(Colormap::Turbo),
                                                          make(Colormap::Inferno), make(Colormap::Viridis)};
    return all[static_cast<int>(map)];
}

// a256 = opacity × 256, rounded: integer blending keeps a slider drag on a large image smooth.
QRgb blend(QRgb base, QRgb over, int a256) {
    const auto mix = [a256](int b, int o) { return (b * (256 - a256) + o * a256 + 128) >> 8; };
    return qRgb(mix(qRed(base), qRed(over)), mix(qGreen(base), qGreen(over)), mix(qBlue(base), qBlue(over)));
}
int alpha256(double a) { return int(std::lround(std::clamp(a, 0.0, 1.0) * 256)); }

}  // namespace

QRgb colormapColor(Colormap map, double t) {
    t = clamp01(t);
    switch (map) {
    case Colormap::Jet: return rgbOf(1.5 - std::abs(4 * t - 3), 1.5 - std::abs(4 * t - 2), 1.5 - std::abs(4 * t - 1));
    case Colormap::Turbo: {
        // Anton Mikhailov's polynomial approximation of Turbo (Google, Apache-2.0).
        const double r =
            0.13572138 +
            t * (4.61539260 + t * (-42.66032258 + t * (132.13108234 + t * (-152.94239396 + t * 59.28637943))));
        const double g =
            0.09140261 + t * (2.19418839 + t * (4.84296658 + t * (-14.18503333 + t * (4.27729857 + t * 2.82956604))));
        const double b =
            0.10667330 +
            t * (12.64194608 + t * (-60.58204836 + t * (110.36276771 + t * (-89.90310912 + t * 27.34824973))));
        return rgbOf(r, g, b);
    }
    case Colormap::Inferno: return polyColor(kInferno, t);
    case Colormap::Viridis: return polyColor(kViridis, t);
    }
    return 0;
}

QString colormapName(Colormap map) {
    switch (map) {
    case Colormap::Jet: return "jet";
    case Colormap::Turbo: return "turbo";
    case Colormap::Inferno: return "inferno";
    case Colormap::Viridis: return "viridis";
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
OverlayView::OverlayView(QWidget* parent) : QWidget(parent), canvas_(new OverlayCanvas(this)) {
    setObjectName("overlayView");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);

    auto* bar = new QHBoxLayout;
    heatmapBox_ = new QCheckBox(tr("Heatmap"));
    heatmapBox_->setObjectName("overlayHeatmap");
    colormapBox_ = new QComboBox;
    colormapBox_->setObjectName("overlayColormap");
    for (auto m : {Colormap::Jet, Colormap::Turbo, Colormap::Inferno, Colormap::Viridis})
        colormapBox_->addItem(colormapName(m), static_cast<int>(m));
    auto makeSlider = [](const char* name, const QString& tip) {
        auto* s = new QSlider(Qt::Horizontal);
        s->setObjectName(name);
        s->setRange(0, 100);
        s->setMinimumWidth(60);
        s->setMaximumWidth(110);
        s->setToolTip(tip);
        return s;
    };
    opacitySlider_ = makeSlider("overlayOpacity", tr("Heatmap opacity"));
    thresholdSlider_ = makeSlider("overlayThreshold", tr("Heatmap values below this are transparent"));
    maskBox_ = new QCheckBox(tr("Mask"));
    maskBox_->setObjectName("overlayMask");
    maskStyleBox_ = new QComboBox;
    maskStyleBox_->setObjectName("overlayMaskStyle");
    maskStyleBox_->addItem(tr("outline"), static_cast<int>(MaskStyle::Outline));
    maskStyleBox_->addItem(tr("fill"), static_cast<int>(MaskStyle::Fill));
    cropDropBox_ = new QCheckBox(tr("Crop | drop"));
    cropDropBox_->setObjectName("overlayCropDrop");
    cropDropBox_->setToolTip(tr("Show image × mask (crop) and image × (1 − mask) (drop) beside the image"));
    boxesBox_ = buildBoxesBox();
    auto* resetButton = new QToolButton;
    resetButton->setText(tr("Reset view"));
    resetButton->setToolTip(tr("Fit the image and restore the window/level (also: double-click)"));
    auto* exportButton = new QToolButton;
    exportButton->setObjectName("overlayExport");
    exportButton->setText(tr("Export PNG…"));
    bar->addWidget(heatmapBox_);
    bar->addWidget(colormapBox_);
    opacityValue_ = new QLabel;
    opacityValue_->setObjectName("overlayOpacityValue");
    thresholdValue_ = new QLabel;
    thresholdValue_->setObjectName("overlayThresholdValue");
    thresholdValue_->setToolTip(tr("Heatmap values (normalised to 0–1 per image) below this are not drawn"));
    for (QLabel* value : {opacityValue_, thresholdValue_})
        value->setMinimumWidth(value->fontMetrics().horizontalAdvance("100 %"));
    bar->addWidget(new QLabel(tr("opacity")));
    bar->addWidget(opacitySlider_);
    bar->addWidget(opacityValue_);
    bar->addWidget(new QLabel(tr("threshold")));
    bar->addWidget(thresholdSlider_);
    bar->addWidget(thresholdValue_);
    bar->addStretch(1);
    layout->addLayout(bar);
    // The mask and view controls on a second row: one row of everything was ~1,000 px wide,
    // more than the Study page has beside its table on a 1366-px screen.
    auto* second = new QHBoxLayout;
    second->addWidget(maskBox_);
    second->addWidget(maskStyleBox_);
    second->addWidget(cropDropBox_);
    second->addWidget(boxesBox_);
    second->addStretch(1);
    second->addWidget(resetButton);
    second->addWidget(exportButton);
    layout->addLayout(second);
    layout->addWidget(canvas_, 1);

    layout->addLayout(buildFrameBar());

    connect(heatmapBox_, &QCheckBox::toggled, this, &OverlayView::setHeatmapVisible);
    connect(colormapBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (!syncing_) setColormap(static_cast<Colormap>(colormapBox_->itemData(i).toInt()));
    });
    connect(opacitySlider_, &QSlider::valueChanged, this, [this](int v) {
        if (!syncing_) setOpacity(v / 100.0);
    });
    connect(thresholdSlider_, &QSlider::valueChanged, this, [this](int v) {
        if (!syncing_) setThreshold(v / 100.0);
    });
    connect(maskBox_, &QCheckBox::toggled, this, &OverlayView::setMaskVisible);
    connect(maskStyleBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (!syncing_) setMaskStyle(static_cast<MaskStyle>(maskStyleBox_->itemData(i).toInt()));
    });
    connect(cropDropBox_, &QCheckBox::toggled, this, &OverlayView::setCropDropVisible);
    connect(frameSlider_, &QSlider::valueChanged, this, &OverlayView::setFrame);
    connect(resetButton, &QToolButton::clicked, this, [this] {
        resetWindow();
        resetView();
    });
    connect(exportButton, &QToolButton::clicked, this, [this] {
        const QString file = saveFileDialog(this, tr("Export view"), "overlay.png", tr("PNG image (*.png)"));
        if (file.isEmpty()) return;
        QString error;
        if (!exportPng(file, &error)) QMessageBox::warning(this, tr("Export"), error);
    });
    syncControls();
}

// Frame / slice slider (shown for cines and volumes) and the window read-out.
QLayout* OverlayView::buildFrameBar() {
    auto* frames = new QHBoxLayout;
    frameLabel_ = new QLabel;
    frameSlider_ = new QSlider(Qt::Horizontal);
    frameSlider_->setObjectName("overlayFrame");
    windowLabel_ = new QLabel;
    windowLabel_->setObjectName("overlayWindowLabel");
    frames->addWidget(frameLabel_);
    frames->addWidget(frameSlider_, 1);
    frames->addWidget(windowLabel_);
    return frames;
}

OverlayView::~OverlayView() = default;

void OverlayView::setVolume(std::shared_ptr<const io::ImageVolume> volume, const QString& caption) {
    volume_ = std::move(volume);
    caption_ = caption;
    message_.clear();
    frame_ = 0;
    minValue_ = 0;
    maxValue_ = 255;
    if (volume_ && !volume_->values.empty()) {
        const auto [lo, hi] = std::minmax_element(volume_->values.begin(), volume_->values.end());
        minValue_ = *lo;
        maxValue_ = std::max(double(*hi), double(*lo) + 1);
    }
    maskCacheValid_ = false;
    heatCacheFrame_ = -1;
    baseValid_ = false;
    resetWindow();
    canvas_->resetView();
    syncControls();
    invalidate();
    emit frameChanged(frame_);
}

void OverlayView::setImage(const QImage& image, const QString& caption) {
    if (image.isNull()) {
        clear();
        return;
    }
    auto v = std::make_shared<io::ImageVolume>();
    const bool grey = image.isGrayscale();
    const QImage src = image.convertToFormat(grey ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
    v->rows = src.height();
    v->columns = src.width();
    v->samples = grey ? 1 : 3;
    v->values.resize(v->elementCount());
    const int rowValues = v->columns * v->samples;
    for (int r = 0; r < v->rows; ++r) {
        const uchar* line = src.constScanLine(r);
        std::transform(line, line + rowValues, v->values.begin() + std::ptrdiff_t(r) * rowValues,
                       [](uchar c) { return float(c); });
    }
    v->meta.format = "image";
    v->meta.windowCenter = 127.5;
    v->meta.windowWidth = 255;
    setVolume(std::move(v), caption);
}

void OverlayView::clear(const QString& message) {
    volume_.reset();
    caption_.clear();
    message_ = message;
    frame_ = 0;
    baseValid_ = false;
    clearHeatmap();
    clearMask();
    syncControls();
    invalidate();
}

QString OverlayView::frameLabelText() const { return frameLabel_->text(); }

QSize OverlayView::imageSize() const { return volume_ ? QSize(volume_->columns, volume_->rows) : QSize(); }

int OverlayView::frameCount() const { return volume_ ? volume_->time * volume_->depth : 0; }

void OverlayView::setFrame(int frame) {
    const int n = frameCount();
    if (n == 0) return;
    frame = std::clamp(frame, 0, n - 1);
    if (frame == frame_) return;
    frame_ = frame;
    baseValid_ = false;
    syncControls();
    invalidate();
    emit frameChanged(frame_);
}

void OverlayView::setHeatmap(std::vector<std::size_t> shape, std::vector<float> values) {
    std::size_t n = shape.empty() ? 0 : 1;
    for (auto s : shape) n *= s;
    if ((shape.size() != 2 && shape.size() != 3) || n == 0 || n != values.size()) {
        clearHeatmap();
        return;
    }
    heatShape_ = std::move(shape);
    heatValues_ = std::move(values);
    heatCacheFrame_ = -1;
    syncControls();
    invalidate();
}

void OverlayView::clearHeatmap() {
    heatShape_.clear();
    heatValues_.clear();
    heatCache_.clear();
    heatCacheFrame_ = -1;
    syncControls();
    invalidate();
}

void OverlayView::setMask(const QImage& mask) {
    mask_ = mask.isNull() ? QImage() : mask.convertToFormat(QImage::Format_Grayscale8);
    maskCacheValid_ = false;
    syncControls();
    invalidate();
}

void OverlayView::clearMask() { setMask(QImage()); }

QCheckBox* OverlayView::buildBoxesBox() {
    auto* box = new QCheckBox(tr("Boxes"));
    box->setObjectName("overlayBoxes");
    box->setToolTip(tr("Annotated boxes of this image (bright: the label shown)"));
    connect(box, &QCheckBox::toggled, this, &OverlayView::setBoxesVisible);
    return box;
}

void OverlayView::setBoxes(std::vector<OverlayBox> boxes) {
    boxes_ = std::move(boxes);
    syncControls();
    invalidate();
}
void OverlayView::setBoxesVisible(bool on) { changeLayer(&OverlayLayers::boxes, on); }

// Outlines with a dark halo (readable on bright and dark images) and the caption above the
// box (inside when there is no room), at image resolution.
void OverlayView::drawBoxes(QImage& img) const {
    if (!layers_.boxes || boxes_.empty()) return;
    QPainter p(&img);
    p.setRenderHint(QPainter::Antialiasing);
    const double w = std::max(1.0, img.width() / 256.0);
    QFont f = p.font();
    f.setPixelSize(std::max(9, img.height() / 28));
    p.setFont(f);
    const QFontMetrics fm(f);
    for (int pass = 0; pass < 2; ++pass)  // dim ones first, so the current label's lie on top
        for (const auto& b : boxes_) {
            if (b.current != (pass == 1)) continue;
            const QColor color = b.current ? QColor(0, 230, 118) : QColor(255, 196, 0, 200);
            const QRectF r = b.rect.adjusted(w / 2, w / 2, -w / 2, -w / 2);  // the line on the box's outer pixels
            p.setPen(QPen(QColor(0, 0, 0, 160), 3 * w));
            p.setBrush(Qt::NoBrush);
            p.drawRect(r);
            p.setPen(QPen(color, w, b.current ? Qt::SolidLine : Qt::DashLine));
            p.drawRect(r);
            if (b.text.isEmpty()) continue;
            const double ty = b.rect.top() - fm.descent() - w >= fm.ascent() ? b.rect.top() - fm.descent() - w
                                                                             : b.rect.top() + fm.ascent() + w;
            const QPointF at(b.rect.left() + w, ty);
            p.setPen(QColor(0, 0, 0, 220));
            p.drawText(at + QPointF(1, 1), b.text);
            p.setPen(color);
            p.drawText(at, b.text);
        }
}

void OverlayView::setLayers(const OverlayLayers& layers) {
    layers_ = layers;
    layers_.opacity = clamp01(layers_.opacity);
    layers_.threshold = clamp01(layers_.threshold);
    syncControls();
    invalidate();
    emit layersChanged();
}

// One layer field changed by a control or the API; a no-op when it already has the value.
// Check boxes call these from their toggled signal while syncControls() sets them: skipped.
template <class T>
bool OverlayView::changeLayer(T OverlayLayers::*field, T value) {
    if (syncing_ || layers_.*field == value) return false;
    auto l = layers_;
    l.*field = value;
    setLayers(l);
    return true;
}

void OverlayView::setHeatmapVisible(bool on) { changeLayer(&OverlayLayers::heatmap, on); }
void OverlayView::setColormap(Colormap map) { changeLayer(&OverlayLayers::colormap, map); }
void OverlayView::setOpacity(double opacity) { changeLayer(&OverlayLayers::opacity, clamp01(opacity)); }
void OverlayView::setThreshold(double threshold) { changeLayer(&OverlayLayers::threshold, clamp01(threshold)); }
void OverlayView::setMaskVisible(bool on) { changeLayer(&OverlayLayers::mask, on); }
void OverlayView::setMaskStyle(MaskStyle style) { changeLayer(&OverlayLayers::maskStyle, style); }
void OverlayView::setCropDropVisible(bool on) {
    if (changeLayer(&OverlayLayers::cropDrop, on)) canvas_->resetView();  // the composed image changed shape
}

void OverlayView::setWindow(double center, double width) {
    width = std::max(width, 1e-3);
    if (center == center_ && width == width_) return;
    center_ = center;
    width_ = width;
    baseValid_ = false;
    windowLabel_->setText(DicomImageView::windowText(width_, center_));
    invalidate();
    emit windowChanged(center_, width_);
}

void OverlayView::resetWindow() {
    if (!volume_) return;
    const auto [c, w] = DicomImageView::defaultWindow(*volume_);
    setWindow(c, w);
}

double OverlayView::zoom() const { return canvas_->zoom(); }
QPointF OverlayView::pan() const { return canvas_->pan(); }
void OverlayView::setZoom(double zoom) { canvas_->setZoom(zoom); }
void OverlayView::resetView() { canvas_->resetView(); }

void OverlayView::syncControls() {
    syncing_ = true;
    heatmapBox_->setChecked(layers_.heatmap);
    heatmapBox_->setEnabled(hasHeatmap());
    colormapBox_->setCurrentIndex(colormapBox_->findData(static_cast<int>(layers_.colormap)));
    opacitySlider_->setValue(int(std::lround(layers_.opacity * 100)));
    thresholdSlider_->setValue(int(std::lround(layers_.threshold * 100)));
    opacityValue_->setText(QString("%1 %").arg(std::lround(layers_.opacity * 100)));
    thresholdValue_->setText(QString::number(layers_.threshold, 'f', 2));
    for (QWidget* w : std::initializer_list<QWidget*>{colormapBox_, opacitySlider_, thresholdSlider_, opacityValue_,
                                                      thresholdValue_})
        w->setEnabled(hasHeatmap() && layers_.heatmap);
    maskBox_->setChecked(layers_.mask);
    maskBox_->setEnabled(hasMask());
    maskStyleBox_->setCurrentIndex(maskStyleBox_->findData(static_cast<int>(layers_.maskStyle)));
    maskStyleBox_->setEnabled(hasMask() && layers_.mask);
    cropDropBox_->setChecked(layers_.cropDrop);
    cropDropBox_->setEnabled(hasMask());
    boxesBox_->setChecked(layers_.boxes);
    boxesBox_->setEnabled(!boxes_.empty());
    const int n = frameCount();
    frameSlider_->setRange(0, std::max(0, n - 1));
    frameSlider_->setValue(frame_);
    frameSlider_->setVisible(n > 1);
    frameLabel_->setVisible(n > 1);
    if (n > 1)
        frameLabel_->setText((volume_->isVolume ? tr("Slice %1 / %2") : tr("Frame %1 / %2")).arg(frame_ + 1).arg(n));
    syncing_ = false;
}

void OverlayView::invalidate() {
    composedValid_ = false;
    canvas_->update();
}

const std::vector<float>& OverlayView::heatAtImage() const {
    static const std::vector<float> none;
    if (!volume_ || heatValues_.empty()) return none;
    if (heatCacheFrame_ == frame_) return heatCache_;
    const std::size_t W = std::size_t(volume_->columns), H = std::size_t(volume_->rows);
    const std::size_t d = heatShape_.size() == 3 ? heatShape_[0] : 1;
    const std::size_t h = heatShape_[heatShape_.size() - 2], w = heatShape_.back();
    // A 3-D map follows the frame: slice z covers frames [z·n/d, (z+1)·n/d).
    const std::size_t n = std::size_t(std::max(1, frameCount()));
    const std::size_t z = std::min(d - 1, (std::size_t(frame_) * d + d / 2) / n);
    const float* src = heatValues_.data() + z * h * w;
    heatCache_.assign(W * H, 0.f);
    if (h == H && w == W) {
        std::copy(src, src + W * H, heatCache_.begin());
    } else {
        // Bilinear with half-pixel centres (align_corners=False, as torch's interpolate).
        const auto coord = [](std::size_t i, std::size_t from, std::size_t to, std::size_t& i0, std::size_t& i1,
                              float& f) {
            const double s = std::max(0.0, (double(i) + 0.5) * double(from) / double(to) - 0.5);
            i0 = std::min(std::size_t(s), from - 1);
            i1 = std::min(i0 + 1, from - 1);
            f = float(s - double(i0));
        };
        std::vector<std::size_t> x0(W), x1(W);
        std::vector<float> fx(W);
        for (std::size_t x = 0; x < W; ++x) coord(x, w, W, x0[x], x1[x], fx[x]);
        for (std::size_t y = 0; y < H; ++y) {
            std::size_t y0, y1;
            float fy;
            coord(y, h, H, y0, y1, fy);
            const float* r0 = src + y0 * w;
            const float* r1 = src + y1 * w;
            float* out = heatCache_.data() + y * W;
            for (std::size_t x = 0; x < W; ++x) {
                const float top = r0[x0[x]] + (r0[x1[x]] - r0[x0[x]]) * fx[x];
                const float bottom = r1[x0[x]] + (r1[x1[x]] - r1[x0[x]]) * fx[x];
                out[x] = top + (bottom - top) * fy;
            }
        }
    }
    heatCacheFrame_ = frame_;
    return heatCache_;
}

const std::vector<std::uint8_t>& OverlayView::maskAtImage() const {
    static const std::vector<std::uint8_t> none;
    if (!volume_ || mask_.isNull()) return none;
    if (maskCacheValid_) return maskCache_;
    const int W = volume_->columns, H = volume_->rows, mw = mask_.width(), mh = mask_.height();
    maskCache_.assign(std::size_t(W) * std::size_t(H), 0);
    for (int y = 0; y < H; ++y) {
        const uchar* line = mask_.constScanLine(std::min(mh - 1, int((y + 0.5) * mh / H)));
        for (int x = 0; x < W; ++x)
            maskCache_[std::size_t(y) * std::size_t(W) + std::size_t(x)] =
                line[std::min(mw - 1, int((x + 0.5) * mw / W))] >= 128;
    }
    // Outline = inside minus the mask eroded by a (2t+1)² square, t ≈ 1 px per 256 px of image;
    // outside the image counts as outside, so a mask touching the border is closed. Separable,
    // with running counts: linear in the pixels whatever t is.
    const int t = std::max(1, int(std::lround(std::max(W, H) / 256.0)));
    const std::size_t w = std::size_t(W);
    std::vector<std::uint8_t> rows(maskCache_.size());
    for (int y = 0; y < H; ++y) {
        const std::uint8_t* m = maskCache_.data() + std::size_t(y) * w;
        int count = 0;  // inside pixels in [x - t, x + t]
        for (int k = 0; k <= std::min(t, W - 1); ++k) count += m[k];
        for (int x = 0; x < W; ++x) {
            rows[std::size_t(y) * w + std::size_t(x)] = count == 2 * t + 1;
            if (x + t + 1 < W) count += m[x + t + 1];
            if (x - t >= 0) count -= m[x - t];
        }
    }
    outlineCache_.assign(maskCache_.size(), 0);
    for (int x = 0; x < W; ++x) {
        int count = 0;
        for (int k = 0; k <= std::min(t, H - 1); ++k) count += rows[std::size_t(k) * w + std::size_t(x)];
        for (int y = 0; y < H; ++y) {
            const std::size_t i = std::size_t(y) * w + std::size_t(x);
            outlineCache_[i] = maskCache_[i] && count != 2 * t + 1;
            if (y + t + 1 < H) count += rows[std::size_t(y + t + 1) * w + std::size_t(x)];
            if (y - t >= 0) count -= rows[std::size_t(y - t) * w + std::size_t(x)];
        }
    }
    maskCacheValid_ = true;
    return maskCache_;
}

QImage OverlayView::composedImage() const {
    if (composedValid_) return composed_;
    composedValid_ = true;
    composed_ = QImage();
    if (!volume_ || frameCount() == 0) return composed_;
    if (!baseValid_) {
        base_ = DicomImageView::renderFrame(*volume_, frame_, center_, width_).convertToFormat(QImage::Format_RGB32);
        baseValid_ = true;
    }
    const QImage& base = base_;
    if (base.isNull()) return composed_;
    const int W = base.width(), H = base.height();
    QImage img = base.copy();

    const auto& heat = heatAtImage();
    if (layers_.heatmap && !heat.empty() && layers_.opacity > 0) {
        const auto& colors = lut(layers_.colormap);
        const float thr = float(layers_.threshold);
        const int a256 = alpha256(layers_.opacity);
        for (int y = 0; y < H; ++y) {
            auto* line = reinterpret_cast<QRgb*>(img.scanLine(y));
            const float* v = heat.data() + std::size_t(y) * std::size_t(W);
            for (int x = 0; x < W; ++x) {
                if (!(v[x] >= thr)) continue;  // below the threshold (or NaN): transparent
                const QRgb c = colors[std::size_t(std::lround(std::clamp(v[x], 0.f, 1.f) * 255))];
                line[x] = blend(line[x], c, a256);
            }
        }
    }

    drawBoxes(img);  // under the mask's outline
    const auto& mask = maskAtImage();
    if (layers_.mask && !mask.empty()) {
        const QRgb color = layers_.maskColor.rgb();
        if (layers_.maskStyle == MaskStyle::Fill) {
            for (int y = 0; y < H; ++y) {
                auto* line = reinterpret_cast<QRgb*>(img.scanLine(y));
                for (int x = 0; x < W; ++x)
                    if (mask[std::size_t(y) * std::size_t(W) + std::size_t(x)])
                        line[x] = blend(line[x], color, alpha256(0.35));
            }
        } else {
            const auto& outline = outlineCache_;
            for (int y = 0; y < H; ++y) {
                auto* line = reinterpret_cast<QRgb*>(img.scanLine(y));
                for (int x = 0; x < W; ++x) {
                    const std::size_t i = std::size_t(y) * std::size_t(W) + std::size_t(x);
                    if (outline[i]) line[x] = color;
                }
            }
        }
    }

    if (!(layers_.cropDrop && !mask.empty())) {
        composed_ = img;
        return composed_;
    }
    // Crop (image × mask) and drop (image × (1 − mask)) of the windowed image, without overlays.
    const int gap = std::max(4, W / 40);
    QImage all(3 * W + 2 * gap, H, QImage::Format_RGB32);
    all.fill(QColor(45, 45, 45));
    QImage crop = base.copy(), drop = base.copy();
    for (int y = 0; y < H; ++y) {
        auto* c = reinterpret_cast<QRgb*>(crop.scanLine(y));
        auto* d = reinterpret_cast<QRgb*>(drop.scanLine(y));
        for (int x = 0; x < W; ++x) (mask[std::size_t(y) * std::size_t(W) + std::size_t(x)] ? d : c)[x] = qRgb(0, 0, 0);
    }
    QPainter p(&all);
    p.drawImage(0, 0, img);
    p.drawImage(W + gap, 0, crop);
    p.drawImage(2 * (W + gap), 0, drop);
    QFont f = p.font();
    f.setPixelSize(std::max(9, H / 22));
    p.setFont(f);
    const int pad = std::max(3, H / 80);
    const QStringList names{tr("image"), tr("crop = image × mask"), tr("drop = image × (1 − mask)")};
    for (int i = 0; i < 3; ++i) {
        const QRect r(i * (W + gap) + pad, pad, W - 2 * pad, H - 2 * pad);
        p.setPen(QColor(0, 0, 0, 220));
        p.drawText(r.translated(1, 1), Qt::AlignLeft | Qt::AlignBottom, names[i]);
        p.setPen(QColor(255, 214, 102));
        p.drawText(r, Qt::AlignLeft | Qt::AlignBottom, names[i]);
    }
    p.end();
    composed_ = all;
    return composed_;
}

QImage OverlayView::colorBar(int height) const {
    const Colormap map = layers_.colormap;
    return colorBarImage([map](double t) { return colormapColor(map, t); }, layers_.threshold, height, font());
}

bool OverlayView::exportPng(const QString& file, QString* error) const {
    QImage img = composedImage();
    if (img.isNull()) {
        if (error) *error = tr("%1: nothing to export (no image shown)").arg(file);
        return false;
    }
    if (colorBarShown()) {  // the values the colours stand for travel with the picture
        const QImage bar = colorBar(img.height());
        QImage withBar(img.width() + bar.width(), std::max(img.height(), bar.height()), QImage::Format_RGB32);
        withBar.fill(Qt::black);
        QPainter p(&withBar);
        p.drawImage(0, 0, img);
        p.drawImage(img.width(), 0, bar);
        p.end();
        img = withBar;
    }
    try {
        util::writeFileAtomically(file.toStdString(), [&](const std::filesystem::path& tmp) {
            if (!img.save(QString::fromStdString(tmp.string()), "PNG"))
                throw std::runtime_error(file.toStdString() + ": could not write the PNG");
        });
    } catch (const std::exception& e) {
        if (error) *error = QString::fromUtf8(e.what());
        return false;
    }
    return true;
}

QPointF OverlayView::canvasPosOf(double x, double y) const {
    const QRectF r = canvas_->imageRect();
    const QImage img = composedImage();
    if (img.isNull()) return {};
    const double s = r.width() / img.width();
    return QPointF(r.left() + (x + 0.5) * s, r.top() + (y + 0.5) * s);
}

// ---------------------------------------------------------------------------------------------
OverlayCanvas::OverlayCanvas(OverlayView* view) : QWidget(view), view_(view) {
    setObjectName("overlayCanvas");
    setMinimumSize(240, 200);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setCursor(Qt::CrossCursor);
    setFocusPolicy(Qt::ClickFocus);
}

QRectF OverlayCanvas::imageRect() const {
    const QImage img = view_->composedImage();
    if (img.isNull()) return {};
    const QRectF area = QRectF(rect()).adjusted(4, 4, -4, -4);
    const double fit = std::min(area.width() / img.width(), area.height() / img.height());
    const double s = fit * zoom_;
    const QSizeF size(img.width() * s, img.height() * s);
    return QRectF(area.center() - QPointF(size.width() / 2, size.height() / 2) + pan_, size);
}

void OverlayCanvas::setZoom(double zoom, std::optional<QPointF> anchor) {
    zoom = std::clamp(zoom, 0.25, 64.0);
    const QRectF before = imageRect();
    if (before.isEmpty()) {
        zoom_ = zoom;
        update();
        return;
    }
    const QPointF a = anchor.value_or(QRectF(rect()).center());
    // Keep the image point under the anchor where it is.
    const QPointF rel((a.x() - before.left()) / before.width(), (a.y() - before.top()) / before.height());
    zoom_ = zoom;
    const QRectF after = imageRect();
    pan_ += a - QPointF(after.left() + rel.x() * after.width(), after.top() + rel.y() * after.height());
    update();
}

void OverlayCanvas::resetView() {
    zoom_ = 1.0;
    pan_ = {};
    update();
}

void OverlayCanvas::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), Qt::black);
    const QImage img = view_->composedImage();
    if (img.isNull()) {
        p.setPen(QColor(150, 150, 150));
        p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap,
                   view_->message_.isEmpty() ? tr("No image") : view_->message_);
        return;
    }
    const QRectF r = imageRect();
    // Smooth when shrinking; pixels stay pixels when magnified (a radiologist wants to see them).
    p.setRenderHint(QPainter::SmoothPixmapTransform, r.width() < img.width());
    p.drawImage(r, img);
    const QRect box = rect().adjusted(10, 8, -10, -8);
    auto shadowText = [&](int flags, const QString& text) {
        p.setPen(QColor(0, 0, 0, 200));
        p.drawText(box.translated(1, 1), flags, text);
        p.setPen(QColor(255, 214, 102));
        p.drawText(box, flags, text);
    };
    if (!view_->caption_.isEmpty()) shadowText(Qt::AlignLeft | Qt::AlignTop, view_->caption_);
    if (std::abs(zoom_ - 1.0) > 1e-9) shadowText(Qt::AlignRight | Qt::AlignTop, tr("%1 %").arg(zoom_ * 100, 0, 'f', 0));
    if (view_->colorBarShown()) {
        const QImage bar = view_->colorBar(std::min(240, height() / 2));
        p.drawImage(QPoint(width() - bar.width() - 8, height() - bar.height() - 8), bar);
    }
}

void OverlayCanvas::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton && event->button() != Qt::RightButton) return;
    dragFrom_ = event->position();
    dragButton_ = event->button();
    panAtPress_ = pan_;
    centerAtPress_ = view_->windowCenter();
    widthAtPress_ = view_->windowWidth();
    setCursor(event->button() == Qt::LeftButton ? Qt::ClosedHandCursor : Qt::SizeAllCursor);
}

void OverlayCanvas::mouseMoveEvent(QMouseEvent* event) {
    if (!dragFrom_) return;
    const QPointF d = event->position() - *dragFrom_;
    if (dragButton_ == Qt::LeftButton) {
        pan_ = panAtPress_ + d;
        update();
    } else {
        // Right-drag: horizontal = width, vertical = centre, as in the DICOM view.
        const double s = std::max((view_->maxValue_ - view_->minValue_) / 512.0, 0.01);
        view_->setWindow(centerAtPress_ + d.y() * s, std::max(1.0, widthAtPress_ + d.x() * s));
    }
}

void OverlayCanvas::mouseReleaseEvent(QMouseEvent* event) {
    if (!dragFrom_ || event->button() != dragButton_) return;
    mouseMoveEvent(event);
    dragFrom_.reset();
    dragButton_ = Qt::NoButton;
    setCursor(Qt::CrossCursor);
}

void OverlayCanvas::mouseDoubleClickEvent(QMouseEvent*) {
    view_->resetWindow();
    resetView();
}

void OverlayCanvas::wheelEvent(QWheelEvent* event) {
    const double steps = event->angleDelta().y() / 120.0;
    if (steps != 0) setZoom(zoom_ * std::pow(1.25, steps), event->position());
    event->accept();
}

}  // namespace lumen::widgets
