#include "angio_study_view.h"

#include "data/column_names.h"
#include "data/numeric_table.h"
#include "io/media_reader.h"
#include "io/npy_reader.h"
#include "coronary_tree.h"
#include "file_dialogs.h"
#include "gui_thread.h"
#include "overlay_view.h"

#include <nlohmann/json.hpp>

#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QDir>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace lumen::widgets {

namespace {

constexpr double kDefaultFrameMs = 1000.0 / 15;  // a common XA cine rate when nothing says
const std::array<std::pair<const char*, const char*>, 5> kHeads{{{"stenosis", "Stenosis %"},
                                                                 {"stenosis_binary", "P(≥ 70 %)"},
                                                                 {"calcif_binary", "P(calcif.)"},
                                                                 {"cto", "P(CTO)"},
                                                                 {"thrombus", "P(thrombus)"}}};

/// The segment whose trained "<segment>_stenosis" prediction is highest; "" without any.
QString mostSevereSegment(const AngioStudyRecord& r, const std::set<std::string>& untrained) {
    static const std::string suffix = std::string("_") + kHeads[0].first;
    QString best;
    double top = -std::numeric_limits<double>::infinity();
    for (const auto& [column, value] : r.predictions)
        if (column.size() > suffix.size() && column.ends_with(suffix) && !untrained.count(column) &&
            std::isfinite(value) && value > top)
            top = value, best = QString::fromStdString(column.substr(0, column.size() - suffix.size()));
    return best;
}

std::set<std::string> readUntrained(const nlohmann::json& doc, const std::string& file) {
    std::set<std::string> out;
    if (!doc.contains("untrained_columns")) return out;
    const auto& list = doc["untrained_columns"];
    if (!list.is_array()) throw std::runtime_error(file + ": \"untrained_columns\" is not a list");
    for (const auto& c : list) {
        if (!c.is_string()) throw std::runtime_error(file + ": \"untrained_columns\" holds a non-name " + c.dump());
        out.insert(c.get<std::string>());
    }
    return out;
}

QString fmt(double v, bool percent) {
    if (!std::isfinite(v)) return QStringLiteral("–");
    return percent ? QString::number(v, 'f', 1) : QString::number(v, 'f', 3);
}

}  // namespace

/// A study's "cams" of preds.json (docs/angio.md, "Video Grad-CAM"); files relative to `dir`.
std::map<std::string, AngioCamRecord> readStudyCams(const nlohmann::json& doc, const nlohmann::json& study,
                                                    const QString& dir) {
    std::map<std::string, AngioCamRecord> out;
    const auto cams = study.value("cams", nlohmann::json::object());
    const auto clip = doc.value("cam", nlohmann::json::object());
    if (!cams.is_object()) return out;
    for (const auto& [column, c] : cams.items()) {
        if (!c.is_object() || !c.contains("file") || !c["file"].is_string()) continue;
        AngioCamRecord r;
        r.file = QDir(dir).absoluteFilePath(QString::fromStdString(c["file"].get<std::string>()));
        r.frames = clip.value("frames", 0);
        r.stride = std::max(1, clip.value("stride", 1));
        for (const auto& v : c.value("views", nlohmann::json::array())) {
            r.viewSlots.push_back(v.value("slot", 0));
            r.clipStarts.push_back(v.value("clip_start", 0));
        }
        out[column] = std::move(r);
    }
    return out;
}

