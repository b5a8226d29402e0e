#pragma once
// An image with toggleable layers on top: a heatmap (Grad-CAM) through a colour map with an
// opacity and a threshold below which it is transparent, an ROI mask as outline or fill, and
// the crop (image × mask) and drop (image × (1 − mask)) images side by side. Zoom with the
// wheel, pan by left-drag, window/level by right-drag (double-click resets the view), frame /
// slice slider for cines and volumes, and PNG export of the composed view.

#include "io/image_volume.h"

#include <QColor>
#include <QImage>
#include <QPointF>
#include <QWidget>

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

class QCheckBox;
class QComboBox;
class QLabel;
class QLayout;
class QSlider;
class QToolButton;

namespace lumen::widgets {

enum class Colormap { Jet, Turbo, Inferno, Viridis };
enum class MaskStyle { Outline, Fill };

/// Colour of `t` in [0,1] (clamped) in the map: jet (MATLAB), turbo (Google's polynomial
/// fit), inferno and viridis (polynomial fits of matplotlib's maps, within ~5/255 of them).
QRgb colormapColor(Colormap map, double t);
QString colormapName(Colormap map);

/// What is drawn; every layer can be switched off.
struct OverlayLayers {
    bool heatmap = true;
    Colormap colormap = Colormap::Jet;
    double opacity = 0.45;   ///< 0..1
    double threshold = 0.2;  ///< heatmap values below are transparent (0..1)
    bool mask = true;
    MaskStyle maskStyle = MaskStyle::Outline;
    QColor maskColor = QColor(0, 255, 255);
    bool cropDrop = false;  ///< crop and drop panes beside the image (needs a mask)
    bool boxes = true;      ///< annotated boxes (setBoxes)
};

/// An annotated box in image pixels (x, y, w, h; pixel i covers [i, i + 1)) with its caption;
/// `current` boxes (the label shown) are drawn bright, the others dimmer.
struct OverlayBox {
    QRectF rect;
    QString text;
    bool current = true;
};

class OverlayCanvas;

class OverlayView : public QWidget {
    Q_OBJECT
public:
    explicit OverlayView(QWidget* parent = nullptr);
    ~OverlayView() override;

    /// Shows every frame / slice of `volume` (frame slider when there are several); resets
    /// the window to the file's (or the values' range) and the view to fit.
    void setVolume(std::shared_ptr<const io::ImageVolume> volume, const QString& caption = {});
    /// A plain image (grey or colour), values 0..255.
    void setImage(const QImage& image, const QString& caption = {});
    void clear(const QString& message = {});
    const io::ImageVolume* volume() const { return volume_.get(); }
    QSize imageSize() const;

    int frameCount() const;
    int frame() const { return frame_; }
    void setFrame(int frame);

    /// A heatmap with values in [0,1] on a (h,w) or (d,h,w) grid, row-major; a grid other than
    /// the image's is resampled bilinearly (half-pixel centres); a 3-D map follows the frame.
    void setHeatmap(std::vector<std::size_t> shape, std::vector<float> values);
    void clearHeatmap();
    bool hasHeatmap() const { return !heatValues_.empty(); }
    /// A mask: non-zero grey = inside; any size (resampled nearest to the image).
    void setMask(const QImage& mask);
    void clearMask();
    bool hasMask() const { return !mask_.isNull(); }

    /// Boxes drawn over the first pane (e.g. the study's annotated findings).
    void setBoxes(std::vector<OverlayBox> boxes);
    void clearBoxes() { setBoxes({}); }
    const std::vector<OverlayBox>& boxes() const { return boxes_; }
    void setBoxesVisible(bool on);

    const OverlayLayers& layers() const { return layers_; }
    void setLayers(const OverlayLayers& layers);  ///< also updates the controls
    void setHeatmapVisible(bool on);
    void setColormap(Colormap map);
    void setOpacity(double opacity);
    void setThreshold(double threshold);
    void setMaskVisible(bool on);
    void setMaskStyle(MaskStyle style);
    void setCropDropVisible(bool on);

    double windowCenter() const { return center_; }
    double windowWidth() const { return width_; }
    void setWindow(double center, double width);
    void resetWindow();

    double zoom() const;
    QPointF pan() const;
    void setZoom(double zoom);  ///< 1 = fit to the canvas
    void resetView();

