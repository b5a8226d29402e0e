#include "metrics_panel.h"

#include "plot_export.h"

#include "jobs/job.h"
#include "util/atomic_file.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include "file_dialogs.h"
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextStream>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>

namespace lumen::widgets {
namespace {

constexpr int kSliderSteps = 1000;

enum Column {
    kLabel,
    kN,
    kPositives,
    kAuroc,
    kAurocCi,
    kAp,
    kApCi,
    kThreshold,
    kSensitivity,
    kSpecificity,
    kPpv,
    kNpv,
    kF1,
    kPositiveRate,
    kBrier,
    kBrierCi,
    kEce,
    kEceCi,
    kEceScaled,
    kTemperature,
    kColumnCount
};
const char* kHeaders[kColumnCount] = {"Label",        "n",         "Positives",  "AUROC",         "AUROC 95% CI",
                                      "AP",           "AP 95% CI", "Threshold",  "Sensitivity",   "Specificity",
                                      "PPV",          "NPV",       "F1",         "Positive rate", "Brier",
                                      "Brier 95% CI", "ECE",       "ECE 95% CI", "ECE after T",   "T"};

// Sorts by the numeric value in UserRole; missing values (NaN) sort first.
class NumericItem : public QTableWidgetItem {
public:
    using QTableWidgetItem::QTableWidgetItem;
    bool operator<(const QTableWidgetItem& other) const override {
        const QVariant a = data(Qt::UserRole), b = other.data(Qt::UserRole);
        if (!a.isValid() || !b.isValid()) return text() < other.text();
        const double x = a.toDouble(), y = b.toDouble();
        if (std::isnan(x)) return !std::isnan(y);
        if (std::isnan(y)) return false;
        return x < y;
    }
};

QString fmt(double v) { return QString::number(v, 'f', 3); }

void setValueItem(QTableWidget* t, int row, int col, const metrics::MetricValue& v) {
    auto* item = new NumericItem(v.has() ? fmt(*v.value) : QStringLiteral("—"));
    item->setData(Qt::UserRole, v.has() ? *v.value : std::nan(""));
    if (!v.has()) item->setToolTip(QString::fromStdString(v.reason));
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    t->setItem(row, col, item);
}

void setIntervalItem(QTableWidget* t, int row, int col, const metrics::ConfidenceInterval* ci) {
    QString text = QStringLiteral("…");
    double lower = std::nan("");
    QString tip;
    if (ci) {
        if (ci->lower && ci->upper) {
            text = QString("%1 – %2").arg(fmt(*ci->lower), fmt(*ci->upper));
            lower = *ci->lower;
        } else {
            text = QStringLiteral("—");
            tip = QString::fromStdString(ci->reason);
        }
    }
    auto* item = new NumericItem(text);
    item->setData(Qt::UserRole, lower);
    item->setToolTip(tip);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    t->setItem(row, col, item);
}

QColor labelColor(int label, int count) { return QColor::fromHsvF(std::fmod(0.61803398875 * label, 1.0), 0.75, 0.85); }

QCPTextElement* plotTitle(QCustomPlot* plot) {
    if (plot->plotLayout()->rowCount() < 2) {
        plot->plotLayout()->insertRow(0);
        plot->plotLayout()->addElement(0, 0, new QCPTextElement(plot, "", QFont("sans", 10, QFont::Bold)));
    }
    return qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0));
}

QCustomPlot* makePlot(const QString& name, const QString& x, const QString& y) {
    auto* p = new QCustomPlot;
    p->setObjectName(name);
    p->setMinimumSize(360, 300);
    p->xAxis->setLabel(x);
    p->yAxis->setLabel(y);
    p->xAxis->setRange(0, 1);
    p->yAxis->setRange(0, 1.02);
    p->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plotTitle(p);
    return p;
}

void addDiagonal(QCustomPlot* p) {
    auto* d = p->addGraph();
    d->setData(QVector<double>{0, 1}, QVector<double>{0, 1});
    d->setPen(QPen(Qt::gray, 1, Qt::DashLine));
    d->setName("chance");
    d->removeFromLegend();
}

}  // namespace