AngioPredictions readAngioPredictions(const QString& file) {
    const std::string name = file.toStdString();
    std::ifstream in(name, std::ios::binary);
    if (!in) throw std::runtime_error(name + ": cannot open");
    const auto doc = nlohmann::json::parse(in, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) throw std::runtime_error(name + ": not a JSON object");
    if (doc.value("task", std::string()) != "angio_multiview")
        throw std::runtime_error(
            name + ": not an angio_multiview inference (task \"" +
            (doc.contains("task") && doc["task"].is_string() ? doc["task"].get<std::string>() : "") + "\")");
    if (!doc.contains("predictions") || !doc["predictions"].is_array())
        throw std::runtime_error(name + ": no \"predictions\" array");
    AngioPredictions out;
    out.untrained = readUntrained(doc, name);
    for (std::size_t i = 0; i < doc["predictions"].size(); ++i) {
        const auto& s = doc["predictions"][i];
        const std::string where = name + ": predictions[" + std::to_string(i) + "]";
        if (!s.is_object() || !s.contains("study_id") || !s["study_id"].is_string())
            throw std::runtime_error(where + ": no study_id");
        AngioStudyRecord r;
        r.id = QString::fromStdString(s["study_id"].get<std::string>());
        const auto views = s.value("views", nlohmann::json::array());
        for (const auto& v : views) {
            if (!v.is_object() || !v.contains("file") || !v["file"].is_string())
                throw std::runtime_error(where + " (" + r.id.toStdString() + "): a view without \"file\"");
            AngioViewRecord view;
            view.path = QString::fromStdString(v.value("path", std::string()));
            view.file = QString::fromStdString(v["file"].get<std::string>());
            view.projection = QString::fromStdString(v.value("view", std::string()));
            view.attention = v.value("attention", 0.0);
            view.frameTimeMs = v.value("frame_time_ms", 0.0);
            r.views.push_back(view);
        }
        const auto predictions = s.value("predictions", nlohmann::json::object());
        for (const auto& [k, v] : predictions.items())
            if (v.is_number()) r.predictions[k] = v.get<double>();
        r.cams = readStudyCams(doc, s, QFileInfo(file).path());
        out.studies.push_back(std::move(r));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
CineTile::CineTile(const AngioViewRecord& view, int number, QWidget* parent)
    : QWidget(parent), view_(view), number_(number) {
    setObjectName(QString("cineTile%1").arg(number));
    setMinimumSize(140, 130);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void CineTile::setVolume(std::shared_ptr<const io::ImageVolume> volume) {
    volume_ = std::move(volume);
    error_.clear();
    update();
}

void CineTile::setError(const QString& error) {
    error_ = error;
    update();
}

int CineTile::frameCount() const { return volume_ ? std::max(1, volume_->time * volume_->depth) : 1; }

double CineTile::frameTimeMs() const {
    if (volume_ && volume_->meta.frameTimeMs && *volume_->meta.frameTimeMs > 0) return *volume_->meta.frameTimeMs;
    return view_.frameTimeMs > 0 ? view_.frameTimeMs : kDefaultFrameMs;
}

void CineTile::setTimeMs(double ms) {
    const int f = static_cast<int>(std::floor(std::max(0.0, ms) / frameTimeMs())) % frameCount();
    if (f != frame_) {
        frame_ = f;
        update();
    }
}

void CineTile::setWindow(double center, double width) {
    center_ = center;
    width_ = std::max(1e-6, width);
    update();
}

void CineTile::setTopAttention(bool top) {
    top_ = top;
    update();
}

void CineTile::setCam(std::vector<float> values, int t, int h, int w, int clipStart, int stride, int frames) {
    const bool ok = t > 0 && h > 0 && w > 0 && frames > 0 && values.size() == std::size_t(t) * h * w;
    cam_ = ok ? std::move(values) : std::vector<float>();
    camT_ = t, camH_ = h, camW_ = w, camStart_ = clipStart, camStride_ = std::max(1, stride), camFrames_ = frames;
    update();
}

int CineTile::camIndexAt(int frame) const {
    if (cam_.empty() || frame < camStart_ || (frame - camStart_) % camStride_ != 0) return -1;
    const int i = (frame - camStart_) / camStride_;
    return i < camFrames_ ? std::min(camT_ - 1, i * camT_ / camFrames_) : -1;
}

// The CAM slice over the image: jet, transparent where cold (alpha grows with the value).
static void drawCam(QPainter& p, const QRect& target, const float* slice, int h, int w) {
    QImage heat(w, h, QImage::Format_ARGB32);
    for (int y = 0; y < h; ++y) {
        auto* line = reinterpret_cast<QRgb*>(heat.scanLine(y));
        for (int x = 0; x < w; ++x) {
            const double v = std::clamp(double(slice[std::size_t(y) * w + x]), 0.0, 1.0);
            const QRgb c = colormapColor(Colormap::Jet, v);
            line[x] = qRgba(qRed(c), qGreen(c), qBlue(c), int(170 * v));
        }
    }
    p.setRenderHint(QPainter::SmoothPixmapTransform);
    p.drawImage(target, heat);
}

void CineTile::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), Qt::black);
    const int header = 22;
    const QRect imageArea = rect().adjusted(2, header, -2, -2);
    if (volume_ && volume_->rows > 0 && volume_->columns > 0) {
        const auto& v = *volume_;
        QImage img(v.columns, v.rows, QImage::Format_Grayscale8);
        const std::size_t plane = std::size_t(v.rows) * v.columns * v.samples;
        const float* src = v.values.data() + plane * std::size_t(frame_);
        const double lo = center_ - width_ / 2;
        for (int y = 0; y < v.rows; ++y) {
            uchar* line = img.scanLine(y);
            for (int x = 0; x < v.columns; ++x) {
                const std::size_t k = (std::size_t(y) * v.columns + x) * v.samples;
                double value = src[k];
                if (v.samples == 3) value = (src[k] + src[k + 1] + src[k + 2]) / 3.0;
                line[x] = static_cast<uchar>(std::clamp((value - lo) / width_ * 255.0, 0.0, 255.0));
            }
        }
        const QSize fit = img.size().scaled(imageArea.size(), Qt::KeepAspectRatio);
        const QRect target(imageArea.center() - QPoint(fit.width() / 2, fit.height() / 2), fit);
        p.setRenderHint(QPainter::SmoothPixmapTransform);
        p.drawImage(target, img);
        if (const int ti = camIndexAt(frame_); ti >= 0)
            drawCam(p, target, cam_.data() + std::size_t(ti) * camH_ * camW_, camH_, camW_);
    } else {
        p.setPen(error_.isEmpty() ? QColor(180, 180, 180) : QColor(255, 120, 120));
        p.drawText(imageArea, Qt::AlignCenter | Qt::TextWordWrap, error_.isEmpty() ? tr("Loading…") : error_);
    }
    // Header: view number, projection, frame, and the attention bar.
    p.fillRect(QRect(0, 0, width(), header), QColor(30, 30, 34));
    const double w = std::clamp(view_.attention, 0.0, 1.0);
    p.fillRect(QRectF(0, header - 4, width() * w, 4), top_ ? QColor(255, 150, 30) : QColor(90, 160, 255));
    p.setPen(Qt::white);
    p.drawText(QRect(6, 0, width() - 12, header - 4), Qt::AlignVCenter | Qt::AlignLeft,
               tr("View %1 · %2 · frame %3/%4")
                   .arg(number_)
                   .arg(view_.projection.isEmpty() ? view_.path : view_.projection)
                   .arg(frame_ + 1)
                   .arg(frameCount()));
    p.drawText(QRect(6, 0, width() - 12, header - 4), Qt::AlignVCenter | Qt::AlignRight,
               tr("attention %1").arg(view_.attention, 0, 'f', 2));
    if (top_) {
        p.setPen(QPen(QColor(255, 150, 30), 3));
        p.setBrush(Qt::NoBrush);
        p.drawRect(rect().adjusted(1, 1, -2, -2));
    }
}

