#include "dicom_browser.h"
#include "gui_thread.h"

#include "dicom_image_view.h"
#include "job_event_bridge.h"

#include "io/dicom_index.h"
#include "io/dicom_reader.h"
#include "io/image_volume.h"

#include <QApplication>
#include <QButtonGroup>
#include <QDoubleSpinBox>
#include "file_dialogs.h"
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPainter>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <filesystem>

namespace lumen::widgets {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

// "20240103" -> "2024-01-03" (anything else as stored).
QString prettyDate(const std::string& d) {
    if (d.size() == 8 && std::all_of(d.begin(), d.end(), ::isdigit))
        return q(d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2));
    return q(d);
}

QString prettyName(const std::string& n) {
    QString s = q(n);
    s.replace('^', ' ');
    return s.trimmed();
}

// A series of single-frame slices of one size becomes one stack (depth = slices), in the
// index's order (InstanceNumber); anything else shows its first instance.
std::shared_ptr<io::ImageVolume> readSeries(const std::vector<io::DicomInstanceRecord>& instances) {
    if (instances.empty()) throw std::runtime_error("the series has no instances");
    const bool stack = instances.size() > 1 && std::all_of(instances.begin(), instances.end(), [&](const auto& i) {
                           return i.frames == 1 && i.rows == instances[0].rows && i.columns == instances[0].columns;
                       });
    if (!stack) return std::make_shared<io::ImageVolume>(io::readDicom(instances.front().path));
    auto out = std::make_shared<io::ImageVolume>(io::readDicom(instances.front().path));
    out->values.reserve(out->values.size() * instances.size());
    out->stored.clear();
    for (std::size_t k = 1; k < instances.size(); ++k) {
        const io::ImageVolume s = io::readDicom(instances[k].path);
        if (s.rows != out->rows || s.columns != out->columns || s.samples != out->samples || s.depth != 1)
            throw std::runtime_error(instances[k].path.string() + ": slice size differs from the series' first");
        out->values.insert(out->values.end(), s.values.begin(), s.values.end());
    }
    out->depth = int(instances.size());
    out->isVolume = true;
    return out;
}

QImage makeThumbnail(const std::filesystem::path& file) {
    const io::ImageVolume v = io::readDicom(file);
    const int frames = v.time * v.depth;
    const auto [c, w] = DicomImageView::defaultWindow(v);
    // The middle frame: a cine's first frames are often before the contrast arrives.
    const QImage frame = DicomImageView::renderFrame(v, frames / 2, c, w);
    if (frame.isNull()) return {};
    const int s = DicomBrowser::kThumbnailSize;
    QImage out(s, s, QImage::Format_RGB32);
    out.fill(Qt::black);
    QPainter p(&out);
    p.setRenderHint(QPainter::SmoothPixmapTransform);
    const QImage scaled = frame.scaled(s, s, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    p.drawImage((s - scaled.width()) / 2, (s - scaled.height()) / 2, scaled);
    if (frames > 1) {  // a small frame-count badge
        p.setPen(QColor(255, 214, 102));
        QFont f = p.font();
        f.setPixelSize(10);
        p.setFont(f);
        p.drawText(QRect(0, 0, s - 3, s - 2), Qt::AlignRight | Qt::AlignBottom, QString::number(frames));
    }
    return out;
}

}  // namespace