// A selectable value label, kept in values_ under `key` (object name <key>Value).
QLabel* MetricsPanel::valueLabel(const QString& key) {
    auto* l = new QLabel("—");
    l->setObjectName(key + "Value");
    l->setTextInteractionFlags(Qt::TextSelectableByMouse);
    values_[key] = l;
    return l;
}

// Label, threshold slider and its value, temperature scaling, exports.
QHBoxLayout* MetricsPanel::buildControls() {
    labelBox_ = new QComboBox;
    labelBox_->setObjectName("metricsLabel");
    slider_ = new QSlider(Qt::Horizontal);
    slider_->setObjectName("metricsThreshold");
    slider_->setRange(0, kSliderSteps);
    slider_->setValue(kSliderSteps / 2);
    slider_->setMinimumWidth(200);
    scaledBox_ = new QCheckBox(tr("Temperature scaling"));
    scaledBox_->setObjectName("metricsTemperature");
    scaledBox_->setToolTip(
        tr("Show probabilities after temperature scaling, one temperature per label fitted "
           "on these rows by minimising the NLL"));
    auto* exportPlotButton = new QPushButton(tr("Export plot…"));
    exportPlotButton->setObjectName("metricsExportPlot");
    auto* exportTableButton = new QPushButton(tr("Export table…"));
    exportTableButton->setObjectName("metricsExportTable");

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Label")));
    controls->addWidget(labelBox_);
    controls->addSpacing(12);
    controls->addWidget(new QLabel(tr("Threshold")));
    controls->addWidget(slider_, 1);
    auto* thresholdLabel = valueLabel("threshold");
    thresholdLabel->setMinimumWidth(48);
    controls->addWidget(thresholdLabel);
    controls->addSpacing(12);
    controls->addWidget(scaledBox_);
    controls->addStretch();
    controls->addWidget(exportPlotButton);
    controls->addWidget(exportTableButton);
    connect(exportPlotButton, &QPushButton::clicked, this, [this] {
        auto* plot = qobject_cast<QCustomPlot*>(tabs_->currentWidget());
        if (plot) exportPlotInteractively(plot, this, plot->objectName().mid(7).toLower());
    });
    connect(exportTableButton, &QPushButton::clicked, this, [this] {
        const QString file = saveFileDialog(this, tr("Export table"), "metrics.csv", tr("CSV (*.csv)"));
        QString error;
        if (!file.isEmpty() && !exportTableCsv(file, &error)) QMessageBox::warning(this, tr("Export table"), error);
    });
    return controls;
}

// Confusion matrix (rows: truth, columns: prediction) and the rates beside it, at the threshold.
QWidget* MetricsPanel::buildLiveBox() {
    auto* live = new QGridLayout;
    live->addWidget(new QLabel(tr("<b>Confusion</b>")), 0, 0);
    live->addWidget(new QLabel(tr("pred +")), 0, 1, Qt::AlignRight);
    live->addWidget(new QLabel(tr("pred −")), 0, 2, Qt::AlignRight);
    live->addWidget(new QLabel(tr("true +")), 1, 0);
    live->addWidget(new QLabel(tr("true −")), 2, 0);
    live->addWidget(valueLabel("tp"), 1, 1, Qt::AlignRight);
    live->addWidget(valueLabel("fn"), 1, 2, Qt::AlignRight);
    live->addWidget(valueLabel("fp"), 2, 1, Qt::AlignRight);
    live->addWidget(valueLabel("tn"), 2, 2, Qt::AlignRight);
    const std::pair<const char*, QString> rates[] = {{"sensitivity", tr("Sensitivity")},
                                                     {"specificity", tr("Specificity")},
                                                     {"ppv", tr("PPV")},
                                                     {"npv", tr("NPV")},
                                                     {"f1", tr("F1")},
                                                     {"positive_rate", tr("Positive rate")}};
    int row = 3;
    for (const auto& [key, text] : rates) {
        live->addWidget(new QLabel(text), row, 0);
        live->addWidget(valueLabel(key), row++, 1, 1, 2, Qt::AlignRight);
    }
    live->setRowStretch(row, 1);
    auto* liveBox = new QWidget;
    liveBox->setObjectName("metricsLive");
    liveBox->setLayout(live);
    liveBox->setMinimumWidth(190);
    return liveBox;
}