// ---------------------------------------------------------------------------------------------
AngioStudyView::AngioStudyView(QWidget* parent) : QWidget(parent) {
    setObjectName("angioStudyView");
    buildUi();
    timer_ = new QTimer(this);
    timer_->setInterval(20);
    connect(timer_, &QTimer::timeout, this, &AngioStudyView::tick);
}

AngioStudyView::~AngioStudyView() = default;

void AngioStudyView::buildUi() {
    auto* top = new QHBoxLayout;
    auto* open = new QPushButton(tr("Open predictions…"));
    open->setObjectName("angioOpen");
    open->setToolTip(tr("preds.json of an angio_multiview inference"));
    auto* base = new QPushButton(tr("Baseline…"));
    base->setObjectName("angioBaseline");
    base->setToolTip(tr("A predictions CSV (study_id + the 90 columns) to show beside the new values"));
    fileLabel_ = new QLabel(tr("No predictions open"));
    fileLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    studyBox_ = new QComboBox;
    studyBox_->setObjectName("angioStudy");
    studyBox_->setMinimumContentsLength(12);
    top->addWidget(open);
    top->addWidget(base);
    top->addWidget(fileLabel_, 1);
    top->addWidget(new QLabel(tr("Study")));
    top->addWidget(studyBox_);
    camBox_ = new QComboBox;
    camBox_->setObjectName("angioCam");
    camBox_->setToolTip(tr("Video Grad-CAM of an output column over every view (inference with infer.cam_studies)"));
    top->addWidget(new QLabel(tr("CAM")));
    top->addWidget(camBox_);
    connect(camBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (!syncing_ && i >= 0) showCam(camBox_->itemData(i).toString());
    });
    connect(open, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, tr("Open angio_multiview predictions"), QFileInfo(file_).path(),
                                         tr("Predictions (preds.json);;JSON (*.json)"));
        if (!f.isEmpty()) openPredictions(f);
    });
    connect(base, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, tr("Baseline predictions"), QFileInfo(file_).path(), tr("CSV (*.csv)"));
        if (!f.isEmpty()) openBaseline(f);
    });
    connect(studyBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (!syncing_) showStudy(i);
    });

    gridHost_ = new QWidget;
    grid_ = new QGridLayout(gridHost_);
    grid_->setContentsMargins(0, 0, 0, 0);
    grid_->setSpacing(4);
    auto* left = new QWidget;
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(gridHost_, 1);
    leftLayout->addWidget(buildControls());

    auto* split = new QSplitter(Qt::Horizontal);
    split->addWidget(left);
    split->addWidget(buildSide());
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    status_ = new QLabel;
    status_->setObjectName("angioStatus");
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(split, 1);
    layout->addWidget(status_);
}