DicomBrowser::DicomBrowser(QWidget* parent)
    : QWidget(parent),
      scanButton_(new QPushButton(tr("Scan folder…"))),
      rescanButton_(new QPushButton(tr("Rescan"))),
      progress_(new QProgressBar),
      status_(new QLabel),
      tree_(new QTreeWidget),
      view_(new DicomImageView),
      playButton_(new QPushButton(tr("▶ Play"))),
      frameSlider_(new QSlider(Qt::Horizontal)),
      frameLabel_(new QLabel),
      fpsSpin_(new QDoubleSpinBox),
      windowLabel_(new QLabel),
      infoLabel_(new QLabel) {
    setObjectName("dicomBrowser");
    scanButton_->setObjectName("scanButton");
    rescanButton_->setObjectName("rescanButton");
    progress_->setObjectName("scanProgress");
    status_->setObjectName("dicomStatus");
    tree_->setObjectName("dicomTree");
    playButton_->setObjectName("playButton");
    frameSlider_->setObjectName("frameSlider");
    frameLabel_->setObjectName("frameLabel");
    fpsSpin_->setObjectName("fpsSpin");
    windowLabel_->setObjectName("windowLabel");
    infoLabel_->setObjectName("infoLabel");

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    auto* top = new QHBoxLayout;
    top->addWidget(scanButton_);
    top->addWidget(rescanButton_);
    progress_->setRange(0, 1000);
    progress_->setMaximumWidth(220);
    progress_->setTextVisible(true);
    progress_->hide();
    top->addWidget(progress_);
    top->addWidget(status_, 1);
    layout->addLayout(top);

    auto* split = new QSplitter(Qt::Horizontal);
    tree_->setColumnCount(2);
    tree_->setHeaderLabels({tr("Patient / study / series / image"), tr("Details")});
    tree_->setIconSize(QSize(kThumbnailSize, kThumbnailSize));
    tree_->setUniformRowHeights(false);
    tree_->setAlternatingRowColors(true);
    tree_->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    tree_->header()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    tree_->header()->setStretchLastSection(false);
    tree_->setMinimumWidth(400);
    split->addWidget(tree_);

    auto* right = new QWidget;
    auto* rl = new QVBoxLayout(right);
    rl->setContentsMargins(0, 0, 0, 0);
    rl->addWidget(view_, 1);

    rl->addLayout(buildWindowPresets());

    rl->addLayout(buildCineBar());
    infoLabel_->setWordWrap(true);
    infoLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    rl->addWidget(infoLabel_);
    split->addWidget(right);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 5);
    split->setSizes({470, 800});
    layout->addWidget(split, 1);

    connect(scanButton_, &QPushButton::clicked, this, &DicomBrowser::chooseAndScan);
    connect(rescanButton_, &QPushButton::clicked, this, [this] {
        if (!lastFolder_.isEmpty()) scanFolder(lastFolder_);
    });
    connect(tree_, &QTreeWidget::itemSelectionChanged, this, &DicomBrowser::onSelection);
    connect(playButton_, &QPushButton::toggled, this, [this](bool on) { on ? view_->play() : view_->pause(); });
    connect(view_, &DicomImageView::playingChanged, this, [this](bool on) {
        const QSignalBlocker block(playButton_);
        playButton_->setChecked(on);
        playButton_->setText(on ? tr("❚❚ Pause") : tr("▶ Play"));
    });
    connect(frameSlider_, &QSlider::valueChanged, view_, &DicomImageView::setFrame);
    connect(view_, &DicomImageView::frameChanged, this, [this](int f) {
        const QSignalBlocker block(frameSlider_);
        frameSlider_->setValue(f);
        syncControls();
    });
    connect(fpsSpin_, &QDoubleSpinBox::valueChanged, view_, &DicomImageView::setFps);
    connect(view_, &DicomImageView::windowChanged, this,
            [this](double c, double w) { windowLabel_->setText(DicomImageView::windowText(w, c)); });
    setStatus(tr("Open a workspace, then scan a folder of DICOM files."));
    syncControls();
}

// The window presets: CT ones for HU images, "full"/"auto" from the values for the rest
// (syncControls shows the ones that apply), "file" for both; then the window read-out.
QLayout* DicomBrowser::buildWindowPresets() {
    auto* presets = new QHBoxLayout;
    presets->addWidget(new QLabel(tr("Window:")));
    auto addPreset = [&](const QString& name, const QString& label, const QString& tip) {
        auto* b = new QPushButton(label);
        b->setObjectName("preset_" + name);
        b->setToolTip(tip);
        connect(b, &QPushButton::clicked, this, [this, name] { view_->applyPreset(name); });
        presets->addWidget(b);
    };
    for (const auto& p : DicomImageView::presets()) {
        QString label = p.name;
        label[0] = label[0].toUpper();
        addPreset(p.name, label, tr("CT window %1 (HU)").arg(DicomImageView::windowText(p.width, p.center)));
    }
    // Angiography, radiographs, MR, ultrasound: no HU, so windows from the image's own values.
    addPreset("full", tr("Full range"), tr("The whole range of the values (min to max)"));
    addPreset("auto", tr("Auto"), tr("The 1st to 99th percentile of the values: contrast without outliers"));
    addPreset("file", tr("File"),
              tr("The file's own window (or the values' range); double-click the image does the same"));
    presets->addSpacing(12);
    presets->addWidget(windowLabel_);
    presets->addStretch(1);
    return presets;
}

