#pragma once
// The volume viewer used wherever a volume appears: axial, coronal and sagittal MPR views
// and a 3-D volume rendering in a 2x2 layout, a crosshair linked across the views, window /
// level with CT presets, the value (HU) and LPS position under the cursor, orientation
// letters from the volume's direction matrix, and a heatmap or label-mask overlay.
// MPR views are painted with QPainter from the buffer; the 3-D view is VTK
// (vtkFixedPointVolumeRayCastMapper) in a VtkRenderWidget. docs/volume-viewer.md says why.

#include "dicom_image_view.h"  // WindowPreset
#include "job_event_bridge.h"
#include "volume_overlay.h"

#include "explain/heatmap.h"
#include "io/image_volume.h"
#include "view/prepared_volume.h"

#include <QImage>
#include <QWidget>

#include <array>
#include <memory>
#include <optional>

class QCheckBox;
class QComboBox;
class QLabel;
class QLayout;
class QProgressBar;
class QSlider;
class QPushButton;

namespace lumen::widgets {

class VtkRenderWidget;
class VolumeViewer;

enum class MprPlane { Axial = 0, Coronal = 1, Sagittal = 2 };

using view::PreparedVolume;
using view::prepareVolume;

/// One MPR view (axial, coronal or sagittal), painted from the buffer. Left click/drag moves
/// the crosshair, right drag sets window (horizontal) and level (vertical), wheel and
/// Up/Down/PageUp/PageDown change the slice, moving the mouse shows the value under it.
class MprView : public QWidget {
    Q_OBJECT
public:
    MprView(VolumeViewer* viewer, MprPlane plane, QWidget* parent = nullptr);
    MprPlane plane() const { return plane_; }
    /// Where the slice image is drawn (widget coordinates); empty without a volume.
    QRectF imageRect() const;
    /// Voxel under a widget point, or nothing outside the image.
    std::optional<std::array<int, 3>> voxelAt(QPointF pos) const;
    /// Widget point at the centre of the voxel's in-plane position.
    QPointF pointOf(const std::array<int, 3>& voxel) const;
    /// Orientation letter at an edge: 0 left, 1 right, 2 top, 3 bottom.
    QString edgeLabel(int edge) const;
    /// The current slice as drawn (window, overlay), one pixel per voxel; for tests.
    QImage sliceImage() const;
    void invalidate();

protected:
    void paintEvent(QPaintEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void wheelEvent(QWheelEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;
    void leaveEvent(QEvent* e) override;

private:
    struct Axis {
        int voxelAxis = 0;
        bool flipped = false;
    };
    Axis horizontal() const;
    Axis vertical() const;
    QImage renderSlice() const;
    /// The slice scaled to `size` (the image rect), cached until the slice or size changes.
    QImage displayImage(QSize size) const;

    VolumeViewer* viewer_;
    MprPlane plane_;
    mutable QImage cache_;
    mutable bool dirty_ = true;
    mutable QImage display_;
    mutable bool displayDirty_ = true;
    QPointF dragStart_;
    double dragCenter_ = 0, dragWidth_ = 0;
    bool windowing_ = false;
};

class VolumeViewer : public QWidget {
    Q_OBJECT
public:
    enum class RenderPreset { CtBone = 0, CtSoftTissue = 1, Mip = 2 };

    /// `with3d` false: MPR views only (no GL context in the window, e.g. for small panels).
    explicit VolumeViewer(QWidget* parent = nullptr, bool with3d = true);
    ~VolumeViewer() override;

    /// Loads go through `submit` (a job with progress in the Jobs panel) when set, else on a
    /// QtConcurrent thread. Either way the GUI stays live.
    void setJobRunner(JobSubmitter submit, JobEventBridge* bridge);
    /// Starts loading a NIfTI file, a DICOM file or a DICOM series folder; returns at once.
    /// volumeLoaded or loadFailed follows.
    void openPath(const QString& path);
    bool isLoading() const { return loading_; }
    /// Reads a NIfTI heatmap or label mask (e.g. a ct_multilabel CAM, `cams/<id>__<label>.nii.gz`)
    /// on a QtConcurrent thread and overlays it on the shown volume, resampled through both
    /// files' world geometry (io::sampleOnGrid), so a CAM on a model's prepared grid lands on
    /// the original CT. Integer values with at most 64 distinct ones make a label mask, anything
    /// else a heatmap (the crosshair then moves to its hottest voxel). overlayLoaded or
    /// loadFailed (naming the file) follows.
    void openOverlayPath(const QString& path);

    void setVolume(std::shared_ptr<const io::ImageVolume> volume, const QString& caption = {});
    void setPreparedVolume(std::shared_ptr<const PreparedVolume> prepared, const QString& caption = {});
    void clear(const QString& message = {});
    const io::ImageVolume* volume() const { return prepared_ ? prepared_->volume.get() : nullptr; }
    const PreparedVolume* prepared() const { return prepared_.get(); }
    QString caption() const { return caption_; }

    /// Crosshair position (column i, row j, slice k).
    std::array<int, 3> cursorVoxel() const { return cursor_; }
    void setCursorVoxel(std::array<int, 3> voxel);
    /// Voxel axis normal to a plane's view, its slice index and count.
    int normalAxis(MprPlane plane) const;
    int sliceIndex(MprPlane plane) const { return cursor_[std::size_t(normalAxis(plane))]; }
    int sliceCount(MprPlane plane) const;
    void setSliceIndex(MprPlane plane, int index);
    MprView* view(MprPlane plane) const { return views_[std::size_t(plane)]; }

    double windowCenter() const { return center_; }
    double windowWidth() const { return width_; }
    void setWindow(double center, double width);
    /// "lung", "mediastinum", "bone", "brain" or "default" (the file's window,
    /// else the value range); false for an unknown name.
    bool applyWindowPreset(const QString& name);

    /// Value at a voxel (HU for CT) and its LPS position in mm.
    float valueAt(const std::array<int, 3>& voxel) const;
    std::array<double, 3> worldPosition(const std::array<int, 3>& voxel) const;
    /// "HU -123.0 at (x, y, z) mm LPS, voxel (i, j, k)" for the voxel; shown under the views.
    QString readoutText(const std::array<int, 3>& voxel) const;
    QString readout() const;

    /// Overlay (heatmap or label mask). Throws std::invalid_argument for a bad shape.
    void setOverlay(const VolumeOverlay& overlay);
    /// A CAM from the explain engine (raw, any grid spanning the volume): shown normalised,
    /// sampled as explain::upsample(normalised(h), volume shape) would give.
    void setHeatmap(const explain::Heatmap& heatmap);
    /// A label mask in the volume's voxel order (any grid; nearest-neighbour, 0 = none).
    void setLabelMask(const std::vector<std::size_t>& shape, const std::vector<float>& labels);
    void clearOverlay();
    bool hasOverlay() const { return !overlay_.empty(); }
    const OverlaySampler& overlay() const { return overlay_; }
    void setOverlayVisible(bool visible);
    bool overlayVisible() const { return overlayVisible_; }
    void setOverlayOpacity(double opacity);  ///< 0..1
    double overlayOpacity() const { return overlayOpacity_; }
    void setOverlayThreshold(double threshold);  ///< 0..1 of the normalised heatmap
    double overlayThreshold() const { return overlayThreshold_; }
    void setOverlayColormap(const QString& name);
    QString overlayColormapName() const { return colormapName_; }
    const std::vector<QRgb>& overlayLut() const { return lut_; }

    void setRenderPreset(RenderPreset preset);
    RenderPreset renderPreset() const { return renderPreset_; }
    /// The 3-D view; nullptr where OpenGL is unavailable (offscreen platform).
    VtkRenderWidget* view3d() const { return view3d_; }
    void resetCamera();

signals:
    void cursorChanged(int i, int j, int k);
    void windowChanged(double center, double width);
    void volumeLoaded(const QString& caption);
    void loadFailed(const QString& error);
    void overlayChanged();
    void overlayLoaded(const QString& caption);

private:
    friend class MprView;
    void hover(const std::optional<std::array<int, 3>>& voxel);
    void refreshViews();
    QLayout* buildToolbar();
    void build3d();
    void update3dVolume();
    void update3dTransfer();
    void update3dOverlay();
    void finishLoad(std::shared_ptr<const PreparedVolume> prepared, const QString& caption, const QString& error);
    void setLoading(bool loading, const QString& message = {});

    std::shared_ptr<const PreparedVolume> prepared_;
    QString caption_;
    QString message_;
    std::array<int, 3> cursor_{0, 0, 0};
    double center_ = 40, width_ = 400;
    OverlaySampler overlay_;
    bool overlayVisible_ = true;
    double overlayOpacity_ = 0.45;
    double overlayThreshold_ = 0.3;
    QString colormapName_ = "jet";
    std::vector<QRgb> lut_;
    RenderPreset renderPreset_ = RenderPreset::CtSoftTissue;

    std::array<MprView*, 3> views_{};
    VtkRenderWidget* view3d_ = nullptr;
    struct Vtk;
    std::unique_ptr<Vtk> vtk_;

    QComboBox* windowPreset_;
    QComboBox* renderPresetBox_;
    QPushButton* resetCamera_;
    QCheckBox* overlayBox_;
    QComboBox* colormapBox_;
    QSlider* opacitySlider_;
    QSlider* thresholdSlider_;
    QLabel* opacityValue_ = nullptr;
    QLabel* thresholdValue_ = nullptr;
    QLabel* readout_;
    QLabel* status_;
    QProgressBar* progress_;

    JobSubmitter submit_;
    JobEventBridge* bridge_ = nullptr;
    quint64 loadJob_ = 0;
    bool loading_ = false;
    std::shared_ptr<std::shared_ptr<const PreparedVolume>> loadSlot_;
    QString loadCaption_;
};

}  // namespace lumen::widgets