QWidget* AngioStudyView::buildControls() {
    auto* w = new QWidget;
    auto* row = new QHBoxLayout(w);
    row->setContentsMargins(0, 0, 0, 0);
    playButton_ = new QPushButton(tr("Play"));
    playButton_->setObjectName("angioPlay");
    playButton_->setCheckable(true);
    timeSlider_ = new QSlider(Qt::Horizontal);
    timeSlider_->setObjectName("angioTime");
    timeSlider_->setToolTip(tr("Time in the study's cines (ms); each view shows its frame at this time"));
    timeLabel_ = new QLabel("0.00 s");
    timeLabel_->setMinimumWidth(90);
    center_ = new QDoubleSpinBox;
    width_ = new QDoubleSpinBox;
    for (auto* s : {center_, width_}) {
        s->setRange(-100000, 100000);
        s->setDecimals(0);
    }
    center_->setObjectName("angioCenter");
    width_->setObjectName("angioWidth");
    width_->setMinimum(1);
    center_->setValue(128);
    width_->setValue(256);
    auto* autoWl = new QPushButton(tr("Auto W/L"));
    row->addWidget(playButton_);
    row->addWidget(timeSlider_, 1);
    row->addWidget(timeLabel_);
    row->addWidget(new QLabel(tr("Level")));
    row->addWidget(center_);
    row->addWidget(new QLabel(tr("Width")));
    row->addWidget(width_);
    row->addWidget(autoWl);
    connect(playButton_, &QPushButton::toggled, this, [this](bool on) { on ? play() : pause(); });
    connect(timeSlider_, &QSlider::valueChanged, this, [this](int v) {
        if (!syncing_) setTimeMs(v);
    });
    const auto applyWindow = [this] {
        if (!syncing_) setWindow(center_->value(), width_->value());
    };
    connect(center_, &QDoubleSpinBox::valueChanged, this, applyWindow);
    connect(width_, &QDoubleSpinBox::valueChanged, this, applyWindow);
    connect(autoWl, &QPushButton::clicked, this, [this] {
        double lo = INFINITY, hi = -INFINITY;
        for (auto* t : tiles_)
            if (t->volume())
                for (const float v : t->volume()->values) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
        if (lo < hi) setWindow((lo + hi) / 2, hi - lo);
    });
    return w;
}

