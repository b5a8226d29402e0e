#include "data_panel.h"

#include "card_export.h"
#include "data/angio_manifest.h"
#include "report/dataset_card.h"

#include "job_event_bridge.h"
#include "plot_export.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include "file_dialogs.h"
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <QtMath>

#include <algorithm>
#include <cmath>

namespace lumen::widgets {

namespace {

const QColor kPassText(0x1b, 0x7f, 0x3b);
const QColor kFailText(0xc0, 0x1c, 0x28);
const QColor kPassFill(0xd4, 0xed, 0xda);
const QColor kFailFill(0xf8, 0xd7, 0xda);
const QColor kSplitColours[] = {QColor(31, 119, 180), QColor(255, 127, 14),  QColor(44, 160, 44),
                                QColor(214, 39, 40),  QColor(148, 103, 189), QColor(140, 86, 75)};

QString splitName(const std::string& s) { return s.empty() ? QObject::tr("(none)") : QString::fromStdString(s); }

QTableWidgetItem* item(const QString& text, bool number = false) {
    auto* it = new QTableWidgetItem(text);
    it->setFlags(it->flags() & ~Qt::ItemIsEditable);
    if (number) it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return it;
}

}  // namespace

DataSummary summariseDataset(const QString& path, jobs::JobContext* job) {
    DataSummary s;
    s.source = path;
    if (job) job->progress(0.1, "reading " + path.toStdString());
    // An angiography manifest reads as one row per video; pixel statistics count every frame.
    data::AngioManifest angio;
    const data::Manifest m = data::loadManifestOrVideos(path.toStdString(), &angio);
    s.studies = angio.studies.size();
    if (job) {
        job->throwIfCancelled();
        job->progress(0.5, "checking files");
    }
    s.rows = m.rows.size();
    const auto missing = m.missingFiles();
    s.missingFiles = missing.size();
    for (std::size_t i = 0; i < missing.size() && i < 5; ++i) s.firstMissing.push_back(missing[i].string());
    if (job) {
        job->throwIfCancelled();
        job->progress(0.8, "label balance and overlap proof");
    }
    s.balance = data::labelBalance(m);
    s.report = data::splitReport(m);
    s.manifest = m;
    return s;
}

DataPanel::DataPanel(QWidget* parent)
    : QWidget(parent),
      pathEdit_(new QLineEdit),
      browseButton_(new QPushButton(tr("Browse…"))),
      openButton_(new QPushButton(tr("Open"))),
      status_(new QLabel),
      summaryTable_(new QTableWidget),
      overlapTable_(new QTableWidget),
      proof_(new QLabel),
      plot_(new QCustomPlot),
      countsBox_(new QCheckBox(tr("Counts"))),
      exportButton_(new QPushButton(tr("Export chart…"))),
      pixelSplit_(new QComboBox),
      pixelButton_(new QPushButton(tr("Pixel mean/std"))),
      pixelLabel_(new QLabel) {
    setObjectName("dataPanel");
    pathEdit_->setObjectName("dataPath");
    pathEdit_->setPlaceholderText(tr("A manifest CSV or a split folder"));
    openButton_->setObjectName("openData");
    status_->setObjectName("dataStatus");
    summaryTable_->setObjectName("dataSummary");
    overlapTable_->setObjectName("dataOverlap");
    proof_->setObjectName("dataProof");
    plot_->setObjectName("labelBalancePlot");
    countsBox_->setObjectName("showCounts");
    exportButton_->setObjectName("exportBalance");
    pixelSplit_->setObjectName("pixelSplit");
    pixelButton_->setObjectName("computePixelStats");
    pixelLabel_->setObjectName("pixelStats");
    pixelLabel_->setWordWrap(true);
    pixelLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    pixelButton_->setEnabled(false);

    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Dataset:")));
    top->addWidget(pathEdit_, 1);
    top->addWidget(browseButton_);
    top->addWidget(openButton_);

    for (auto* t : {summaryTable_, overlapTable_}) {
        t->verticalHeader()->setVisible(false);
        t->setSelectionMode(QAbstractItemView::NoSelection);
        t->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    }
    summaryTable_->setColumnCount(5);
    summaryTable_->setHorizontalHeaderLabels(
        {tr("Split"), tr("Patients"), tr("Images"), tr("% patients"), tr("% images")});
    overlapTable_->setColumnCount(4);
    overlapTable_->setHorizontalHeaderLabels(
        {tr("Split A"), tr("Split B"), tr("Shared patients"), tr("Shared images")});
    overlapTable_->horizontalHeader()->setSectionResizeMode(2, QHeaderView::ResizeToContents);
    overlapTable_->horizontalHeader()->setSectionResizeMode(3, QHeaderView::ResizeToContents);
    QFont bold = proof_->font();
    bold.setBold(true);
    proof_->setFont(bold);
    proof_->setWordWrap(true);

    auto* summaryBox = new QGroupBox(tr("Summary"));
    auto* sl = new QVBoxLayout(summaryBox);
    sl->addWidget(summaryTable_);
    auto* proofBox = new QGroupBox(tr("Split overlap proof"));
    auto* pl = new QVBoxLayout(proofBox);
    pl->addWidget(overlapTable_);
    pl->addWidget(proof_);
    auto* left = new QWidget;
    auto* ll = new QVBoxLayout(left);
    ll->setContentsMargins(0, 0, 0, 0);
    ll->addWidget(summaryBox, 1);
    ll->addWidget(proofBox, 1);
    auto* pixelBox = new QGroupBox(tr("Pixel statistics (exact)"));
    auto* xl = new QVBoxLayout(pixelBox);
    auto* xr = new QHBoxLayout;
    xr->addWidget(new QLabel(tr("Split:")));
    xr->addWidget(pixelSplit_, 1);
    xr->addWidget(pixelButton_);
    xl->addLayout(xr);
    xl->addWidget(pixelLabel_);
    ll->addWidget(pixelBox);

    QWidget* chartBox = buildChartBox();

    auto* split = new QSplitter(Qt::Horizontal);
    split->addWidget(left);
    split->addWidget(chartBox);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(status_);
    layout->addWidget(split, 1);

    connect(openButton_, &QPushButton::clicked, this, [this] { open(pathEdit_->text().trimmed()); });
    connect(pathEdit_, &QLineEdit::returnPressed, this, [this] { open(pathEdit_->text().trimmed()); });
    connect(browseButton_, &QPushButton::clicked, this, [this] {
        const QString f =
            openFileDialog(this, tr("Open a manifest"), pathEdit_->text(), tr("Manifests (*.csv);;All files (*)"));
        if (!f.isEmpty()) {
            pathEdit_->setText(f);
            open(f);
        }
    });
    connect(pixelButton_, &QPushButton::clicked, this,
            [this] { computePixelStats(pixelSplit_->currentData().toString()); });
    connect(countsBox_, &QCheckBox::toggled, this, [this](bool on) { setShowCounts(on); });
    connect(exportButton_, &QPushButton::clicked, this,
            [this] { exportPlotInteractively(plot_, this, "label_balance.png"); });
    setStatus(tr("Open a manifest (id,patient_id,path,labels,split) or a split folder."),
              palette().color(QPalette::WindowText));
    fillTables();
    fillChart();
}

QWidget* DataPanel::buildChartBox() {
    auto* chartBox = new QGroupBox(tr("Label balance"));
    auto* cl = new QVBoxLayout(chartBox);
    auto* chartTools = new QHBoxLayout;
    chartTools->addWidget(countsBox_);
    chartTools->addStretch(1);
    chartTools->addWidget(exportButton_);
    cardButton_ = new QPushButton(tr("Export dataset card…"));
    cardButton_->setObjectName("exportDatasetCard");
    cardButton_->setEnabled(false);
    cardButton_->setToolTip(tr("Counts, splits and their proof, label balance (no ids) as PDF, HTML or Markdown"));
    chartTools->addWidget(cardButton_);
    connect(cardButton_, &QPushButton::clicked, this, [this] {
        if (!summary_) return;
        const QString name = QFileInfo(summary_->source).completeBaseName() + "_card.pdf";
        const QString file = exportCardInteractively(this, tr("Export dataset card"), name, [this] {
            return report::datasetCardOf(summary_->manifest, summary_->source.toStdString(), {},
                                         pixelStats_ && pixelStatsSplit_.isEmpty() ? pixelStats_.get() : nullptr)
                .document;
        });
        if (!file.isEmpty())
            setStatus(tr("Dataset card written to %1").arg(file), palette().color(QPalette::WindowText));
    });
    cl->addLayout(chartTools);
    cl->addWidget(plot_, 1);
    plot_->setMinimumSize(420, 300);
    // The legend in a row of its own above the bars, one entry beside the next: inside the axis
    // rect it covered a bar whatever corner it took (chest X-ray: the tall bars at both ends;
    // angiography: in the middle).
    plot_->legend->setVisible(true);
    plot_->plotLayout()->insertRow(0);
    plot_->plotLayout()->addElement(0, 0, plot_->legend);
    plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    plot_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    plot_->legend->setMargins(QMargins(6, 3, 6, 3));
    plot_->legend->setBorderPen(Qt::NoPen);
    plot_->legend->setBrush(Qt::NoBrush);
    return chartBox;
}

DataPanel::~DataPanel() {
    // Our own pool's jobs hold no pointer to the panel (results go through pending_).
    ownPool_.reset();
}

void DataPanel::setJobRunner(Submit submit, JobEventBridge* bridge) {
    submit_ = std::move(submit);
    bridge_ = bridge;
    connectBridge();
}

void DataPanel::connectBridge() {
    connect(bridge_, &JobEventBridge::ended, this, [this](quint64 job) {
        if (job != runningJob_) return;
        runningJob_ = 0;
        openButton_->setEnabled(true);
        pixelButton_->setEnabled(summary_ != nullptr);
        auto pending = std::move(pending_);
        if (pending && *pending) {
            setSummary(*pending);
            emit loaded();
        }
        auto pixels = std::move(pendingPixels_);
        if (pixels) {
            if (*pixels) {
                pixelStats_ = *pixels;
                showPixelStats();
                emit pixelStatsReady();
            } else if (pixelLabel_->text().startsWith(tr("Computing…"))) {
                pixelLabel_->setText(tr("Not computed."));
            }
        }
    });
    connect(bridge_, &JobEventBridge::failed, this, [this](quint64 job, const QString& error) {
        if (job != runningJob_) return;
        if (pendingPixels_) {
            pixelLabel_->setText(tr("Failed: %1").arg(error));
            return;
        }
        setSummary(nullptr);  // the previous dataset's tables and chart are not this file's
        setStatus(tr("Cannot read: %1").arg(error), kFailText);
        emit loadFailed(error);
    });
    connect(bridge_, &JobEventBridge::cancelled, this, [this](quint64 job) {
        if (job != runningJob_) return;
        if (pendingPixels_) pixelLabel_->setText(tr("Cancelled."));
        else setStatus(tr("Reading cancelled."), palette().color(QPalette::WindowText));
    });
    connect(bridge_, &JobEventBridge::progress, this, [this](quint64 job, double f, const QString& m, double) {
        if (job != runningJob_) return;
        if (pendingPixels_) pixelLabel_->setText(tr("Computing… %1% (%2)").arg(int(f * 100)).arg(m));
        else setStatus(tr("Reading… %1% %2").arg(int(f * 100)).arg(m), palette().color(QPalette::WindowText));
    });
}

bool DataPanel::ensureRunner() {
    if (submit_) return true;
    ownPool_ = std::make_unique<jobs::JobPool>(1);
    ownBridge_ = new JobEventBridge(this);
    jobs::JobPool* pool = ownPool_.get();
    JobEventBridge* b = ownBridge_;
    submit_ = [pool, b](const QString& kind, const QString& title, jobs::JobFunction work) {
        return pool->submit(kind.toStdString(), title.toStdString(), std::move(work), b->observer());
    };
    bridge_ = ownBridge_;
    connectBridge();
    return true;
}

bool DataPanel::computePixelStats(const QString& split) {
    if (!summary_ || runningJob_) return false;
    ensureRunner();
    auto holder = std::make_shared<std::shared_ptr<const data::PixelStats>>();
    pendingPixels_ = holder;
    pixelStatsSplit_ = split;
    pixelButton_->setEnabled(false);
    openButton_->setEnabled(false);
    pixelLabel_->setText(tr("Computing…"));
    auto summary = summary_;
    const std::string name = split.toStdString();
    runningJob_ =
        submit_("data", tr("Pixel statistics of %1").arg(split.isEmpty() ? tr("all rows") : split),
                [holder, summary, name](jobs::JobContext& job) {
                    const data::Manifest part = name.empty() ? summary->manifest : summary->manifest.filterSplit(name);
                    data::PixelStatsOptions options;
                    options.grey = summary->studies > 0;  // angiography: as the model sees the frames
                    *holder = std::make_shared<const data::PixelStats>(data::computePixelStats(part, options, &job));
                    return std::string("ok");
                });
    return true;
}

QString DataPanel::pixelStatsText() const { return pixelLabel_->text(); }

void DataPanel::showPixelStats() {
    if (!pixelStats_) {
        pixelLabel_->clear();
        return;
    }
    const auto& p = *pixelStats_;
    QStringList lines;
    lines << tr("%1: %2 images, %3, %4, %5 s")
                 .arg(pixelStatsSplit_.isEmpty() ? tr("all rows") : pixelStatsSplit_)
                 .arg(p.images)
                 .arg(p.grey ? tr("grey as the model sees it") : tr("%1 channel(s)").arg(p.channels))
                 .arg(p.exact ? tr("exact integer sums") : tr("floating-point sums"))
                 .arg(p.seconds, 0, 'f', 2);
    for (int c = 0; c < p.channels; ++c) {
        QString line = tr("%1: mean %2, std %3")
                           .arg(p.grey ? tr("grey") : tr("channel %1").arg(c))
                           .arg(p.mean[std::size_t(c)], 0, 'g', 9)
                           .arg(p.stdev[std::size_t(c)], 0, 'g', 9);
        if (!p.unitMean.empty())
            line += tr("; in [0,1]: mean %1, std %2")
                        .arg(p.unitMean[std::size_t(c)], 0, 'g', 9)
                        .arg(p.unitStdev[std::size_t(c)], 0, 'g', 9);
        lines << line;
    }
    pixelLabel_->setText(lines.join("\n"));
}

bool DataPanel::open(const QString& path) {
    if (path.isEmpty()) {
        setStatus(tr("Choose a manifest or a split folder first."), kFailText);
        return false;
    }
    if (runningJob_) return false;
    ensureRunner();
    pathEdit_->setText(path);
    auto holder = std::make_shared<std::shared_ptr<const DataSummary>>();
    pending_ = holder;
    openButton_->setEnabled(false);
    setStatus(tr("Reading %1…").arg(path), palette().color(QPalette::WindowText));
    runningJob_ =
        submit_("data", tr("Read dataset %1").arg(QFileInfo(path).fileName()), [holder, path](jobs::JobContext& job) {
            *holder = std::make_shared<const DataSummary>(summariseDataset(path, &job));
            return std::string("ok");
        });
    return true;
}

void DataPanel::setSummary(std::shared_ptr<const DataSummary> summary) {
    summary_ = std::move(summary);
    fillTables();
    fillChart();
    pixelStats_.reset();
    showPixelStats();
    pixelSplit_->clear();
    pixelButton_->setEnabled(summary_ != nullptr && !runningJob_);
    exportButton_->setEnabled(summary_ != nullptr);  // nothing to export without a dataset
    if (cardButton_) cardButton_->setEnabled(summary_ != nullptr);
    if (!summary_) return;
    // Normalisation constants come from the training split: it is offered first.
    for (const auto& s : summary_->balance.splits)
        if (!s.empty()) pixelSplit_->addItem(QString::fromStdString(s), QString::fromStdString(s));
    pixelSplit_->addItem(tr("all rows"), QString());
    const auto& r = summary_->report;
    QString text = tr("%1: %2, %3 patients, %4 split(s), %5 label(s).")
                       .arg(summary_->source)
                       .arg(summary_->studies
                                ? tr("angiography, %1 videos of %2 studies").arg(summary_->rows).arg(summary_->studies)
                                : tr("%1 images").arg(summary_->rows))
                       .arg(r.patients)
                       .arg(r.splits.size())
                       .arg(summary_->balance.labels.size());
    if (summary_->missingFiles)
        text += tr(" %1 file(s) missing, e.g. %2.")
                    .arg(summary_->missingFiles)
                    .arg(QString::fromStdString(summary_->firstMissing.front()));
    setStatus(text, summary_->missingFiles ? kFailText : palette().color(QPalette::WindowText));
}

void DataPanel::setShowCounts(bool counts) {
    showCounts_ = counts;
    if (countsBox_->isChecked() != counts) countsBox_->setChecked(counts);
    fillChart();
}

void DataPanel::setStatus(const QString& text, const QColor& color) {
    status_->setText(text);
    QPalette p = status_->palette();
    p.setColor(QPalette::WindowText, color);
    status_->setPalette(p);
}

QString DataPanel::statusText() const { return status_->text(); }

void DataPanel::fillTables() {
    summaryTable_->setRowCount(0);
    overlapTable_->setRowCount(0);
    if (!summary_) {
        proof_->clear();
        return;
    }
    const auto& r = summary_->report;
    summaryTable_->setRowCount(int(r.splits.size()) + 1);
    int row = 0;
    for (const auto& s : r.splits) {
        summaryTable_->setItem(row, 0, item(splitName(s.name)));
        summaryTable_->setItem(row, 1, item(QString::number(s.patients), true));
        summaryTable_->setItem(row, 2, item(QString::number(s.images), true));
        summaryTable_->setItem(row, 3, item(QString::number(100 * s.patientFraction, 'f', 1), true));
        summaryTable_->setItem(row, 4, item(QString::number(100 * s.imageFraction, 'f', 1), true));
        ++row;
    }
    summaryTable_->setItem(row, 0, item(tr("Total")));
    summaryTable_->setItem(row, 1, item(QString::number(r.patients), true));
    summaryTable_->setItem(row, 2, item(QString::number(r.images), true));
    summaryTable_->setItem(row, 3, item("100.0", true));
    summaryTable_->setItem(row, 4, item("100.0", true));
    for (int c = 0; c < 5; ++c) {
        QFont f = summaryTable_->item(row, c)->font();
        f.setBold(true);
        summaryTable_->item(row, c)->setFont(f);
    }

    overlapTable_->setRowCount(int(r.overlaps.size()));
    row = 0;
    for (const auto& o : r.overlaps) {
        overlapTable_->setItem(row, 0, item(splitName(o.a)));
        overlapTable_->setItem(row, 1, item(splitName(o.b)));
        const std::size_t values[2] = {o.patients, o.images};
        for (int k = 0; k < 2; ++k) {
            auto* it = item(QString::number(values[k]), true);
            it->setBackground(values[k] == 0 ? kPassFill : kFailFill);
            it->setForeground(values[k] == 0 ? kPassText : kFailText);
            if (k == 0 && !o.firstPatients.empty()) {
                QStringList some;
                for (const auto& p : o.firstPatients) some << QString::fromStdString(p);
                it->setToolTip(tr("e.g. %1").arg(some.join(", ")));
            }
            overlapTable_->setItem(row, 2 + k, it);
        }
        ++row;
    }
    QPalette p = proof_->palette();
    if (r.overlaps.empty()) {
        proof_->setText(tr("One split only: nothing to compare."));
        p.setColor(QPalette::WindowText, palette().color(QPalette::WindowText));
    } else if (r.disjoint()) {
        proof_->setText(tr("✔ Splits are disjoint: no patient and no image is in two splits."));
        p.setColor(QPalette::WindowText, kPassText);
    } else {
        proof_->setText(tr("✘ Splits overlap: patients or images are shared (see the red cells)."));
        p.setColor(QPalette::WindowText, kFailText);
    }
    proof_->setPalette(p);
}

void DataPanel::fillChart() {
    plot_->clearPlottables();
    const auto& b = summary_ ? summary_->balance : data::LabelBalance{};
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (std::size_t l = 0; l < b.labels.size(); ++l)
        ticker->addTick(double(l + 1), QString::fromStdString(b.labels[l]));
    plot_->xAxis->setTicker(ticker);
    plot_->xAxis->setTickLabelRotation(50);
    plot_->xAxis->setSubTicks(false);
    plot_->xAxis->grid()->setVisible(false);
    plot_->yAxis->setLabel(showCounts_ ? tr("images with the label") : tr("% of the split's images"));
    auto* group = new QCPBarsGroup(plot_);
    group->setSpacingType(QCPBarsGroup::stAbsolute);
    group->setSpacing(1);
    double top = 1;
    const double width = 0.8 / std::max<std::size_t>(1, b.splits.size());
    for (std::size_t s = 0; s < b.splits.size(); ++s) {
        auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
        bars->setName(splitName(b.splits[s]) + QString(" (%1)").arg(b.images[s]));
        const QColor c = kSplitColours[s % std::size(kSplitColours)];
        bars->setPen(QPen(c.darker(130)));
        bars->setBrush(c);
        bars->setWidth(width);
        bars->setBarsGroup(group);
        QVector<double> keys, values;
        for (std::size_t l = 0; l < b.labels.size(); ++l) {
            const double n = double(b.positives[s][l]);
            const double v = showCounts_ ? n : (b.images[s] ? 100.0 * n / double(b.images[s]) : 0.0);
            keys << double(l + 1);
            values << v;
            top = std::max(top, v);
        }
        bars->setData(keys, values, true);
    }
    // QCustomPlot leaves out a tick label that would stick out of the widget: the last one,
    // slanted to the right, needs room beside the axis rect.
    int right = 0;
    if (!b.labels.empty()) {
        const QFontMetrics fm(plot_->xAxis->tickLabelFont());
        const double angle = qDegreesToRadians(plot_->xAxis->tickLabelRotation());
        right = int(std::ceil(fm.horizontalAdvance(QString::fromStdString(b.labels.back())) * std::cos(angle) +
                              fm.height() * std::sin(angle))) +
                8;
    }
    plot_->axisRect()->setMinimumMargins(QMargins(0, 0, right, 0));
    plot_->xAxis->setRange(0.4, double(b.labels.size()) + 0.6);
    plot_->yAxis->setRange(0, top * 1.12);
    plot_->replot();
}

}  // namespace lumen::widgets

namespace lumen::widgets {

QString DataPanel::exportDatasetCard(const QString& file) {
    if (!summary_) return tr("no dataset open");
    auto summary = summary_;
    const data::PixelStats* pixels = pixelStats_ && pixelStatsSplit_.isEmpty() ? pixelStats_.get() : nullptr;
    return exportCard(
        [&] { return report::datasetCardOf(summary->manifest, summary->source.toStdString(), {}, pixels).document; },
        file);
}

}  // namespace lumen::widgets