MetricsPanel::MetricsPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("metricsPanel");
    QHBoxLayout* controls = buildControls();
    QWidget* liveBox = buildLiveBox();
    roc_ = makePlot("metricsRoc", tr("False positive rate (1 − specificity)"), tr("True positive rate (sensitivity)"));
    pr_ = makePlot("metricsPr", tr("Recall"), tr("Precision"));
    reliability_ = makePlot("metricsReliability", tr("Mean predicted probability"), tr("Observed frequency"));
    tabs_ = new QTabWidget;
    tabs_->setObjectName("metricsPlots");
    tabs_->addTab(roc_, tr("ROC"));
    tabs_->addTab(pr_, tr("Precision–recall"));
    tabs_->addTab(reliability_, tr("Reliability"));

    table_ = new QTableWidget(0, kColumnCount);
    table_->setObjectName("metricsTable");
    QStringList headers;
    for (auto* h : kHeaders) headers << tr(h);
    table_->setHorizontalHeaderLabels(headers);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);  // label order until a click
    table_->setSortingEnabled(true);

    status_ = new QLabel;
    status_->setObjectName("metricsStatus");
    status_->setWordWrap(true);

    auto* top = new QWidget;
    auto* topLayout = new QHBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(tabs_, 1);
    topLayout->addWidget(liveBox);
    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(top);
    split->addWidget(table_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(split, 1);
    layout->addWidget(status_);

    connect(labelBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (i >= 0) setCurrentLabel(i);
    });
    connect(slider_, &QSlider::valueChanged, this, [this](int v) {
        if (current_ < labelCount()) setThreshold(current_, double(v) / kSliderSteps);
    });
    connect(scaledBox_, &QCheckBox::toggled, this, &MetricsPanel::setTemperatureScaled);
    connect(table_, &QTableWidget::cellClicked, this, [this](int row, int) {
        const int label = labelBox_->findText(table_->item(row, kLabel)->text());
        if (label >= 0) labelBox_->setCurrentIndex(label);
    });
    watcher_ = new QFutureWatcher<std::shared_ptr<metrics::MultiLabelIntervals>>(this);
    connect(watcher_, &QFutureWatcherBase::finished, this, [this] {
        auto result = watcher_->result();
        if (!result) return;  // cancelled or failed
        intervals_ = *result;
        hasIntervals_ = true;
        fillTable();
        emit intervalsReady();
    });
}

MetricsPanel::~MetricsPanel() { cancelIntervals(); }

void MetricsPanel::cancelIntervals() {
    if (cancel_) cancel_->cancel();
    if (watcher_ && watcher_->isRunning()) watcher_->waitForFinished();
    hasIntervals_ = false;
}

void MetricsPanel::setBootstrapResamples(int resamples) { resamples_ = std::max(0, resamples); }

MetricsPanel* MetricsPanel::fromCsv(const QString& labelsCsv, const QString& predictionsCsv, QWidget* parent,
                                    QString* error) {
    auto* panel = new MetricsPanel(parent);
    if (!panel->loadCsv(labelsCsv, predictionsCsv, error)) {
        delete panel;
        return nullptr;
    }
    return panel;
}