QWidget* AngioStudyView::buildSide() {
    auto* w = new QWidget;
    auto* col = new QVBoxLayout(w);
    col->setContentsMargins(0, 0, 0, 0);
    tree_ = new CoronaryTreeView;
    col->addWidget(tree_, 3);
    auto* exportRow = new QHBoxLayout;
    auto* exportTree = new QPushButton(tr("Export tree…"));
    exportTree->setObjectName("angioExportTree");
    exportRow->addStretch();
    exportRow->addWidget(exportTree);
    col->addLayout(exportRow);
    segmentTitle_ = new QLabel(tr("Click a segment"));
    segmentTitle_->setObjectName("angioSegmentTitle");
    col->addWidget(segmentTitle_);
    // The clicked segment's predictions and the views ranked by attention share one tabbed
    // box, so the page fits a 1366 x 768 screen.
    auto* tabs = new QTabWidget;
    tabs->setObjectName("angioSideTabs");
    segmentTable_ = new QTableWidget(int(kHeads.size()), 4);
    segmentTable_->setObjectName("angioSegmentTable");
    segmentTable_->setHorizontalHeaderLabels({tr("Head"), tr("New"), tr("Baseline"), tr("Δ")});
    segmentTable_->verticalHeader()->hide();
    segmentTable_->verticalHeader()->setDefaultSectionSize(22);
    segmentTable_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    segmentTable_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    tabs->addTab(segmentTable_, tr("Segment"));
    ranking_ = new QListWidget;
    ranking_->setObjectName("angioRanking");
    tabs->addTab(ranking_, tr("Views by attention"));
    tabs->setMinimumHeight(120);
    tabs->setMaximumHeight(160);
    col->addWidget(tabs);
    connect(tree_, &CoronaryTreeView::segmentClicked, this, [this](const QString& segment) {
        fillSegment();
        // The clicked segment's stenosis CAM, when inference computed one for this study.
        const std::string column = segment.toStdString() + "_stenosis_binary";
        if (current_ >= 0 && records_[std::size_t(current_)].cams.count(column))
            showCam(QString::fromStdString(column));
    });
    connect(exportTree, &QPushButton::clicked, this, [this] {
        const QString f = saveFileDialog(this, tr("Export the coronary tree"), QFileInfo(file_).path(),
                                         tr("SVG (*.svg);;PNG (*.png)"));
        if (f.isEmpty()) return;
        QString error;
        const bool ok =
            f.endsWith(".png", Qt::CaseInsensitive) ? tree_->exportPng(f, &error) : tree_->exportSvg(f, &error);
        setStatus(ok ? tr("Tree written to %1").arg(f) : error, !ok);
    });
    connect(ranking_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row < 0 || !ranking_->item(row)) return;
        const int tile = ranking_->item(row)->data(Qt::UserRole).toInt();
        for (int i = 0; i < int(tiles_.size()); ++i) tiles_[std::size_t(i)]->setTopAttention(i == tile);
    });
    return w;
}

bool AngioStudyView::openPredictions(const QString& file) {
    try {
        auto read = readAngioPredictions(file);
        records_ = std::move(read.studies);
        untrained_ = std::move(read.untrained);
    } catch (const std::exception& e) {
        setStatus(QString::fromUtf8(e.what()), true);
        return false;
    }
    file_ = file;
    fileLabel_->setText(file);
    {
        syncing_ = true;
        studyBox_->clear();
        for (const auto& r : records_) studyBox_->addItem(r.id);
        syncing_ = false;
    }
    const std::size_t untrained = untrained_.size();
    setStatus(tr("%1 studies in %2").arg(records_.size()).arg(QFileInfo(file).fileName()) +
              (untrained ? tr("; %1 columns had no label in training: shown grey, \"untrained\"").arg(untrained)
                         : QString()));
    current_ = -1;
    showStudy(records_.empty() ? -1 : 0);
    return true;
}

