#include "study_browser.h"
#include "gui_thread.h"

#include "data/media_index.h"
#include "data/study_table.h"
#include "plugin/task_kit.h"

#include "faithfulness_plot.h"
#include "overlay_view.h"
#include "study_boxes.h"
#include "study_table_model.h"

#include "data/column_names.h"
#include "explain/heatmap.h"
#include "explain/localisation.h"
#include "io/media_reader.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include "file_dialogs.h"
#include <QFileInfo>
#include <QGridLayout>
#include <QItemSelectionModel>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <unordered_map>

namespace fs = std::filesystem;

namespace lumen::widgets {

struct StudyLoad {
    QString id;
    quint64 generation = 0;
    std::vector<std::shared_ptr<const io::ImageVolume>> volumes;
    QStringList names;
    QStringList errors;
    QImage mask;
    QString maskFile;
    std::vector<std::size_t> heatShape;
    std::vector<float> heat;
    QString camText;
};

namespace {

constexpr int kRowRole = Qt::UserRole + 1;
enum Column { kStudy, kScore, kBaseline, kDiff, kFaith, kMaxDiff, kColumns };

}  // namespace

namespace {

// The ROI-consistency engine names masks after the image id's stem made safe (plugin::safeName).
std::string roiStem(const std::string& id) { return plugin::safeName(fs::path(id).stem().string()); }

QString number(double v, int decimals = 4) {
    if (std::isnan(v)) return QStringLiteral("—");
    return QString::number(v, 'f', decimals);
}

struct LoadRequest {
    QString id;
    quint64 generation = 0;
    QString camLabel;
    QFuture<std::shared_ptr<const data::MediaIndex>> index;
    QString roiFolder, camCache, mediaRoot;
    std::shared_ptr<const StudyLoad> previous;  ///< same id: its images are reused
};

StudyLoad loadStudy(const LoadRequest& r) {
    StudyLoad out;
    out.id = r.id;
    out.generation = r.generation;
    const std::string id = r.id.toStdString();
    if (r.previous && r.previous->id == r.id) {
        out.volumes = r.previous->volumes;
        out.names = r.previous->names;
        out.errors = r.previous->errors;
    } else if (!r.mediaRoot.isEmpty()) {
        const auto index = r.index.result();
        const auto files = index ? index->lookup(id) : std::vector<fs::path>{};
        if (files.empty()) out.errors << QObject::tr("no image named like %1 under %2").arg(r.id, r.mediaRoot);
        for (const auto& f : files) {
            try {
                auto media = io::readMedia(f);
                out.volumes.push_back(std::make_shared<io::ImageVolume>(std::move(media.volume)));
                out.names << QString::fromStdString(f.filename().string());
            } catch (const std::exception& e) {
                out.errors << QString::fromUtf8(e.what());
            }
        }
    }
    if (!r.roiFolder.isEmpty()) {
        const QString file = QDir(r.roiFolder).filePath(QString::fromStdString(roiStem(id)) + "_mask.png");
        if (QFileInfo::exists(file)) {
            out.mask = QImage(file);
            out.maskFile = file;
            if (out.mask.isNull()) out.errors << QObject::tr("%1: not a readable PNG").arg(file);
        }
    }
    if (!r.camCache.isEmpty() && !r.camLabel.isEmpty()) {
        try {
            const auto cache = explain::readCamCache(r.camCache.toStdString());
            const auto* e = cache.find(id, r.camLabel.toStdString());
            if (!e) {
                out.camText = QObject::tr("no CAM of %1 for this study in the cache").arg(r.camLabel);
            } else {
                auto h = explain::loadCam(*e);
                if (!out.volumes.empty()) {
                    const auto& v = *out.volumes.front();
                    std::vector<std::size_t> target{std::size_t(v.rows), std::size_t(v.columns)};
                    if (h.shape.size() == 3) {
                        // Trilinear to every slice unless that gets large; else in-plane only.
                        const std::size_t depth = std::size_t(v.time * v.depth);
                        const bool full = depth * target[0] * target[1] <= (std::size_t(1) << 25);
                        target.insert(target.begin(), full ? depth : h.shape[0]);
                    }
                    if (h.shape.size() == 2 && v.rows != v.columns && e->inputH && e->inputW)
                        h = explain::camOnImage(h, e->inputH, e->inputW, target[0], target[1]);
                    else h = explain::upsample(h, target);
                }
                h = explain::normalised(h);
                out.heatShape = h.shape;
                out.heat = std::move(h.values);
                QString text = QObject::tr("CAM of %1: %2 at %3, raw %4…%5")
                                   .arg(QString::fromStdString(e->label),
                                        QString::fromStdString(cache.method.empty() ? "Grad-CAM" : cache.method),
                                        QString::fromStdString(cache.layer.empty() ? "?" : cache.layer))
                                   .arg(e->rawMin, 0, 'g', 3)
                                   .arg(e->rawMax, 0, 'g', 3);
                if (e->prob) text += QObject::tr(", P %1").arg(*e->prob, 0, 'f', 3);
                if (e->probDrop) text += QObject::tr(", P without the top CAM region %1").arg(*e->probDrop, 0, 'f', 3);
                out.camText = text;
            }
        } catch (const std::exception& e) {
            out.errors << QString::fromUtf8(e.what());
        }
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
StudyBrowser::StudyBrowser(QWidget* parent) : QWidget(parent) {
    setObjectName("studyBrowser");
    buildUi();
}

StudyBrowser::~StudyBrowser() = default;

void StudyBrowser::buildUi() {
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(buildFileRow());
    auto* split = new QSplitter(Qt::Horizontal);
    layout->addWidget(split, 1);
    status_ = new QLabel;
    status_->setObjectName("studyStatus");
    status_->setWordWrap(true);
    layout->addWidget(status_);
    split->addWidget(buildStudyList());
    split->addWidget(buildStudyView());
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    split->setSizes({620, 880});
    connectControls();
    for (QWidget* w : std::initializer_list<QWidget*>{table_, predictionsTable_, overlay_->canvas(), this})
        w->installEventFilter(this);
    setStatus(tr("Open a predictions CSV (and a baseline) to list its studies."));
}

// The buttons that choose the tables and the folders images, masks and CAMs come from.
QHBoxLayout* StudyBrowser::buildFileRow() {
    auto* files = new QHBoxLayout;
    auto* openPredictions = new QPushButton(tr("Predictions…"));
    auto* openBaseline = new QPushButton(tr("Baseline…"));
    auto* openImages = new QPushButton(tr("Images folder…"));
    auto* openMasks = new QPushButton(tr("Masks folder…"));
    auto* openCam = new QPushButton(tr("CAM cache…"));
    auto* evaluate = new QPushButton(tr("Evaluate against boxes…"));
    evaluate->setObjectName("studyEvaluateBoxes");
    evaluate->setToolTip(tr("Pointing game, IoU and AP of the CAM cache against annotated boxes, with a control"));
    for (auto* b : {openPredictions, openBaseline, openImages, openMasks, openCam, evaluate}) files->addWidget(b);
    connect(evaluate, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, tr("Boxes CSV (image,finding,x,y,w,h or BBox_List_2017.csv)"),
                                         boxesFile_, tr("CSV (*.csv)"));
        if (!f.isEmpty()) evaluateBoxes(f);
    });
    files->addStretch(1);
    connect(openPredictions, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, tr("Predictions CSV"), {}, tr("CSV (*.csv)"));
        if (!f.isEmpty()) openTables(f, base_ ? QString::fromStdString(base_->path.string()) : QString());
    });
    connect(openBaseline, &QPushButton::clicked, this, [this] {
        if (!new_) {
            setStatus(tr("Open the predictions first"), true);
            return;
        }
        const QString f = openFileDialog(this, tr("Baseline CSV"), {}, tr("CSV (*.csv)"));
        if (!f.isEmpty()) openTables(QString::fromStdString(new_->path.string()), f);
    });
    connect(openImages, &QPushButton::clicked, this, [this] {
        const QString d = folderDialog(this, tr("Folder with the studies' images"), mediaRoot_);
        if (!d.isEmpty()) setMediaRoot(d);
    });
    connect(openMasks, &QPushButton::clicked, this, [this] {
        const QString d = folderDialog(this, tr("Folder with <id>_mask.png (roi_vis)"), roiFolder_);
        if (!d.isEmpty()) setRoiFolder(d);
    });
    connect(openCam, &QPushButton::clicked, this, [this] {
        const QString d = folderDialog(this, tr("CAM cache folder (cache/cam/<key>)"), camCache_);
        if (!d.isEmpty()) setCamCache(d);
    });
    return files;
}