    /// The composed view at image resolution: the image with its layers, then (when shown)
    /// the crop and drop panes to its right, separated by a dark gap.
    QImage composedImage() const;
    /// The heatmap's colour bar, `height` pixels tall: the colour map from 0 (bottom) to 1
    /// (top), values under the threshold greyed out, ticks at 0, the threshold and 1. Drawn at
    /// the canvas's right edge and beside exported views while the heatmap is shown.
    QImage colorBar(int height) const;
    bool colorBarShown() const { return hasHeatmap() && layers_.heatmap; }
    /// Writes composedImage() (with the colour bar to its right while the heatmap is shown) as
    /// PNG; false with `error` (naming the file) on failure.
    bool exportPng(const QString& file, QString* error = nullptr) const;

    OverlayCanvas* canvas() const { return canvas_; }
    /// Position in canvas() pixels of image pixel (x, y) of the first pane, at the current zoom/pan.
    QPointF canvasPosOf(double x, double y) const;

    QCheckBox* heatmapBox() const { return heatmapBox_; }
    QComboBox* colormapBox() const { return colormapBox_; }
    QSlider* opacitySlider() const { return opacitySlider_; }
    QSlider* thresholdSlider() const { return thresholdSlider_; }
    QCheckBox* maskBox() const { return maskBox_; }
    QComboBox* maskStyleBox() const { return maskStyleBox_; }
    QCheckBox* cropDropBox() const { return cropDropBox_; }
    QCheckBox* boxesBox() const { return boxesBox_; }
    QSlider* frameSlider() const { return frameSlider_; }
    QString frameLabelText() const;

    /// Heatmap (normalised to [0, 1]) of the current frame resampled to the image (empty when none).
    const std::vector<float>& heatAtImage() const;
    /// Mask resampled to the image: 1 inside.
    const std::vector<std::uint8_t>& maskAtImage() const;

signals:
    void frameChanged(int frame);
    void windowChanged(double center, double width);
    void layersChanged();

private:
    QLayout* buildFrameBar();
    QCheckBox* buildBoxesBox();
    friend class OverlayCanvas;
    void invalidate();
    void syncControls();

    std::shared_ptr<const io::ImageVolume> volume_;
    QString caption_, message_;
    int frame_ = 0;
    double center_ = 127.5, width_ = 255;
    double minValue_ = 0, maxValue_ = 255;
    std::vector<std::size_t> heatShape_;
    std::vector<float> heatValues_;
    QImage mask_;
    std::vector<OverlayBox> boxes_;
    void drawBoxes(QImage& img) const;
    template <class T>
    bool changeLayer(T OverlayLayers::*field, T value);
    OverlayLayers layers_;

    mutable QImage composed_;
    mutable bool composedValid_ = false;
    mutable std::vector<float> heatCache_;
    mutable int heatCacheFrame_ = -1;
    mutable std::vector<std::uint8_t> maskCache_;
    mutable std::vector<std::uint8_t> outlineCache_;  ///< outline pixels of maskCache_
    mutable QImage base_;                             ///< the windowed frame, before layers
    mutable bool baseValid_ = false;
    mutable bool maskCacheValid_ = false;

    OverlayCanvas* canvas_;
    QCheckBox* heatmapBox_;
    QComboBox* colormapBox_;
    QSlider* opacitySlider_;
    QSlider* thresholdSlider_;
    QCheckBox* maskBox_;
    QComboBox* maskStyleBox_;
    QCheckBox* cropDropBox_;
    QCheckBox* boxesBox_;
    QSlider* frameSlider_;
    QLabel* frameLabel_;
    QLabel* windowLabel_;
    QLabel* opacityValue_;
    QLabel* thresholdValue_;
    bool syncing_ = false;
};

/// The drawing surface of an OverlayView (zoom, pan, window/level by mouse).
class OverlayCanvas : public QWidget {
    Q_OBJECT
public:
    explicit OverlayCanvas(OverlayView* view);
    double zoom() const { return zoom_; }
    QPointF pan() const { return pan_; }
    void setZoom(double zoom, std::optional<QPointF> anchor = std::nullopt);
    void resetView();
    /// Where the composed image is drawn, in canvas pixels.
    QRectF imageRect() const;

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;

private:
    OverlayView* view_;
    double zoom_ = 1.0;
    QPointF pan_;
    std::optional<QPointF> dragFrom_;
    Qt::MouseButton dragButton_ = Qt::NoButton;
    QPointF panAtPress_;
    double centerAtPress_ = 0, widthAtPress_ = 0;
};

}  // namespace lumen::widgets