bool AngioStudyView::openBaseline(const QString& file) {
    if (file.isEmpty()) {
        setBaseline(nullptr);
        return true;
    }
    try {
        setBaseline(std::make_shared<data::NumericTable>(data::readNumericCsv(file.toStdString())));
    } catch (const std::exception& e) {
        setStatus(QString::fromUtf8(e.what()), true);
        return false;
    }
    setStatus(tr("Baseline: %1").arg(file));
    return true;
}

void AngioStudyView::setBaseline(std::shared_ptr<const data::NumericTable> table) {
    baseline_ = std::move(table);
    fillSegment();
}

QStringList AngioStudyView::studies() const {
    QStringList out;
    for (const auto& r : records_) out << r.id;
    return out;
}

bool AngioStudyView::hasStudy(const QString& id) const { return studies().contains(id); }

bool AngioStudyView::selectStudy(const QString& id) {
    const int i = int(studies().indexOf(id));
    if (i < 0) return false;
    showStudy(i);
    return true;
}

QString AngioStudyView::currentStudy() const { return current_ >= 0 ? records_[std::size_t(current_)].id : QString(); }

void AngioStudyView::showStudy(int index) {
    pause();
    for (auto* t : tiles_) t->deleteLater();
    tiles_.clear();
    current_ = index;
    ++generation_;
    if (index < 0 || index >= int(records_.size())) {
        tree_->setPredictions({});
        ranking_->clear();
        fillSegment();
        return;
    }
    syncing_ = true;
    studyBox_->setCurrentIndex(index);
    syncing_ = false;
    const auto& r = records_[std::size_t(index)];
    const int columns = r.views.size() <= 1 ? 1 : 2;
    double best = -1;
    int bestTile = -1;
    for (std::size_t v = 0; v < r.views.size(); ++v) {
        auto* tile = new CineTile(r.views[v], int(v) + 1, gridHost_);
        tile->setWindow(center_->value(), width_->value());
        grid_->addWidget(tile, int(v) / columns, int(v) % columns);
        tiles_.push_back(tile);
        if (r.views[v].attention > best) best = r.views[v].attention, bestTile = int(v);
    }
    if (bestTile >= 0) tiles_[std::size_t(bestTile)]->setTopAttention(true);
    syncing_ = true;
    camBox_->clear();
    camBox_->addItem(r.cams.empty() ? tr("none computed") : tr("none"), QString());
    for (const auto& [column, cam] : r.cams)
        camBox_->addItem(QString::fromStdString(column) + (untrained_.count(column) ? tr(" (untrained)") : QString()),
                         QString::fromStdString(column));
    camBox_->setEnabled(!r.cams.empty());
    syncing_ = false;
    tree_->setPredictions(r.predictions);
    tree_->setUntrained(untrained_);
    // Nothing chosen yet: open on the segment with the most severe predicted narrowing of a
    // trained head (a segment the user clicked stays selected from study to study).
    if (tree_->selectedSegment().isEmpty()) tree_->setSelectedSegment(mostSevereSegment(r, untrained_));
    fillRanking();
    fillSegment();
    setTimeMs(0);
    // Read the cines off the GUI thread; each tile fills in as its file arrives.
    pendingLoads_ = int(r.views.size());
    const quint64 generation = generation_;
    QPointer<QObject> self(this);
    for (std::size_t v = 0; v < r.views.size(); ++v) {
        const QString file = r.views[v].file;
        (void)QtConcurrent::run([self, file, v, generation] {
            std::shared_ptr<const io::ImageVolume> volume;
            QString error;
            try {
                volume = std::make_shared<io::ImageVolume>(io::readMedia(file.toStdString()).volume);
            } catch (const std::exception& e) {
                error = QString::fromUtf8(e.what());
            }
            onGuiThread(self, [self, volume, error, v, generation] {
                auto* s = static_cast<AngioStudyView*>(self.data());
                if (generation != s->generation_ || v >= s->tiles_.size()) return;
                if (volume) s->tiles_[v]->setVolume(volume);
                else s->tiles_[v]->setError(error);
                if (!error.isEmpty()) s->setStatus(error, true);
                s->setTimeMs(s->timeMs_);  // the slider's range follows the longest cine
                if (--s->pendingLoads_ == 0) emit s->studyShown(s->currentStudy());
            });
        });
    }
    if (r.views.empty()) emit studyShown(r.id);
}

