#include "volume_viewer.h"
#include "volume_viewer_layout.h"
#include "volume_viewer_vtk.h"
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

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace lumen::widgets {

using namespace viewer_layout;

VolumeViewer::VolumeViewer(QWidget* parent, bool with3d) : QWidget(parent), lut_(overlayColormap("jet")) {
    setObjectName("volumeViewer");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);

    layout->addLayout(buildToolbar());

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
        auto* none =
            new QLabel(with3d ? tr("3-D view needs an OpenGL display (not available on this platform)") : QString());
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

QLayout* VolumeViewer::buildToolbar() {
    auto* bar = new QHBoxLayout;
    windowPreset_ = new QComboBox;
    windowPreset_->setObjectName("windowPreset");
    windowPreset_->addItem(tr("Window: default"), "default");
    for (const auto& p : DicomImageView::presets())
        windowPreset_->addItem(tr("%1 (%2)").arg(p.name, DicomImageView::windowText(p.width, p.center)), p.name);
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
    opacityValue_ = new QLabel(QString("%1 %").arg(std::lround(overlayOpacity_ * 100)));
    opacityValue_->setObjectName("overlayOpacityValue");
    thresholdValue_ = new QLabel(QString::number(overlayThreshold_, 'f', 2));
    thresholdValue_->setObjectName("overlayThresholdValue");
    for (QLabel* value : {opacityValue_, thresholdValue_})
        value->setMinimumWidth(value->fontMetrics().horizontalAdvance("100 %"));
    bar->addWidget(new QLabel(tr("opacity")));
    bar->addWidget(opacitySlider_);
    bar->addWidget(opacityValue_);
    bar->addWidget(new QLabel(tr("threshold")));
    bar->addWidget(thresholdSlider_);
    bar->addWidget(thresholdValue_);
    bar->addStretch(1);
    return bar;
}

VolumeViewer::~VolumeViewer() = default;

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
    for (int a = 0; a < 3; ++a)
        voxel[std::size_t(a)] = std::clamp(voxel[std::size_t(a)], 0, prepared_->dims[std::size_t(a)] - 1);
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
            w[std::size_t(r)] +=
                vol.direction[std::size_t(r * 3 + a)] * vol.spacing[std::size_t(a)] * v[std::size_t(a)];
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
                       .arg(w[0], 0, 'f', 1)
                       .arg(w[1], 0, 'f', 1)
                       .arg(w[2], 0, 'f', 1)
                       .arg(v[0])
                       .arg(v[1])
                       .arg(v[2]);
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
    opacityValue_->setText(QString("%1 %").arg(std::lround(overlayOpacity_ * 100)));
    refreshViews();
    update3dOverlay();
    emit overlayChanged();
}

void VolumeViewer::setOverlayThreshold(double threshold) {
    overlayThreshold_ = std::clamp(threshold, 0.0, 1.0);
    if (thresholdSlider_->value() != int(std::lround(overlayThreshold_ * 100)))
        thresholdSlider_->setValue(int(std::lround(overlayThreshold_ * 100)));
    thresholdValue_->setText(QString::number(overlayThreshold_, 'f', 2));
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

void VolumeViewer::openPath(const QString& path) {
    if (loading_) {
        status_->setText(
            tr("Still loading %1; open %2 when it is done.").arg(loadCaption_, QFileInfo(path).fileName()));
        return;
    }
    const std::filesystem::path file = path.toStdString();
    loadCaption_ = QFileInfo(path).fileName();
    setLoading(true, tr("Loading %1…").arg(loadCaption_));
    if (submit_) {
        auto slot = std::make_shared<std::shared_ptr<const PreparedVolume>>();
        loadSlot_ = slot;
        loadJob_ = submit_("volume", tr("Open volume %1").arg(loadCaption_), [file, slot](jobs::JobContext& job) {
            *slot = view::loadPreparedVolume(file, &job);
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
            return {view::loadPreparedVolume(file, nullptr), {}};
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
                return {{},
                        QString::fromStdString(file.string() + ": does not overlap the shown volume (or is all zero)")};
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

void VolumeViewer::finishLoad(std::shared_ptr<const PreparedVolume> prepared, const QString& caption,
                              const QString& error) {
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
                         .arg(v.columns)
                         .arg(v.rows)
                         .arg(v.depth)
                         .arg(v.spacing[0], 0, 'g', 3)
                         .arg(v.spacing[1], 0, 'g', 3)
                         .arg(v.spacing[2], 0, 'g', 3));
    emit volumeLoaded(caption);
}

}  // namespace lumen::widgets