QLayout* DicomBrowser::buildCineBar() {
    auto* cine = new QHBoxLayout;
    playButton_->setCheckable(true);
    playButton_->setMinimumWidth(90);
    cine->addWidget(playButton_);
    cine->addWidget(frameSlider_, 1);
    frameLabel_->setMinimumWidth(90);
    cine->addWidget(frameLabel_);
    fpsSpin_->setRange(0.5, 120);
    fpsSpin_->setDecimals(1);
    fpsSpin_->setSuffix(tr(" fps"));
    fpsSpin_->setValue(DicomImageView::kDefaultFps);
    cine->addWidget(fpsSpin_);
    return cine;
}

DicomBrowser::~DicomBrowser() = default;

void DicomBrowser::setJobRunner(Submit submit, JobEventBridge* bridge) {
    submit_ = std::move(submit);
    bridge_ = bridge;
    connect(bridge_, &JobEventBridge::progress, this, [this](quint64 job, double f, const QString& m, double) {
        if (job != scanJob_) return;
        progress_->setValue(int(f * 1000));
        progress_->setFormat(QString("%1%").arg(int(f * 100)));
        setStatus(tr("Scanning… %1").arg(m));
    });
    connect(bridge_, &JobEventBridge::finished, this, [this](quint64 job, const QString& result) {
        if (job == scanJob_) setStatus(result);
    });
    connect(bridge_, &JobEventBridge::failed, this, [this](quint64 job, const QString& error) {
        if (job == scanJob_) setStatus(tr("Scan failed: %1").arg(error), true);
    });
    connect(bridge_, &JobEventBridge::cancelled, this, [this](quint64 job) {
        if (job == scanJob_) setStatus(tr("Scan cancelled; what was read so far is kept."));
    });
    connect(bridge_, &JobEventBridge::ended, this, [this](quint64 job) {
        if (job != scanJob_) return;
        scanJob_ = 0;
        progress_->hide();
        scanButton_->setEnabled(true);
        rescanButton_->setEnabled(!lastFolder_.isEmpty());
        const bool ok = !status_->property("error").toBool();
        refresh();
        emit scanFinished(ok);
    });
}

void DicomBrowser::setDatabase(const QString& databaseFile) {
    database_ = databaseFile;
    index_.reset();
    view_->clear();
    if (!database_.isEmpty()) {
        try {
            index_ = std::make_unique<io::DicomIndex>(database_.toStdString());
            setStatus(tr("DICOM index of %1").arg(database_));
        } catch (const std::exception& e) {
            setStatus(QString::fromUtf8(e.what()), true);
        }
    }
    refresh();
}

bool DicomBrowser::scanFolder(const QString& folder) {
    if (database_.isEmpty() || !index_) {
        setStatus(tr("Open a workspace first: the index lives in its database."), true);
        return false;
    }
    if (!submit_) {
        setStatus(tr("No job runner: scans cannot run here."), true);
        return false;
    }
    if (scanJob_) return false;
    lastFolder_ = folder;
    const std::string db = database_.toStdString(), root = folder.toStdString();
    progress_->setValue(0);
    progress_->setFormat("0%");
    progress_->show();
    scanButton_->setEnabled(false);
    rescanButton_->setEnabled(false);
    setStatus(tr("Scanning %1…").arg(folder));
    scanJob_ = submit_(
        "dicom-scan", tr("Scan DICOM folder %1").arg(QFileInfo(folder).fileName()), [db, root](jobs::JobContext& ctx) {
            // Its own connection: the GUI's index reads beside it (WAL).
            io::DicomIndex index(db);
            const auto r = index.scan(root, [&ctx](double f, const std::string& m) {
                ctx.progress(f, m);
                return !ctx.isCancelled();
            });
            if (r.cancelled) throw jobs::Cancelled();
            const std::string summary = std::to_string(r.added) + " new, " + std::to_string(r.updated) + " changed, " +
                                        std::to_string(r.unchanged) + " unchanged, " + std::to_string(r.removed) +
                                        " removed, " + std::to_string(r.unreadable) + " unreadable, " +
                                        std::to_string(r.skipped) + " not DICOM (" + std::to_string(r.seen) + " files)";
            ctx.info("DICOM scan of " + root + ": " + summary);
            return "Scanned: " + summary;
        });
    return true;
}