void AngioStudyView::fillRanking() {
    ranking_->clear();
    if (current_ < 0) return;
    const auto& views = records_[std::size_t(current_)].views;
    std::vector<int> order(views.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return views[std::size_t(a)].attention > views[std::size_t(b)].attention; });
    for (const int v : order) {
        const auto& view = views[std::size_t(v)];
        auto* item = new QListWidgetItem(tr("%1  View %2 · %3")
                                             .arg(view.attention, 0, 'f', 3)
                                             .arg(v + 1)
                                             .arg(view.projection.isEmpty() ? view.path : view.projection));
        item->setData(Qt::UserRole, v);
        item->setToolTip(view.file);
        ranking_->addItem(item);
    }
}

void AngioStudyView::selectSegment(const QString& segment) {
    tree_->setSelectedSegment(segment);
    fillSegment();
}

void AngioStudyView::fillSegment() {
    const QString seg = tree_->selectedSegment();
    const bool have = current_ >= 0 && !seg.isEmpty();
    segmentTitle_->setText(have ? QString::fromStdString(data::humanLabelName(seg.toStdString())) +
                                      (baseline_ ? tr(" — new beside baseline") : QString())
                                : tr("Click a segment of the tree"));
    std::optional<std::uint32_t> baseRow;
    if (have && baseline_) baseRow = baseline_->findRow(currentStudy().toStdString());
    for (int h = 0; h < int(kHeads.size()); ++h) {
        const std::string column = seg.toStdString() + "_" + kHeads[std::size_t(h)].first;
        const bool percent = h == 0;
        double now = NAN, before = NAN;
        bool untrained = false;
        if (have) {
            const auto& r = records_[std::size_t(current_)];
            if (auto it = r.predictions.find(column); it != r.predictions.end()) now = it->second;
            untrained = untrained_.count(column) > 0;
            if (baseRow) {
                const int c = baseline_->columnIndex(column);
                if (c >= 0) before = baseline_->values[std::size_t(c)][*baseRow];
            }
        }
        // An untrained head's value is in preds.csv (the audit compares it) but means nothing.
        const QStringList cells = {QString::fromUtf8(kHeads[std::size_t(h)].second),
                                   untrained ? tr("untrained") : fmt(now, percent), fmt(before, percent),
                                   untrained ? QStringLiteral("–") : fmt(now - before, percent)};
        for (int c = 0; c < 4; ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            if (c > 0) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            if (untrained) {
                item->setForeground(palette().color(QPalette::Disabled, QPalette::Text));
                item->setToolTip(tr("%1 had no label in training: its value %2 is written to preds.csv but untrained")
                                     .arg(QString::fromStdString(column), fmt(now, percent)));
            }
            segmentTable_->setItem(h, c, item);
        }
    }
}

void AngioStudyView::play() {
    if (tiles_.empty()) return;
    lastTick_ = QDateTime::currentMSecsSinceEpoch();
    timer_->start();
    const QSignalBlocker quiet(playButton_);
    playButton_->setChecked(true);
    playButton_->setText(tr("Pause"));
}