// The label chooser and the filters above the table.
QGridLayout* StudyBrowser::buildFilters() {
    auto* filters = new QGridLayout;
    labelBox_ = new QComboBox;
    labelBox_->setObjectName("studyLabel");
    labelBox_->setMinimumContentsLength(18);
    labelBox_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    idFilter_ = new QLineEdit;
    idFilter_->setObjectName("studyIdFilter");
    idFilter_->setPlaceholderText(tr("id contains…"));
    idFilter_->setClearButtonEnabled(true);
    auto spin = [](const char* name, double lo, double hi, double value) {
        auto* s = new QDoubleSpinBox;
        s->setObjectName(name);
        s->setDecimals(3);
        s->setRange(lo, hi);
        s->setSingleStep(0.05);
        s->setValue(value);
        return s;
    };
    scoreBox_ = new QCheckBox(tr("score in"));
    scoreBox_->setObjectName("studyScoreFilter");
    scoreMin_ = spin("studyScoreMin", -1e9, 1e9, 0);
    scoreMax_ = spin("studyScoreMax", -1e9, 1e9, 1);
    faithBox_ = new QCheckBox(tr("faithfulness <"));
    faithBox_->setObjectName("studyFaithFilter");
    faithSpin_ = spin("studyFaithBelow", -1, 1, 0.1);
    diffBox_ = new QCheckBox(tr("|new − baseline| >"));
    diffBox_->setObjectName("studyDiffFilter");
    diffSpin_ = spin("studyDiffAbove", 0, 1e9, 0.01);
    diffSpin_->setDecimals(4);
    diffSpin_->setSingleStep(0.001);
    diffScope_ = new QComboBox;
    diffScope_->setObjectName("studyDiffScope");
    diffScope_->addItems({tr("in this label"), tr("in any column")});
    count_ = new QLabel;
    count_->setObjectName("studyCount");
    filters->addWidget(new QLabel(tr("Label")), 0, 0);
    filters->addWidget(labelBox_, 0, 1, 1, 3);
    filters->addWidget(idFilter_, 0, 4);
    filters->addWidget(scoreBox_, 1, 0);
    filters->addWidget(scoreMin_, 1, 1);
    filters->addWidget(new QLabel(tr("…")), 1, 2);
    filters->addWidget(scoreMax_, 1, 3);
    filters->addWidget(count_, 1, 4);
    filters->addWidget(faithBox_, 2, 0);
    filters->addWidget(faithSpin_, 2, 1);
    filters->addWidget(diffBox_, 3, 0);
    filters->addWidget(diffSpin_, 3, 1);
    filters->addWidget(diffScope_, 3, 2, 1, 2);
    filters->setColumnStretch(4, 1);
    return filters;
}