bool MetricsPanel::loadCsv(const QString& labelsCsv, const QString& predictionsCsv, QString* error,
                           const QString& idColumn) {
    try {
        const auto data = metrics::loadLabelledPredictions(labelsCsv.toStdString(), predictionsCsv.toStdString(),
                                                           idColumn.toStdString());
        setData(data);
        QStringList notes;
        if (!data.onlyInLabels.empty()) notes << tr("%1 id(s) only in the labels").arg(data.onlyInLabels.size());
        if (!data.onlyInPredictions.empty())
            notes << tr("%1 id(s) only in the predictions").arg(data.onlyInPredictions.size());
        if (!notes.isEmpty()) status_->setText(status_->text() + " — " + notes.join(", "));
        return true;
    } catch (const std::exception& e) {
        // What was shown belonged to other files: cleared, so it cannot pass for these.
        clearResults(tr("Not shown: %1").arg(QString::fromStdString(e.what())));
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
}

void MetricsPanel::setData(const metrics::LabelledPredictions& data) { setData(data.truth, data.score, data.names); }

void MetricsPanel::setData(std::vector<std::vector<double>> truth, std::vector<std::vector<double>> probability,
                           std::vector<std::string> names) {
    if (truth.size() != names.size() || probability.size() != names.size())
        throw std::invalid_argument("metrics panel: truth, probability and names differ in label count");
    cancelIntervals();
    // Validate (throws) before replacing what is shown.
    std::vector<double> thresholds(names.size(), 0.5);
    auto reportRaw = metrics::evaluateMultiLabel(truth, probability, names, thresholds);
    truth_ = std::move(truth);
    probability_ = std::move(probability);
    names_ = std::move(names);
    thresholds_ = thresholds;
    reportRaw_ = std::move(reportRaw);
    rebuild();
}

void MetricsPanel::rebuild() {
    const std::size_t labels = names_.size();
    raw_.clear();
    scaledScores_.clear();
    fits_.clear();
    rocs_.clear();
    prs_.clear();
    std::vector<std::vector<double>> scaledMatrix = probability_;
    for (std::size_t l = 0; l < labels; ++l) {
        raw_.push_back(metrics::dropMissing(truth_[l], probability_[l]));
        const auto& pairs = raw_.back();
        fits_.push_back(pairs.truth.empty() ? metrics::TemperatureFit{}
                                            : metrics::fitTemperature(pairs.truth, pairs.score));
        scaledScores_.push_back(metrics::applyTemperature(pairs.score, fits_.back().temperature));
        scaledMatrix[l] = metrics::applyTemperature(probability_[l], fits_.back().temperature);
        rocs_.push_back(metrics::rocCurve(pairs.truth, pairs.score));
        prs_.push_back(metrics::precisionRecallCurve(pairs.truth, pairs.score));
    }
    reportScaled_ = metrics::evaluateMultiLabel(truth_, scaledMatrix, names_, thresholds_);

    const QSignalBlocker block(labelBox_);
    labelBox_->clear();
    for (const auto& n : names_) labelBox_->addItem(QString::fromStdString(n));
    current_ = 0;
    labelBox_->setCurrentIndex(labels ? 0 : -1);
    {
        const QSignalBlocker blockSlider(slider_);
        slider_->setValue(int(std::lround(0.5 * kSliderSteps)));
    }
    const auto& r = reportRaw_;
    status_->setText(tr("%1 rows, %2 labels — macro AUROC %3, micro AUROC %4, macro F1 %5, Hamming accuracy %6")
                         .arg(r.n)
                         .arg(labels)
                         .arg(r.macroAuroc.has() ? fmt(*r.macroAuroc.value) : "—")
                         .arg(r.microAuroc.has() ? fmt(*r.microAuroc.value) : "—")
                         .arg(r.macroF1.has() ? fmt(*r.macroF1.value) : "—")
                         .arg(r.hammingAccuracy.has() ? fmt(*r.hammingAccuracy.value) : "—"));
    fillTable();
    plotRoc();
    plotPr();
    plotReliability();
    refreshLive();
    startIntervals();
    setExportsEnabled(true);
}

void MetricsPanel::setExportsEnabled(bool on) {
    for (const char* name : {"metricsExportPlot", "metricsExportTable"})
        if (auto* b = findChild<QPushButton*>(name)) b->setEnabled(on);
}

void MetricsPanel::clearResults(const QString& why) {
    cancelIntervals();
    truth_.clear();
    probability_.clear();
    names_.clear();
    raw_.clear();
    scaledScores_.clear();
    fits_.clear();
    rocs_.clear();
    prs_.clear();
    thresholds_.clear();
    reportRaw_ = {};
    reportScaled_ = {};
    current_ = 0;
    {
        const QSignalBlocker block(labelBox_);
        labelBox_->clear();
    }
    table_->setRowCount(0);
    for (QCustomPlot* plot : {roc_, pr_, reliability_}) {
        plot->clearGraphs();
        plot->clearPlottables();
        plot->clearItems();
        plot->replot();
    }
    for (auto& [key, label] : values_) label->setText("—");
    status_->setText(why);
    setExportsEnabled(false);
}

void MetricsPanel::startIntervals() {
    if (resamples_ <= 0 || names_.empty()) return;
    cancel_ = std::make_shared<jobs::CancellationToken>();
    metrics::BootstrapOptions options;
    options.resamples = resamples_;
    watcher_->setFuture(
        QtConcurrent::run([truth = truth_, probability = probability_, names = names_, thresholds = thresholds_,
                           options, token = cancel_]() -> std::shared_ptr<metrics::MultiLabelIntervals> {
            jobs::JobContext job(0, *token, nullptr);
            try {
                return std::make_shared<metrics::MultiLabelIntervals>(
                    metrics::bootstrapMultiLabel(truth, probability, names, thresholds, {}, options, &job));
            } catch (const std::exception&) {
                return nullptr;
            }
        }));
}

const std::vector<double>& MetricsPanel::shownScores(int label) const {
    return scaled_ ? scaledScores_.at(std::size_t(label)) : raw_.at(std::size_t(label)).score;
}

metrics::ThresholdMetrics MetricsPanel::currentThresholdMetrics() const {
    return metrics::metricsAtThreshold(raw_.at(std::size_t(current_)).truth, shownScores(current_),
                                       thresholds_.at(std::size_t(current_)));
}

void MetricsPanel::fillTable() {
    const QSignalBlocker block(table_);
    table_->setSortingEnabled(false);
    // Rows are refilled in label order; stale rows from a sorted view must not be matched by name.
    table_->clearContents();
    table_->setRowCount(int(names_.size()));
    for (int l = 0; l < labelCount(); ++l) {
        const auto& r = reportRaw_.labels[std::size_t(l)];
        auto* name = new QTableWidgetItem(QString::fromStdString(r.name));
        table_->setItem(l, kLabel, name);
        setValueItem(table_, l, kN, metrics::MetricValue::of(double(r.n)));
        table_->item(l, kN)->setText(QString::number(r.n));
        setValueItem(table_, l, kPositives, metrics::MetricValue::of(double(r.positives)));
        table_->item(l, kPositives)->setText(QString::number(r.positives));
        setValueItem(table_, l, kAuroc, r.auroc);
        setValueItem(table_, l, kAp, r.averagePrecision);
        setValueItem(table_, l, kBrier, r.brier);
        setValueItem(table_, l, kEce, r.ece);
        setValueItem(table_, l, kEceScaled, reportScaled_.labels[std::size_t(l)].ece);
        setValueItem(table_, l, kTemperature, metrics::MetricValue::of(fits_[std::size_t(l)].temperature));
        const auto* ci = hasIntervals_ ? &intervals_.labels[std::size_t(l)] : nullptr;
        auto interval = [&](const char* key) { return ci ? &ci->at(key) : nullptr; };
        setIntervalItem(table_, l, kAurocCi, resamples_ > 0 ? interval("auroc") : nullptr);
        setIntervalItem(table_, l, kApCi, resamples_ > 0 ? interval("average_precision") : nullptr);
        setIntervalItem(table_, l, kBrierCi, resamples_ > 0 ? interval("brier") : nullptr);
        setIntervalItem(table_, l, kEceCi, resamples_ > 0 ? interval("ece") : nullptr);
        if (resamples_ <= 0)
            for (int c : {kAurocCi, kApCi, kBrierCi, kEceCi}) table_->item(l, c)->setText("—");
        refreshTableRow(l, l);
    }
    table_->setSortingEnabled(true);
    table_->resizeColumnsToContents();
}

// The threshold-dependent cells of one label's row (the row may have moved by sorting).
void MetricsPanel::refreshTableRow(int label, int row) {
    const QString name = QString::fromStdString(names_[std::size_t(label)]);
    for (int r = 0; row < 0 && r < table_->rowCount(); ++r)
        if (table_->item(r, kLabel) && table_->item(r, kLabel)->text() == name) row = r;
    if (row < 0) return;
    const bool sorting = table_->isSortingEnabled();
    table_->setSortingEnabled(false);
    const auto m = metrics::metricsAtThreshold(raw_[std::size_t(label)].truth, shownScores(label),
                                               thresholds_[std::size_t(label)]);
    setValueItem(table_, row, kThreshold, metrics::MetricValue::of(m.threshold));
    setValueItem(table_, row, kSensitivity, m.recall);
    setValueItem(table_, row, kSpecificity, m.specificity);
    setValueItem(table_, row, kPpv, m.precision);
    setValueItem(table_, row, kNpv, m.npv);
    setValueItem(table_, row, kF1, m.f1);
    setValueItem(table_, row, kPositiveRate, m.positiveRate);
    table_->setSortingEnabled(sorting);
}

void MetricsPanel::setCurrentLabel(int label) {
    if (label < 0 || label >= labelCount()) return;
    current_ = label;
    if (labelBox_->currentIndex() != label) {
        const QSignalBlocker block(labelBox_);
        labelBox_->setCurrentIndex(label);
    }
    {
        const QSignalBlocker block(slider_);
        slider_->setValue(int(std::lround(thresholds_[std::size_t(label)] * kSliderSteps)));
    }
    plotRoc();
    plotPr();
    plotReliability();
    refreshLive();
}

void MetricsPanel::setThreshold(int label, double threshold) {
    if (label < 0 || label >= labelCount()) return;
    threshold = std::clamp(threshold, 0.0, 1.0);
    thresholds_[std::size_t(label)] = threshold;
    if (label == current_ && slider_->value() != int(std::lround(threshold * kSliderSteps))) {
        const QSignalBlocker block(slider_);
        slider_->setValue(int(std::lround(threshold * kSliderSteps)));
    }
    refreshTableRow(label);
    if (label == current_) {
        refreshLive();
        plotRoc();
        plotPr();
    }
    emit thresholdChanged(label, threshold);
}

void MetricsPanel::setTemperatureScaled(bool on) {
    if (scaledBox_->isChecked() != on) {
        const QSignalBlocker block(scaledBox_);
        scaledBox_->setChecked(on);
    }
    scaled_ = on;
    if (names_.empty()) return;
    for (int l = 0; l < labelCount(); ++l) refreshTableRow(l);
    plotRoc();
    plotPr();
    plotReliability();
    refreshLive();
}

QString MetricsPanel::shownValue(const QString& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? QString() : it->second->text();
}

void MetricsPanel::refreshLive() {
    if (names_.empty()) {
        for (auto& [key, label] : values_) label->setText("—");
        return;
    }
    const auto m = currentThresholdMetrics();
    values_["threshold"]->setText(QString::number(m.threshold, 'f', 3));
    values_["tp"]->setText(QString::number(m.counts.tp));
    values_["fp"]->setText(QString::number(m.counts.fp));
    values_["tn"]->setText(QString::number(m.counts.tn));
    values_["fn"]->setText(QString::number(m.counts.fn));
    auto show = [this](const char* key, const metrics::MetricValue& v) {
        values_[key]->setText(v.has() ? fmt(*v.value) : QStringLiteral("—"));
        values_[key]->setToolTip(QString::fromStdString(v.reason));
    };
    show("sensitivity", m.recall);
    show("specificity", m.specificity);
    show("ppv", m.precision);
    show("npv", m.npv);
    show("f1", m.f1);
    show("positive_rate", m.positiveRate);
}

void MetricsPanel::plotRoc() {
    roc_->clearGraphs();
    roc_->clearItems();
    addDiagonal(roc_);
    // Macro ROC: the mean over labels with a defined AUROC of TPR interpolated on a common FPR
    // grid (the step at a vertical segment takes its upper end).
    const int grid = 201;
    QVector<double> gx(grid), gy(grid, 0.0);
    int defined = 0;
    for (int l = 0; l < labelCount(); ++l) {
        const auto& c = rocs_[std::size_t(l)];
        const bool ok = reportRaw_.labels[std::size_t(l)].auroc.has();
        auto* g = roc_->addGraph();
        QVector<double> x(c.fpr.begin(), c.fpr.end()), y(c.tpr.begin(), c.tpr.end());
        if (ok) g->setData(x, y, true);
        const bool current = l == current_;
        QColor color = labelColor(l, labelCount());
        if (!current) color.setAlpha(110);
        g->setPen(QPen(color, current ? 2.5 : 1.0));
        const auto& auc = reportRaw_.labels[std::size_t(l)].auroc;
        g->setName(QString("%1 (%2)").arg(QString::fromStdString(names_[std::size_t(l)]),
                                          auc.has() ? fmt(*auc.value) : QStringLiteral("—")));
        if (!ok) continue;
        ++defined;
        std::size_t j = 0;
        for (int k = 0; k < grid; ++k) {
            gx[k] = double(k) / (grid - 1);
            while (j + 1 < c.fpr.size() && c.fpr[j + 1] <= gx[k]) ++j;
            double t = c.tpr[j];
            if (j + 1 < c.fpr.size() && c.fpr[j + 1] > c.fpr[j])
                t += (c.tpr[j + 1] - c.tpr[j]) * (gx[k] - c.fpr[j]) / (c.fpr[j + 1] - c.fpr[j]);
            gy[k] += t;
        }
    }
    if (defined) {
        for (auto& v : gy) v /= defined;
        auto* macro = roc_->addGraph();
        macro->setData(gx, gy, true);
        macro->setPen(QPen(Qt::black, 2.5, Qt::DashDotLine));
        macro->setName(QString("macro (%1)").arg(fmt(*reportRaw_.macroAuroc.value)));
    }
    if (!names_.empty() && reportRaw_.labels[std::size_t(current_)].auroc.has()) {
        const auto m = currentThresholdMetrics();
        auto* point = roc_->addGraph();
        point->setData(QVector<double>{1 - *m.specificity.value}, QVector<double>{*m.recall.value});
        point->setLineStyle(QCPGraph::lsNone);
        point->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, Qt::black, Qt::white, 9));
        point->setName(QString("threshold %1").arg(fmt(m.threshold)));
    }
    roc_->legend->setVisible(true);
    roc_->legend->setFont(QFont("sans", 7));
    roc_->legend->setRowSpacing(-3);
    roc_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
    plotTitle(roc_)->setText(
        names_.empty() ? tr("ROC")
                       : tr("ROC — %1 highlighted").arg(QString::fromStdString(names_[std::size_t(current_)])));
    roc_->xAxis->setRange(0, 1);
    roc_->yAxis->setRange(0, 1.02);
    roc_->replot();
}