void AngioStudyView::pause() {
    timer_->stop();
    const QSignalBlocker quiet(playButton_);
    playButton_->setChecked(false);
    playButton_->setText(tr("Play"));
}

bool AngioStudyView::isPlaying() const { return timer_->isActive(); }

void AngioStudyView::tick() {
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const double duration = durationMs();
    double t = timeMs_ + double(now - lastTick_);
    lastTick_ = now;
    if (duration > 0) t = std::fmod(t, duration);
    setTimeMs(t);
}

double AngioStudyView::durationMs() const {
    double d = 0;
    for (const auto* t : tiles_) d = std::max(d, t->durationMs());
    return d;
}

void AngioStudyView::setTimeMs(double ms) {
    timeMs_ = std::max(0.0, ms);
    for (auto* t : tiles_) t->setTimeMs(timeMs_);
    syncing_ = true;
    timeSlider_->setRange(0, int(std::ceil(durationMs())));
    timeSlider_->setValue(int(timeMs_));
    syncing_ = false;
    timeLabel_->setText(tr("%1 / %2 s").arg(timeMs_ / 1000, 0, 'f', 2).arg(durationMs() / 1000, 0, 'f', 2));
}

void AngioStudyView::setWindow(double center, double width) {
    syncing_ = true;
    center_->setValue(center);
    width_->setValue(std::max(1.0, width));
    syncing_ = false;
    for (auto* t : tiles_) t->setWindow(center, std::max(1.0, width));
}

QString AngioStudyView::statusText() const { return status_->text(); }

void AngioStudyView::setStatus(const QString& text, bool error) {
    status_->setText(text);
    status_->setStyleSheet(error ? "color: #c0392b;" : QString());
}

bool AngioStudyView::showCam(const QString& column) {
    if (current_ < 0) return false;
    for (auto* t : tiles_) t->setCam({}, 0, 0, 0, 0, 1, 0);
    if (column.isEmpty()) return true;
    const auto& r = records_[std::size_t(current_)];
    const auto it = r.cams.find(column.toStdString());
    if (it == r.cams.end()) {
        setStatus(tr("Study %1 has no CAM of %2").arg(r.id, column), true);
        return false;
    }
    const auto& cam = it->second;
    try {
        const auto a = io::readNpy(cam.file.toStdString());
        if (a.shape.size() != 4 || a.shape[0] != cam.viewSlots.size())
            throw std::runtime_error(cam.file.toStdString() + ": expected (" + std::to_string(cam.viewSlots.size()) +
                                     " views, t, h, w)");
        const std::size_t each = a.shape[1] * a.shape[2] * a.shape[3];
        for (std::size_t i = 0; i < cam.viewSlots.size(); ++i) {
            if (cam.viewSlots[i] < 0 || std::size_t(cam.viewSlots[i]) >= tiles_.size()) continue;
            tiles_[std::size_t(cam.viewSlots[i])]->setCam(
                std::vector<float>(a.values.begin() + std::ptrdiff_t(i * each),
                                   a.values.begin() + std::ptrdiff_t((i + 1) * each)),
                int(a.shape[1]), int(a.shape[2]), int(a.shape[3]), cam.clipStarts[i], cam.stride, cam.frames);
        }
    } catch (const std::exception& e) {
        setStatus(QString::fromStdString(e.what()), true);
        return false;
    }
    // Paused, the clock moves to the first view's clip so the overlay is on screen.
    if (!isPlaying() && !cam.viewSlots.empty() && cam.viewSlots[0] >= 0 &&
        std::size_t(cam.viewSlots[0]) < tiles_.size())
        setTimeMs(cam.clipStarts[0] * tiles_[std::size_t(cam.viewSlots[0])]->frameTimeMs());
    const QSignalBlocker quiet(camBox_);
    camBox_->setCurrentIndex(std::max(0, camBox_->findData(column)));
    setStatus(
        tr("Grad-CAM of %1 over the clip's frames (%2 frames, stride %3)").arg(column).arg(cam.frames).arg(cam.stride));
    return true;
}

}  // namespace lumen::widgets