// Left: filters, the studies (a view of the core's join through a sort/filter proxy), and
// the faithfulness plot.
QSplitter* StudyBrowser::buildStudyList() {
    auto* left = new QSplitter(Qt::Vertical);
    auto* top = new QWidget;
    auto* topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addLayout(buildFilters());
    model_ = new StudyTableModel(study_, this);
    proxy_ = new StudyFilterProxy(study_, model_, this);
    table_ = new QTableView;
    table_->setObjectName("studyTable");
    table_->setModel(proxy_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setDefaultSectionSize(22);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setSortingEnabled(true);
    table_->sortByColumn(StudyTableModel::kStudy, Qt::AscendingOrder);
    topLayout->addWidget(table_, 1);
    left->addWidget(top);
    plot_ = new FaithfulnessPlot;
    left->addWidget(plot_);
    left->setStretchFactor(0, 3);
    left->setStretchFactor(1, 2);
    return left;
}

// Right: the study's images with overlays, its CAM and faithfulness, every prediction.
QSplitter* StudyBrowser::buildStudyView() {
    auto* right = new QSplitter(Qt::Vertical);
    auto* studyTop = new QWidget;
    auto* studyLayout = new QVBoxLayout(studyTop);
    studyLayout->setContentsMargins(0, 0, 0, 0);
    auto* head = new QHBoxLayout;
    title_ = new QLabel(tr("Select a study"));
    title_->setObjectName("studyTitle");
    title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    viewBox_ = new QComboBox;
    viewBox_->setObjectName("studyView");
    viewBox_->setVisible(false);
    head->addWidget(title_, 1);
    head->addWidget(viewBox_);
    studyLayout->addLayout(head);
    overlay_ = new OverlayView;
    studyLayout->addWidget(overlay_, 1);
    camInfo_ = new QLabel;
    camInfo_->setObjectName("studyCamInfo");
    camInfo_->setWordWrap(true);
    studyLayout->addWidget(camInfo_);
    faith_ = new QLabel;
    faith_->setObjectName("studyFaith");
    faith_->setWordWrap(true);
    studyLayout->addWidget(faith_);
    right->addWidget(studyTop);
    predictionsTable_ = new QTableWidget(0, 4);
    predictionsTable_->setObjectName("studyPredictions");
    predictionsTable_->setHorizontalHeaderLabels({tr("Prediction"), tr("New"), tr("Baseline"), tr("New − baseline")});
    predictionsTable_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    predictionsTable_->verticalHeader()->setVisible(false);
    predictionsTable_->verticalHeader()->setDefaultSectionSize(20);
    predictionsTable_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    right->addWidget(predictionsTable_);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 1);
    return right;
}