void DicomBrowser::chooseAndScan() {
    const QString dir = folderDialog(this, tr("Scan a folder of DICOM files"), lastFolder_);
    if (!dir.isEmpty()) scanFolder(dir);
}

void DicomBrowser::refresh() {
    const QSignalBlocker block(tree_);
    tree_->clear();
    seriesItems_.clear();
    if (!index_) return;
    try {
        const QFont bold = [&] {
            QFont f = tree_->font();
            f.setBold(true);
            return f;
        }();
        for (const auto& p : index_->patients()) {
            auto* pi = new QTreeWidgetItem(tree_);
            const QString name = prettyName(p.patientName);
            pi->setText(0, name.isEmpty() ? (p.patientId.empty() ? tr("(no patient id)") : q(p.patientId))
                                          : QString("%1  ·  %2").arg(name, q(p.patientId)));
            pi->setFont(0, bold);
            pi->setText(1, p.studies == 1 ? tr("1 study") : tr("%1 studies").arg(p.studies));
            pi->setData(0, kKindRole, "patient");
            pi->setData(0, kKeyRole, q(p.patientId));
            for (const auto& st : index_->studies(p.patientId)) {
                auto* si = new QTreeWidgetItem(pi);
                const QString desc = st.description.empty() ? tr("(no description)") : q(st.description);
                si->setText(0, st.date.empty() ? desc : QString("%1  %2").arg(prettyDate(st.date), desc));
                si->setText(1, st.series == 1 ? tr("1 series") : tr("%1 series").arg(st.series));
                si->setToolTip(0, q(st.studyUid));
                si->setData(0, kKindRole, "study");
                si->setData(0, kKeyRole, q(st.studyUid));
                for (const auto& se : index_->series(st.studyUid)) {
                    auto* sei = new QTreeWidgetItem(si);
                    QString label = se.number ? QString("#%1  ").arg(*se.number) : QString();
                    label += q(se.modality);
                    if (!se.description.empty()) label += "  " + q(se.description);
                    sei->setText(0, label);
                    const QString count = se.instances == 1 ? tr("1 image") : tr("%1 images").arg(se.instances);
                    sei->setText(1, se.frames > se.instances ? tr("%1, %2 frames").arg(count).arg(se.frames) : count);
                    sei->setToolTip(0, q(se.seriesUid));
                    sei->setData(0, kKindRole, "series");
                    sei->setData(0, kKeyRole, q(se.seriesUid));
                    seriesItems_.insert(q(se.seriesUid), sei);
                    const auto instances = index_->instances(se.seriesUid);
                    for (const auto& in : instances) {
                        auto* ii = new QTreeWidgetItem(sei);
                        ii->setText(0, (in.number ? QString("#%1  ").arg(*in.number) : QString()) +
                                           QString::fromStdString(in.path.filename().string()));
                        ii->setText(
                            1, in.rows > 0
                                   ? (in.frames > 1 ? tr("%1×%2, %3 frames").arg(in.columns).arg(in.rows).arg(in.frames)
                                                    : tr("%1×%2").arg(in.columns).arg(in.rows))
                                   : tr("no image"));
                        ii->setToolTip(0, QString::fromStdString(in.path.string()));
                        ii->setData(0, kKindRole, "instance");
                        ii->setData(0, kKeyRole, QString::fromStdString(in.path.string()));
                    }
                    // The representative image: the middle one with pixels.
                    std::vector<const io::DicomInstanceRecord*> images;
                    for (const auto& in : instances)
                        if (in.rows > 0) images.push_back(&in);
                    if (!images.empty()) {
                        const auto* rep = images[images.size() / 2];
                        const QString key = QString("%1|%2|%3")
                                                .arg(QString::fromStdString(rep->path.string()))
                                                .arg(rep->mtimeNs)
                                                .arg(rep->size);
                        requestThumbnail(sei, q(se.seriesUid), key);
                    }
                }
            }
            pi->setExpanded(true);
        }
        const auto bad = index_->unreadable();
        if (!bad.empty()) {
            auto* ui = new QTreeWidgetItem(tree_);
            ui->setText(0, tr("Unreadable files (%1)").arg(bad.size()));
            ui->setForeground(0, QColor(180, 40, 40));
            ui->setData(0, kKindRole, "unreadable");
            for (const auto& u : bad) {
                auto* item = new QTreeWidgetItem(ui);
                item->setText(0, QString::fromStdString(u.path.filename().string()));
                item->setText(1, q(u.reason));
                item->setToolTip(0, QString::fromStdString(u.path.string()));
                item->setToolTip(1, q(u.reason));
                item->setData(0, kKindRole, "unreadable");
                item->setData(0, kKeyRole, QString::fromStdString(u.path.string()));
            }
        }
        const int n = index_->instanceCount();
        if (!scanJob_ && !status_->property("error").toBool())
            setStatus(n == 0 ? tr("The index is empty: scan a folder.")
                             : tr("%1 images indexed in %2 patients%3")
                                   .arg(n)
                                   .arg(index_->patients().size())
                                   .arg(bad.empty()       ? QString()
                                        : bad.size() == 1 ? tr("; 1 unreadable file")
                                                          : tr("; %1 unreadable files").arg(bad.size())));
    } catch (const std::exception& e) {
        setStatus(QString::fromUtf8(e.what()), true);
    }
}

