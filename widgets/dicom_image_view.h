#pragma once
// A DICOM image viewer: one frame of an image, cine or slice stack at a time, with
// window/level by left-button drag (horizontal = width, vertical = centre), window presets,
// MONOCHROME1 shown inverted, and cine playback at the file's frame rate.

#include "io/image_volume.h"

#include <QImage>
#include <QPoint>
#include <QString>
#include <QWidget>

#include <memory>
#include <optional>

class QTimer;

namespace lumen::widgets {

struct WindowPreset {
    QString name;
    double center = 0, width = 0;
};

class DicomImageView : public QWidget {
    Q_OBJECT
public:
    /// CT presets (centre/width, HU): lung, mediastinum, bone, brain.
    static const std::vector<WindowPreset>& presets();
    /// True for CT or values rescaled to HU: the CT presets apply.
    static bool isHounsfield(const io::ImageVolume& v);
    /// The presets offered for `v`: the CT ones for HU images; for any other modality (XA
    /// cines, radiographs, MR, ultrasound) "full" (min..max of the values) and "auto" (their
    /// 1st..99th percentile), computed from the values.
    static std::vector<WindowPreset> presetsFor(const io::ImageVolume& v);
    /// The one way Lumen writes a window everywhere: "W <width>  L <level>" (level = centre).
    static QString windowText(double width, double level);
    static constexpr double kDefaultFps = 10.0;

    explicit DicomImageView(QWidget* parent = nullptr);
    ~DicomImageView() override;

    /// Shows `volume` (frames or slices along depth); resets the window to the file's own
    /// (or the values' range when it has none), the frame to 0 and stops playback.
    void setVolume(std::shared_ptr<const io::ImageVolume> volume, const QString& caption = {});
    void clear(const QString& message = {});
    const io::ImageVolume* volume() const { return volume_.get(); }

    int frameCount() const;
    int currentFrame() const { return frame_; }
    void setFrame(int frame);

    double windowCenter() const { return center_; }
    double windowWidth() const { return width_; }
    void setWindow(double center, double width);
    /// The file's window (WindowCenter/Width), else the min..max of the values.
    void resetWindow();
    /// "lung", "mediastinum", "bone", "brain", "full", "auto" or "file"; false for an unknown
    /// name (or "full"/"auto" with no image).
    bool applyPreset(const QString& name);
    /// Value change per pixel of mouse drag (scaled to the image's value range).
    double dragSensitivity() const;

    bool isPlaying() const;
    void play();
    void pause();
    /// Frames per second of playback: 1000 / FrameTime when the file has one, else 10.
    double fps() const { return fps_; }
    void setFps(double fps);

    /// The current frame as displayed (window applied, inverted for MONOCHROME1), unscaled.
    QImage renderedFrame() const;
    /// Frame `frame` of `volume` through the window (thread-safe; used for thumbnails too).
    static QImage renderFrame(const io::ImageVolume& volume, int frame, double center, double width);
    /// The file's window, else the values' range (centre, width).
    static std::pair<double, double> defaultWindow(const io::ImageVolume& volume);

signals:
    void frameChanged(int frame);
    void windowChanged(double center, double width);
    void playingChanged(bool playing);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;

private:
    void invalidate();
    QRect imageRect() const;

    std::shared_ptr<const io::ImageVolume> volume_;
    QString caption_, message_;
    int frame_ = 0;
    double center_ = 0, width_ = 1;
    double minValue_ = 0, maxValue_ = 1;
    double fps_ = kDefaultFps;
    QTimer* timer_;
    mutable QImage cache_;
    mutable bool cacheValid_ = false;
    std::optional<QPoint> dragFrom_;
    double dragCenter_ = 0, dragWidth_ = 0;
};

}  // namespace lumen::widgets