void MetricsPanel::plotPr() {
    pr_->clearGraphs();
    for (int l = 0; l < labelCount(); ++l) {
        const auto& c = prs_[std::size_t(l)];
        if (!reportRaw_.labels[std::size_t(l)].averagePrecision.has()) continue;
        // Recall descending in the curve: plot as a step function from high to low recall.
        QVector<double> x(c.recall.rbegin(), c.recall.rend()), y(c.precision.rbegin(), c.precision.rend());
        auto* g = pr_->addGraph();
        g->setData(x, y, true);
        g->setLineStyle(QCPGraph::lsStepRight);
        const bool current = l == current_;
        QColor color = labelColor(l, labelCount());
        if (!current) color.setAlpha(90);
        g->setPen(QPen(color, current ? 2.5 : 1.0));
        g->setName(QString("%1 (AP %2)")
                       .arg(QString::fromStdString(names_[std::size_t(l)]),
                            fmt(*reportRaw_.labels[std::size_t(l)].averagePrecision.value)));
        if (!current) g->removeFromLegend();
    }
    if (!names_.empty()) {
        const auto m = currentThresholdMetrics();
        if (m.recall.has() && m.precision.has()) {
            auto* point = pr_->addGraph();
            point->setData(QVector<double>{*m.recall.value}, QVector<double>{*m.precision.value});
            point->setLineStyle(QCPGraph::lsNone);
            point->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, Qt::black, Qt::white, 9));
            point->setName(QString("threshold %1").arg(fmt(m.threshold)));
        }
    }
    pr_->legend->setVisible(true);
    pr_->legend->setFont(QFont("sans", 8));
    pr_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignLeft);
    plotTitle(pr_)->setText(
        names_.empty() ? tr("Precision–recall")
                       : tr("Precision–recall — %1").arg(QString::fromStdString(names_[std::size_t(current_)])));
    pr_->xAxis->setRange(0, 1);
    pr_->yAxis->setRange(0, 1.02);
    pr_->replot();
}