void DicomBrowser::requestThumbnail(QTreeWidgetItem* item, const QString& seriesUid, const QString& key) {
    if (auto it = thumbnails_.find(key); it != thumbnails_.end()) {
        if (!it->isNull()) item->setIcon(0, QIcon(QPixmap::fromImage(*it)));
        return;
    }
    const std::filesystem::path file = key.section('|', 0, 0).toStdString();
    QPointer<QObject> self(this);
    (void)QtConcurrent::run([self, file, key, seriesUid] {
        QImage thumb;
        try {
            thumb = makeThumbnail(file);
        } catch (const std::exception&) {
            // Left without an icon; selecting it shows the reason.
        }
        onGuiThread(self, [self, key, seriesUid, thumb] {
            auto* b = static_cast<DicomBrowser*>(self.data());
            b->thumbnails_.insert(key, thumb);
            if (auto* it = b->seriesItems_.value(seriesUid); it && !thumb.isNull())
                it->setIcon(0, QIcon(QPixmap::fromImage(thumb)));
            emit b->thumbnailReady(seriesUid);
        });
    });
}

bool DicomBrowser::selectSeries(const QString& seriesUid) {
    auto* item = seriesItems_.value(seriesUid);
    if (!item) return false;
    for (auto* p = item->parent(); p; p = p->parent()) p->setExpanded(true);
    tree_->setCurrentItem(item);
    tree_->scrollToItem(item);
    return true;
}

void DicomBrowser::onSelection() {
    const auto items = tree_->selectedItems();
    if (items.isEmpty()) return;
    auto* item = items.first();
    const QString kind = item->data(0, kKindRole).toString(), key = item->data(0, kKeyRole).toString();
    if (kind == "series") {
        const QString caption = item->parent() ? item->parent()->text(0) + "\n" + item->text(0) : item->text(0);
        loadSeries(key, caption);
    } else if (kind == "instance") {
        loadInstance(key, item->parent() ? item->parent()->text(0) + "\n" + item->text(0) : item->text(0));
    } else if (kind == "unreadable" && !key.isEmpty()) {
        view_->clear(tr("%1\n\ncannot be read: %2").arg(key, item->text(1)));
        syncControls();
    }
}