void StudyBrowser::connectControls() {
    connect(labelBox_, &QComboBox::currentIndexChanged, this, [this] {
        if (updating_) return;
        fillTable();
        if (const auto* c = choice()) plot_->setLabel(QString::fromStdString(c->key));
        if (!current_.isEmpty()) {
            if (const auto row = new_ ? new_->findRow(current_.toStdString()) : std::nullopt)
                fillPredictions(int(*row));
            if (!camCache_.isEmpty()) startLoad(current_);
        }
    });
    connect(plot_, &FaithfulnessPlot::labelChanged, this, [this](const QString& l) {
        if (!updating_ && l != label()) setLabel(l);
    });
    connect(plot_, &FaithfulnessPlot::studyClicked, this, [this](const QString& id) { selectStudy(id); });
    // Editing a bound switches its filter on.
    auto arm = [this](QCheckBox* box) {
        return [this, box] {
            if (updating_) return;
            if (!box->isChecked()) box->setChecked(true);  // applies through toggled
            else applyFilter();
        };
    };
    connect(scoreMin_, &QDoubleSpinBox::valueChanged, this, arm(scoreBox_));
    connect(scoreMax_, &QDoubleSpinBox::valueChanged, this, arm(scoreBox_));
    connect(faithSpin_, &QDoubleSpinBox::valueChanged, this, arm(faithBox_));
    connect(diffSpin_, &QDoubleSpinBox::valueChanged, this, arm(diffBox_));
    connect(diffScope_, &QComboBox::currentIndexChanged, this, arm(diffBox_));
    for (auto* box : {scoreBox_, faithBox_, diffBox_})
        connect(box, &QCheckBox::toggled, this, [this] {
            if (!updating_) applyFilter();
        });
    connect(idFilter_, &QLineEdit::textChanged, this, [this] { applyFilter(); });
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this] { onCurrentRowChanged(); });
    connect(viewBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (!updating_) showView(i);
    });
}