void MetricsPanel::plotReliability() {
    reliability_->clearGraphs();
    reliability_->clearPlottables();
    addDiagonal(reliability_);
    if (names_.empty()) {
        reliability_->replot();
        return;
    }
    const auto l = std::size_t(current_);
    const auto& truth = raw_[l].truth;
    auto addCurve = [&](const std::vector<double>& p, const QColor& color, const QString& name, bool bars) {
        const auto bins = metrics::reliabilityDiagram(truth, p, 15);
        QVector<double> x, y, centres, counts;
        for (const auto& b : bins) {
            x << b.meanProbability;
            y << b.observedFrequency;
            centres << 0.5 * (b.lower + b.upper);
            counts << double(b.count) / double(truth.size());
        }
        if (bars) {
            // Share of samples per bin, drawn low on the plot for context.
            auto* hist = new QCPBars(reliability_->xAxis, reliability_->yAxis);
            hist->setData(centres, counts);
            hist->setWidth(1.0 / 15 * 0.9);
            hist->setPen(Qt::NoPen);
            hist->setBrush(QColor(120, 120, 120, 60));
            hist->setName(tr("share of samples"));
        }
        auto* g = reliability_->addGraph();
        g->setData(x, y, true);
        g->setPen(QPen(color, 2));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, Qt::white, 7));
        g->setName(name);
    };
    const auto& before = reportRaw_.labels[l].ece;
    const auto& after = reportScaled_.labels[l].ece;
    const QString beforeText = before.has() ? fmt(*before.value) : "—",
                  afterText = after.has() ? fmt(*after.value) : "—";
    addCurve(raw_[l].score, scaled_ ? QColor(150, 150, 150) : labelColor(current_, labelCount()),
             tr("before (ECE %1)").arg(beforeText), true);
    if (scaled_)
        addCurve(scaledScores_[l], labelColor(current_, labelCount()),
                 tr("after T = %1 (ECE %2)").arg(QString::number(fits_[l].temperature, 'f', 2), afterText), false);
    reliability_->legend->setVisible(true);
    reliability_->legend->setFont(QFont("sans", 8));
    reliability_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    plotTitle(reliability_)
        ->setText(scaled_
                      ? tr("Reliability — %1 — ECE %2 → %3 after temperature scaling")
                            .arg(QString::fromStdString(names_[l]), beforeText, afterText)
                      : tr("Reliability — %1 — ECE %2 (15 bins)").arg(QString::fromStdString(names_[l]), beforeText));
    reliability_->xAxis->setRange(0, 1);
    reliability_->yAxis->setRange(0, 1.02);
    reliability_->replot();
}