void DicomBrowser::loadSeries(const QString& seriesUid, const QString& caption) {
    if (!index_) return;
    std::vector<io::DicomInstanceRecord> instances;
    try {
        for (auto& in : index_->instances(seriesUid.toStdString()))
            if (in.rows > 0) instances.push_back(std::move(in));
    } catch (const std::exception& e) {
        setStatus(QString::fromUtf8(e.what()), true);
        return;
    }
    const quint64 gen = ++generation_;
    view_->clear(tr("Loading…"));
    syncControls();
    QPointer<QObject> self(this);
    (void)QtConcurrent::run([self, instances, seriesUid, caption, gen] {
        std::shared_ptr<const io::ImageVolume> v;
        QString error;
        try {
            v = readSeries(instances);
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        }
        onGuiThread(self, [self, v, seriesUid, caption, error, gen] {
            static_cast<DicomBrowser*>(self.data())->showLoaded(v, seriesUid, caption, error, gen);
        });
    });
}

void DicomBrowser::loadInstance(const QString& path, const QString& caption) {
    const quint64 gen = ++generation_;
    view_->clear(tr("Loading…"));
    syncControls();
    QPointer<QObject> self(this);
    const std::filesystem::path file = path.toStdString();
    (void)QtConcurrent::run([self, file, path, caption, gen] {
        std::shared_ptr<const io::ImageVolume> v;
        QString error;
        try {
            v = std::make_shared<io::ImageVolume>(io::readDicom(file));
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        }
        onGuiThread(self, [self, v, path, caption, error, gen] {
            static_cast<DicomBrowser*>(self.data())->showLoaded(v, path, caption, error, gen);
        });
    });
}

void DicomBrowser::showLoaded(std::shared_ptr<const io::ImageVolume> volume, const QString& key, const QString& caption,
                              const QString& error, quint64 generation) {
    if (generation != generation_) return;  // the user moved on
    if (!volume) {
        view_->clear(error);
        setStatus(error, true);
        syncControls();
        return;
    }
    view_->setVolume(volume, caption);
    const QSignalBlocker block(fpsSpin_);
    fpsSpin_->setValue(view_->fps());
    const auto& m = volume->meta;
    QStringList info;
    info << QString::fromStdString(m.transferSyntaxName.empty() ? m.transferSyntax : m.transferSyntaxName);
    info << QString::fromStdString(m.photometric) + (m.invertForDisplay ? tr(" (shown inverted)") : QString());
    if (m.frameTimeMs) info << tr("frame time %1 ms").arg(*m.frameTimeMs, 0, 'g', 4);
    if (m.rescaleSlope != 1 || m.rescaleIntercept != 0)
        info << tr("rescale %1 × + %2 %3")
                    .arg(m.rescaleSlope)
                    .arg(m.rescaleIntercept)
                    .arg(QString::fromStdString(m.rescaleType));
    info << tr("spacing %1 × %2 mm").arg(volume->spacing[0], 0, 'g', 4).arg(volume->spacing[1], 0, 'g', 4);
    infoLabel_->setText(info.join("   ·   "));
    syncControls();
    emit imageLoaded(key);
}

void DicomBrowser::setStatus(const QString& text, bool error) {
    status_->setText(text);
    status_->setProperty("error", error);
    status_->setStyleSheet(error ? "color: #b42828;" : QString());
    status_->setToolTip(text);
}

QString DicomBrowser::statusText() const { return status_->text(); }

void DicomBrowser::syncControls() {
    const int n = view_->frameCount();
    {
        const QSignalBlocker block(frameSlider_);
        frameSlider_->setRange(0, std::max(0, n - 1));
        frameSlider_->setValue(view_->currentFrame());
    }
    frameSlider_->setEnabled(n > 1);
    playButton_->setEnabled(n > 1);
    fpsSpin_->setEnabled(n > 1);
    const bool slices = view_->volume() && view_->volume()->isVolume;
    frameLabel_->setText(
        n == 0 ? QString()
               : tr("%1 %2 / %3").arg(slices ? tr("slice") : tr("frame")).arg(view_->currentFrame() + 1).arg(n));
    // CT presets for HU images only; "full"/"auto" for the rest ("file" for both).
    const bool hu = view_->volume() && DicomImageView::isHounsfield(*view_->volume());
    for (auto* b : findChildren<QPushButton*>()) {
        const QString name = b->objectName();
        if (!name.startsWith("preset_")) continue;
        b->setEnabled(view_->volume() != nullptr);
        if (name != "preset_file") b->setVisible((name == "preset_full" || name == "preset_auto") != hu);
    }
}

}  // namespace lumen::widgets