bool StudyBrowser::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::KeyPress) {
        const int key = static_cast<QKeyEvent*>(event)->key();
        if (key == Qt::Key_PageDown || key == Qt::Key_J) {
            nextStudy();
            return true;
        }
        if (key == Qt::Key_PageUp || key == Qt::Key_K) {
            previousStudy();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

// ---------------------------------------------------------------------------------------------
void StudyBrowser::openTables(const QString& predictions, const QString& baseline) {
    setStatus(tr("Reading %1…").arg(predictions));
    const QFileInfo info(predictions);
    if (QFileInfo(info.dir().filePath("roi_vis")).isDir() && roiFolder_.isEmpty())
        setRoiFolder(info.dir().filePath("roi_vis"));
    QPointer<QObject> self(this);
    (void)QtConcurrent::run([self, predictions, baseline] {
        std::shared_ptr<const data::NumericTable> n, b;
        QString error;
        try {
            n = std::make_shared<data::NumericTable>(data::readNumericCsv(predictions.toStdString()));
            if (!baseline.isEmpty())
                b = std::make_shared<data::NumericTable>(data::readNumericCsv(baseline.toStdString()));
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        }
        onGuiThread(self, [self, n, b, error] {
            auto* s = static_cast<StudyBrowser*>(self.data());
            if (!error.isEmpty()) {
                {
                    // The tables shown were other files': cleared (quietly: this is no load).
                    const QSignalBlocker quiet(s);
                    s->setTables(nullptr, nullptr);
                }
                s->overlay_->clear(StudyBrowser::tr("Not shown: the predictions could not be read"));
                s->setStatus(error, true);
                emit s->loadFailed(error);
                return;
            }
            s->setTables(n, b);
        });
    });
}

void StudyBrowser::setTables(std::shared_ptr<const data::NumericTable> predictions,
                             std::shared_ptr<const data::NumericTable> baseline) {
    new_ = std::move(predictions);
    base_ = std::move(baseline);
    study_.set(new_, base_);
    rebuildChoices();
    plot_->setTable(new_);
    plot_->setVisible(!plot_->labels().isEmpty());  // only ROI tables have P(full) / P(drop)
    if (const auto* c = choice()) plot_->setLabel(QString::fromStdString(c->key));
    fillTable();
    const int shared = study_.sharedIds();
    QString text = new_ ? tr("%1: %2 studies, %3 columns")
                              .arg(QString::fromStdString(new_->path.filename().string()))
                              .arg(new_->rowCount())
                              .arg(new_->columns.size())
                        : tr("No predictions");
    if (base_)
        text +=
            tr(" · baseline %1: %2 shared ids").arg(QString::fromStdString(base_->path.filename().string())).arg(shared);
    tableStatus_ = text;
    setStatus(text);
    emit tablesLoaded(new_ ? int(new_->rowCount()) : 0);
    const QString pending = std::exchange(pendingSelection_, QString());
    if (!pending.isEmpty()) selectStudy(pending);
    else if (!current_.isEmpty() && new_ && new_->findRow(current_.toStdString()))
        selectStudy(std::exchange(current_, QString()));  // re-shown with the new tables' values
    else if (proxy_->rowCount() > 0)
        table_->setCurrentIndex(proxy_->index(0, StudyTableModel::kStudy));  // something to look at straight away
}

void StudyBrowser::rebuildChoices() {
    const QString previous = label();
    updating_ = true;
    labelBox_->clear();
    for (const auto& c : study_.choices())
        labelBox_->addItem(QString::fromStdString(c.name), QString::fromStdString(c.key));
    const int keep = labelBox_->findData(previous);
    labelBox_->setCurrentIndex(keep >= 0 ? keep : 0);
    updating_ = false;
}

QStringList StudyBrowser::labels() const {
    QStringList out;
    for (const auto& c : study_.choices()) out << QString::fromStdString(c.key);
    return out;
}

bool StudyBrowser::setLabel(const QString& label) {
    const int i = labelBox_->findData(label);
    if (i < 0) return false;
    labelBox_->setCurrentIndex(i);
    return true;
}

QString StudyBrowser::label() const { return labelBox_->currentData().toString(); }

const data::StudyTable::Choice* StudyBrowser::choice() const {
    const int i = labelBox_->currentIndex();
    const auto& choices = study_.choices();
    return i >= 0 && i < int(choices.size()) ? &choices[std::size_t(i)] : nullptr;
}

void StudyBrowser::fillTable() {
    const QString keep = current_;
    updating_ = true;
    const auto* c = choice();
    model_->setChoice(c ? std::optional(*c) : std::nullopt);
    if (new_ && c) {
        table_->setColumnHidden(StudyTableModel::kBaseline, !base_);
        table_->setColumnHidden(StudyTableModel::kDiff, !base_);
        table_->setColumnHidden(StudyTableModel::kMaxDiff, !base_);
        table_->setColumnHidden(StudyTableModel::kFaith, c->faith < 0 && (c->full < 0 || c->drop < 0));
        fitScoreBounds(*c);
    }
    table_->resizeColumnsToContents();
    updating_ = false;
    applyFilter();
    // Keep the selected study selected (its row moved).
    if (const QModelIndex at = proxyIndexOf(keep); at.isValid()) {
        updating_ = true;
        table_->setCurrentIndex(at);
        updating_ = false;
    }
}

// The score filter's bounds follow the label: probabilities 0..1, percentages 0..100,
// anything else its own range.
void StudyBrowser::fitScoreBounds(const data::StudyTable::Choice& c) {
    const auto& scores = new_->values[std::size_t(c.score)];
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const double v : scores)
        if (!std::isnan(v)) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    if (lo > hi) return;
    const double a = std::floor(std::min(lo, 0.0)), z = hi <= 1 ? 1.0 : hi <= 100 ? 100.0 : std::ceil(hi);
    scoreMin_->setValue(a);
    scoreMax_->setValue(z);
    scoreMin_->setSingleStep((z - a) / 20);
    scoreMax_->setSingleStep((z - a) / 20);
}

QModelIndex StudyBrowser::proxyIndexOf(const QString& id) const {
    if (!new_ || id.isEmpty()) return {};
    const auto row = new_->findRow(id.toStdString());
    if (!row) return {};
    return proxy_->mapFromSource(model_->index(int(*row), StudyTableModel::kStudy));
}

StudyFilter StudyBrowser::filter() const {
    StudyFilter f;
    if (scoreBox_->isChecked()) {
        f.scoreMin = scoreMin_->value();
        f.scoreMax = scoreMax_->value();
    }
    if (faithBox_->isChecked()) f.faithfulnessBelow = faithSpin_->value();
    if (diffBox_->isChecked()) f.diffAbove = diffSpin_->value();
    f.diffAnyColumn = diffScope_->currentIndex() == 1;
    f.idContains = idFilter_->text().trimmed();
    return f;
}

void StudyBrowser::setFilter(const StudyFilter& f) {
    updating_ = true;
    scoreBox_->setChecked(f.scoreMin || f.scoreMax);
    if (f.scoreMin) scoreMin_->setValue(*f.scoreMin);
    if (f.scoreMax) scoreMax_->setValue(*f.scoreMax);
    if (!f.scoreMax && f.scoreMin) scoreMax_->setValue(scoreMax_->maximum());
    if (!f.scoreMin && f.scoreMax) scoreMin_->setValue(scoreMin_->minimum());
    faithBox_->setChecked(f.faithfulnessBelow.has_value());
    if (f.faithfulnessBelow) faithSpin_->setValue(*f.faithfulnessBelow);
    diffBox_->setChecked(f.diffAbove.has_value());
    if (f.diffAbove) diffSpin_->setValue(*f.diffAbove);
    diffScope_->setCurrentIndex(f.diffAnyColumn ? 1 : 0);
    idFilter_->setText(f.idContains);
    updating_ = false;
    applyFilter();
}

void StudyBrowser::applyFilter() {
    if (updating_) return;
    const StudyFilter f = filter();
    proxy_->setFilter(
        {f.scoreMin, f.scoreMax, f.faithfulnessBelow, f.diffAbove, f.diffAnyColumn, f.idContains.toStdString()});
    count_->setText(tr("%1 of %2 studies").arg(proxy_->rowCount()).arg(model_->rowCount()));
}
int StudyBrowser::visibleRowCount() const { return proxy_->rowCount(); }
QStringList StudyBrowser::visibleStudies() const {
    QStringList out;
    for (int i = 0; i < proxy_->rowCount(); ++i) out << proxy_->index(i, StudyTableModel::kStudy).data().toString();
    return out;
}
// ---------------------------------------------------------------------------------------------
bool StudyBrowser::selectStudy(const QString& id) {
    if (!new_) {
        pendingSelection_ = id;
        return true;
    }
    if (!new_->findRow(id.toStdString())) {
        setStatus(tr("Study %1 is not in %2").arg(id, QString::fromStdString(new_->path.filename().string())), true);
        return false;
    }
    if (const QModelIndex at = proxyIndexOf(id); at.isValid()) {
        table_->setCurrentIndex(at);  // → onCurrentRowChanged → showStudy
        table_->scrollTo(at);
        if (current_ != id) showStudy(id);
        return true;
    }
    // Filtered out: show it anyway, with no row selected.
    updating_ = true;
    table_->clearSelection();
    table_->setCurrentIndex({});
    updating_ = false;
    showStudy(id);
    return true;
}
void StudyBrowser::nextStudy() {
    const int next = table_->currentIndex().isValid() ? table_->currentIndex().row() + 1 : 0;
    if (next < proxy_->rowCount()) table_->setCurrentIndex(proxy_->index(next, StudyTableModel::kStudy));
}
void StudyBrowser::previousStudy() {
    const int previous = (table_->currentIndex().isValid() ? table_->currentIndex().row() : proxy_->rowCount()) - 1;
    if (previous >= 0) table_->setCurrentIndex(proxy_->index(previous, StudyTableModel::kStudy));
}
void StudyBrowser::onCurrentRowChanged() {
    if (updating_) return;
    const QModelIndex at = table_->currentIndex();
    if (!at.isValid()) return;
    const QString id = proxy_->index(at.row(), StudyTableModel::kStudy).data().toString();
    if (id != current_) showStudy(id);
}
void StudyBrowser::showStudy(const QString& id) {
    current_ = id;
    const auto row = new_ ? new_->findRow(id.toStdString()) : std::nullopt;
    title_->setText(tr("<b>Study %1</b>").arg(id.toHtmlEscaped()));
    if (row) fillPredictions(int(*row));
    plot_->setHighlighted(id);
    emit studySelected(id);
    startLoad(id);
}

void StudyBrowser::fillPredictions(int row) {
    predictionsTable_->setRowCount(0);
    if (!new_) return;
    const auto* c = choice();
    const std::string groupLabel = c ? data::splitColumn(new_->columns[std::size_t(c->score)]).label : std::string();
    const int n = int(new_->columns.size());
    predictionsTable_->setRowCount(n);
    QFont bold = predictionsTable_->font();
    bold.setBold(true);
    for (int col = 0; col < n; ++col) {
        const double v = new_->values[std::size_t(col)][std::size_t(row)], b = study_.baselineOf(col, row);
        auto* name =
            new QTableWidgetItem(QString::fromStdString(data::humanColumnName(new_->columns[std::size_t(col)])));
        name->setToolTip(QString::fromStdString(new_->columns[std::size_t(col)]));
        predictionsTable_->setItem(col, 0, name);
        const int dp = study_.decimals(col);
        predictionsTable_->setItem(col, 1, new QTableWidgetItem(number(v, dp)));
        predictionsTable_->setItem(col, 2, new QTableWidgetItem(base_ ? number(b, dp) : QString()));
        predictionsTable_->setItem(col, 3, new QTableWidgetItem(base_ ? number(v - b, 4) : QString()));
        for (int k = 1; k < 4; ++k)
            predictionsTable_->item(col, k)->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        const bool mine =
            c && (col == c->score ||
                  (!groupLabel.empty() && data::splitColumn(new_->columns[std::size_t(col)]).label == groupLabel &&
                   c->full >= 0));
        if (mine)
            for (int k = 0; k < 4; ++k) predictionsTable_->item(col, k)->setFont(bold);
    }
    predictionsTable_->setColumnHidden(2, !base_);
    predictionsTable_->setColumnHidden(3, !base_);
    if (c && c->score >= 0)
        if (auto* item = predictionsTable_->item(c->score, 0)) predictionsTable_->scrollToItem(item);

    QString text;
    if (c) {
        const double f = study_.faithOf(*c, row);
        if (!std::isnan(f) || c->full >= 0) {
            text =
                tr("<b>%1</b>: faithfulness <b>%2</b>").arg(QString::fromStdString(c->name).toHtmlEscaped(), number(f));
            if (c->full >= 0)
                text += tr(" = P(full) %1 − P(drop) %2")
                            .arg(number(new_->values[std::size_t(c->full)][std::size_t(row)]),
                                 number(c->drop >= 0 ? new_->values[std::size_t(c->drop)][std::size_t(row)] : NAN));
            const int fc = c->faith >= 0 ? c->faith : -1;
            if (base_ && fc >= 0) text += tr(" (baseline %1)").arg(number(study_.baselineOf(fc, row)));
        } else {
            const double v = new_->values[std::size_t(c->score)][std::size_t(row)];
            const int dp = study_.decimals(c->score);
            text = tr("<b>%1</b>: %2").arg(QString::fromStdString(c->name).toHtmlEscaped(), number(v, dp));
            if (base_) text += tr(" (baseline %1)").arg(number(study_.baselineOf(c->score, row), dp));
        }
    }
    faith_->setText(text);
}

void StudyBrowser::startLoad(const QString& id) {
    LoadRequest r;
    r.id = id;
    r.generation = ++loadGeneration_;
    r.camLabel = choice() ? QString::fromStdString(choice()->camLabel) : QString();
    r.index = mediaIndex_;
    r.mediaRoot = mediaRoot_;
    r.roiFolder = roiFolder_;
    r.camCache = camCache_;
    r.previous = loaded_;
    if (!loaded_ || loaded_->id != id) overlay_->clear(tr("Loading %1…").arg(id));
    QPointer<QObject> self(this);
    (void)QtConcurrent::run([self, r] {
        auto load = std::make_shared<StudyLoad>(loadStudy(r));
        onGuiThread(self, [self, load] { static_cast<StudyBrowser*>(self.data())->applyLoad(*load); });
    });
}

void StudyBrowser::applyLoad(const StudyLoad& load) {
    if (load.generation != loadGeneration_) return;  // a newer selection is on its way
    loaded_ = std::make_shared<StudyLoad>(load);
    updating_ = true;
    const int keepView = viewBox_->currentIndex();
    viewBox_->clear();
    for (const auto& n : load.names) viewBox_->addItem(n);
    viewBox_->setVisible(load.names.size() > 1);
    viewBox_->setCurrentIndex(keepView >= 0 && keepView < viewBox_->count() && load.names.size() > 1 ? keepView : 0);
    updating_ = false;
    showView(std::max(0, viewBox_->currentIndex()));
    camInfo_->setText(load.camText);
    camInfo_->setVisible(!load.camText.isEmpty());
    if (!load.errors.isEmpty()) setStatus(tr("Study %1: %2").arg(load.id, load.errors.join("; ")), true);
    else setStatus(tableStatus_);
    emit studyShown(load.id);
}

void StudyBrowser::showView(int index) {
    if (!loaded_) return;
    const int frame = overlay_->frame();
    const bool sameStudy = overlay_->volume() && index < int(loaded_->volumes.size()) &&
                           overlay_->volume() == loaded_->volumes[std::size_t(index)].get();
    overlay_->clearHeatmap();
    overlay_->clearMask();
    if (index >= int(loaded_->volumes.size())) {
        overlay_->clear(loaded_->errors.isEmpty() ? tr("No image for %1").arg(loaded_->id)
                                                  : loaded_->errors.join("\n"));
        return;
    }
    const auto& v = loaded_->volumes[std::size_t(index)];
    const QString name = loaded_->names.value(index);
    const QString caption = name == loaded_->id || name.isEmpty() ? loaded_->id : tr("%1 — %2").arg(loaded_->id, name);
    if (!sameStudy) overlay_->setVolume(v, caption);
    if (sameStudy) overlay_->setFrame(frame);
    // The CAM and the mask belong to the study's (first) image.
    if (index == 0) {
        if (!loaded_->heat.empty()) overlay_->setHeatmap(loaded_->heatShape, loaded_->heat);
        if (!loaded_->mask.isNull()) overlay_->setMask(loaded_->mask);
    }
    const auto* c = choice();
    overlay_->setBoxes(index == 0 && boxes_ ? studyBoxes(*boxes_, loaded_->id.toStdString(), c ? c->camLabel : "")
                                            : std::vector<OverlayBox>{});
}

// ---------------------------------------------------------------------------------------------
void StudyBrowser::setMediaRoot(const QString& dir) {
    mediaRoot_ = dir;
    const fs::path root = dir.toStdString();
    mediaIndex_ = QtConcurrent::run([root] { return data::scanMedia(root); });
    loaded_.reset();
    if (!current_.isEmpty()) startLoad(current_);
}

void StudyBrowser::setRoiFolder(const QString& dir) {
    roiFolder_ = dir;
    if (!current_.isEmpty()) startLoad(current_);
}

void StudyBrowser::setCamCache(const QString& dir) {
    camCache_ = dir;
    if (!current_.isEmpty()) startLoad(current_);
}

void StudyBrowser::setWorkspace(const QString& dir) {
    workspace_ = dir;
    if (const QString boxes = QDir(dir).filePath("chest_xray/boxes.csv");
        boxesFile_.isEmpty() && QFileInfo::exists(boxes))
        setBoxesFile(boxes);
    camCacheTime_ = {};
    setMediaRoot(dir);
    refreshCamCache();
}

void StudyBrowser::refreshCamCache() {
    if (workspace_.isEmpty()) return;
    // The newest CAM cache of the workspace (by its index.csv), if any.
    QString newest;
    QDateTime when;
    const QDir cams(QDir(workspace_).filePath("cache/cam"));
    for (const auto& e : cams.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        const QFileInfo index(QDir(e.filePath()).filePath("index.csv"));
        if (index.exists() && (newest.isEmpty() || index.lastModified() > when)) {
            newest = e.filePath();
            when = index.lastModified();
        }
    }
    if (newest.isEmpty() || (newest == camCache_ && when <= camCacheTime_)) return;
    camCacheTime_ = when;
    setCamCache(newest);
}

void StudyBrowser::setBoxesFile(const QString& file) {
    boxesFile_ = file;
    boxes_.reset();
    if (!file.isEmpty()) {
        try {
            boxes_ = std::make_shared<explain::BoxTable>(explain::readBoxes(file.toStdString()));
        } catch (const std::exception& e) {
            setStatus(QString::fromUtf8(e.what()), true);
        }
    }
    if (loaded_) showView(std::max(0, viewBox_->currentIndex()));
}

void StudyBrowser::evaluateBoxes(const QString& file) {
    if (camCache_.isEmpty()) {
        const QString error = tr("No CAM cache: run lumen-cli explain or choose one with \"CAM cache…\"");
        setStatus(error, true);
        emit boxesEvaluationFailed(error);
        return;
    }
    if (file != boxesFile_) setBoxesFile(file);
    const fs::path cache = camCache_.toStdString(), boxes = file.toStdString();
    std::vector<fs::path> roots;
    if (!mediaRoot_.isEmpty()) roots.push_back(mediaRoot_.toStdString());
    roots.push_back(boxes.parent_path());
    setStatus(tr("Evaluating the CAMs of %1 against %2…").arg(camCache_, file));
    QPointer<QObject> self(this);
    (void)QtConcurrent::run([self, cache, boxes, roots] {
        std::shared_ptr<const explain::LocalisationReport> report;
        QString error;
        try {
            explain::LocalisationOptions o;
            o.imageSize = explain::imageSizeFinder(roots);
            auto r = std::make_shared<explain::LocalisationReport>(
                explain::evaluateLocalisation(explain::readCamCache(cache), explain::readBoxes(boxes), o));
            explain::writeLocalisation(*r, cache);
            report = r;
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        }
        onGuiThread(self,
                    [self, report, error] { static_cast<StudyBrowser*>(self.data())->showBoxReport(report, error); });
    });
}

void StudyBrowser::showBoxReport(std::shared_ptr<const explain::LocalisationReport> report, const QString& error) {
    if (!report) {
        setStatus(error, true);
        emit boxesEvaluationFailed(error);
        return;
    }
    if (!boxDialog_) boxDialog_ = new BoxEvaluationDialog(this);
    boxDialog_->setReport(*report);
    boxDialog_->show();
    boxDialog_->raise();
    setStatus(tr("%1 CAMs evaluated against %2; localisation.json and .csv written to the cache")
                  .arg(report->pairs.size())
                  .arg(boxesFile_));
    emit boxesEvaluated(int(report->pairs.size()));
}

void StudyBrowser::setStatus(const QString& text, bool error) {
    status_->setText(text);
    status_->setStyleSheet(error ? "color: #b00020;" : QString());
}

QString StudyBrowser::statusText() const { return status_->text(); }

}  // namespace lumen::widgets