bool MetricsPanel::exportTableCsv(const QString& file, QString* error) const {
    QString text;
    QTextStream out(&text);
    auto num = [](const metrics::MetricValue& v) { return v.has() ? QString::number(*v.value, 'g', 12) : QString(); };
    auto quoted = [](QString s) {
        if (s.contains(',') || s.contains('"') || s.contains('\n')) s = '"' + s.replace("\"", "\"\"") + '"';
        return s;
    };
    out << "label,n,positives,auroc,auroc_ci_low,auroc_ci_high,average_precision,threshold,sensitivity,"
           "specificity,ppv,npv,f1,positive_rate,brier,ece,ece_after_temperature,temperature,temperature_scaled\n";
    for (int l = 0; l < labelCount(); ++l) {
        const auto& r = reportRaw_.labels[std::size_t(l)];
        const auto m =
            metrics::metricsAtThreshold(raw_[std::size_t(l)].truth, shownScores(l), thresholds_[std::size_t(l)]);
        QString lo, hi;
        if (hasIntervals_) {
            const auto& ci = intervals_.labels[std::size_t(l)].at("auroc");
            if (ci.lower) lo = QString::number(*ci.lower, 'g', 12);
            if (ci.upper) hi = QString::number(*ci.upper, 'g', 12);
        }
        QStringList cells = {quoted(QString::fromStdString(r.name)),
                             QString::number(r.n),
                             QString::number(r.positives),
                             num(r.auroc),
                             lo,
                             hi,
                             num(r.averagePrecision),
                             QString::number(m.threshold, 'g', 12),
                             num(m.recall),
                             num(m.specificity),
                             num(m.precision),
                             num(m.npv),
                             num(m.f1),
                             num(m.positiveRate),
                             num(r.brier),
                             num(r.ece),
                             num(reportScaled_.labels[std::size_t(l)].ece),
                             QString::number(fits_[std::size_t(l)].temperature, 'g', 12),
                             scaled_ ? "1" : "0"};
        out << cells.join(',') << "\n";
    }
    out.flush();
    try {
        util::writeFileAtomically(file.toStdString(), text.toStdString());
    } catch (const std::exception& e) {
        if (error) *error = QString::fromUtf8(e.what());
        return false;
    }
    return true;
}

}  // namespace lumen::widgets
