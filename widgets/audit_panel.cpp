#include "audit_panel.h"

#include "card_export.h"
#include "report/audit_card.h"

#include "job_event_bridge.h"
#include "plot_export.h"
#include "table_items.h"

#include "runs/run_store.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include "file_dialogs.h"
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QToolTip>
#include <QVBoxLayout>

#include <cmath>
#include <tuple>

namespace lumen::widgets {
namespace {

const QColor kPass(0xd4, 0xf4, 0xdc);
const QColor kFail(0xfa, 0xd4, 0xd4);
const QColor kPassText(0x1b, 0x7f, 0x3b);
const QColor kFailText(0xc0, 0x1c, 0x28);
constexpr int kGrid = 256;
constexpr double kHoverRadiusPx = 6.0;

QString number(double v, int decimals = 6) { return QString::number(v, 'f', decimals); }

}  // namespace

// The points of the category on show, with a uniform grid over data space for hover/click
// lookups (QCPGraph keeps its own copy sorted by key, so it cannot say which study a dot is).
struct AuditPanel::Points {
    std::vector<double> x, y;
    std::vector<std::uint32_t> pair;    // index into result->joinedRows
    std::vector<std::uint32_t> column;  // index into result->sharedColumns
    int outliers = 0;
    int nonFinite = 0;  // pairs with an infinity: counted, not drawn
    double x0 = 0, y0 = 0, cellW = 1, cellH = 1;
    std::vector<std::uint32_t> cellStart, order;

    int cellX(double v) const { return std::clamp(int((v - x0) / cellW), 0, kGrid - 1); }
    int cellY(double v) const { return std::clamp(int((v - y0) / cellH), 0, kGrid - 1); }

    void index() {
        if (x.empty()) return;
        const auto [xmin, xmax] = std::minmax_element(x.begin(), x.end());
        const auto [ymin, ymax] = std::minmax_element(y.begin(), y.end());
        x0 = *xmin;
        y0 = *ymin;
        cellW = std::max((*xmax - x0) / kGrid, 1e-12);
        cellH = std::max((*ymax - y0) / kGrid, 1e-12);
        cellStart.assign(kGrid * kGrid + 1, 0);
        for (std::size_t i = 0; i < x.size(); ++i) ++cellStart[std::size_t(cellY(y[i]) * kGrid + cellX(x[i])) + 1];
        for (std::size_t c = 1; c < cellStart.size(); ++c) cellStart[c] += cellStart[c - 1];
        order.resize(x.size());
        std::vector<std::uint32_t> fill(cellStart.begin(), cellStart.end() - 1);
        for (std::uint32_t i = 0; i < x.size(); ++i) order[fill[std::size_t(cellY(y[i]) * kGrid + cellX(x[i]))]++] = i;
    }
};

AuditPanel::AuditPanel(QWidget* parent)
    : QWidget(parent),
      baselineEdit_(new QLineEdit),
      newEdit_(new QLineEdit),
      categoriesEdit_(new QLineEdit),
      stageEdit_(new QLineEdit),
      maxMae_(new QDoubleSpinBox),
      minCorr_(new QDoubleSpinBox),
      tolerance_(new QDoubleSpinBox),
      allowIds_(new QCheckBox(tr("Allow missing ids"))),
      allowColumns_(new QCheckBox(tr("Allow missing columns"))),
      allowValues_(new QCheckBox(tr("Allow missing values"))),
      runButton_(new QPushButton(tr("Run audit"))),
      status_(new QLabel),
      gaps_(new QLabel),
      maxDiff_(new QLabel),
      summary_(new QTableWidget),
      categoryBox_(new QComboBox),
      scatter_(new QCustomPlot),
      histogram_(new QCustomPlot),
      study_(new QTableWidget),
      history_(new QTableWidget),
      points_(std::make_unique<Points>()) {
    buildUi();
}

AuditPanel::~AuditPanel() = default;

void AuditPanel::buildUi() {
    setObjectName("auditPanel");
    setAcceptDrops(true);
    auto* root = new QVBoxLayout(this);
    root->addWidget(buildInputs());
    status_->setObjectName("auditStatus");
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    status_->setWordWrap(true);
    root->addWidget(status_);
    gaps_->setObjectName("auditGaps");
    gaps_->setWordWrap(true);
    gaps_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    root->addWidget(gaps_);

    // Summary and history on top; plots and the selected study below.
    auto* vertical = new QSplitter(Qt::Vertical);
    root->addWidget(vertical, 1);
    vertical->addWidget(buildTables());
    auto* split = new QSplitter(Qt::Horizontal);
    vertical->addWidget(split);
    vertical->setStretchFactor(0, 1);
    vertical->setStretchFactor(1, 3);
    split->addWidget(buildPlots());
    study_->setObjectName("auditStudy");
    study_->setColumnCount(4);
    study_->setHorizontalHeaderLabels({tr("Column"), tr("Baseline"), tr("New"), tr("Diff")});
    study_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    study_->verticalHeader()->hide();
    study_->setSortingEnabled(true);
    auto* studyBox = new QGroupBox(tr("Study (click a point)"));
    (new QVBoxLayout(studyBox))->addWidget(study_);
    split->addWidget(studyBox);
    studyBox->setMinimumWidth(380);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    setStatus(tr("Choose a baseline and a new predictions table, then Run audit."),
              palette().color(QPalette::WindowText));
}

QWidget* AuditPanel::buildInputs() {
    auto* inputs = new QGroupBox(tr("Baseline and new predictions (drop CSV files here)"));
    auto* form = new QFormLayout(inputs);
    auto fileRow = [this](QLineEdit* edit, const QString& name, const QString& filter) {
        edit->setObjectName(name);
        edit->setPlaceholderText(filter);
        auto* row = new QHBoxLayout;
        row->addWidget(edit);
        auto* browse = new QPushButton(tr("Browse…"));
        connect(browse, &QPushButton::clicked, this, [this, edit, filter] {
            const QString f = openFileDialog(this, tr("Choose a file"), edit->text(), filter);
            if (!f.isEmpty()) edit->setText(f);
        });
        row->addWidget(browse);
        return row;
    };
    form->addRow(tr("Baseline:"), fileRow(baselineEdit_, "baselineEdit", tr("CSV files (*.csv)")));
    form->addRow(tr("New:"), fileRow(newEdit_, "newEdit", tr("CSV files (*.csv)")));
    form->addRow(tr("Categories:"), fileRow(categoriesEdit_, "categoriesEdit", tr("YAML files (*.yaml *.yml)")));
    auto* settings = new QHBoxLayout;
    maxMae_->setObjectName("maxMae");
    maxMae_->setDecimals(4);
    maxMae_->setRange(0, 1e6);
    maxMae_->setValue(0.1);
    maxMae_->setToolTip(tr("A category passes when its MAE is below this"));
    minCorr_->setObjectName("minCorr");
    minCorr_->setDecimals(4);
    minCorr_->setRange(-1, 1);
    minCorr_->setSingleStep(0.001);
    minCorr_->setValue(0.999);
    minCorr_->setToolTip(tr("…and its Pearson correlation at least this"));
    tolerance_->setObjectName("tolerance");
    tolerance_->setDecimals(4);
    tolerance_->setRange(0, 1e6);
    tolerance_->setValue(0.1);
    tolerance_->setToolTip(tr("Points whose |new − baseline| exceeds this are drawn red"));
    stageEdit_->setObjectName("stageEdit");
    stageEdit_->setPlaceholderText(tr("stage, e.g. after fix"));
    stageEdit_->setToolTip(tr("Name of this audit in the workspace's history"));
    settings->addWidget(new QLabel(tr("MAE <")));
    settings->addWidget(maxMae_);
    settings->addWidget(new QLabel(tr("r ≥")));
    settings->addWidget(minCorr_);
    settings->addWidget(new QLabel(tr("highlight |diff| >")));
    settings->addWidget(tolerance_);
    settings->addWidget(new QLabel(tr("Stage:")));
    settings->addWidget(stageEdit_, 1);
    runButton_->setObjectName("runAudit");
    settings->addWidget(runButton_);
    form->addRow(settings);
    auto* allow = new QHBoxLayout;
    allow->addWidget(new QLabel(tr("Partial audit:")));
    for (auto [box, name, tip] :
         {std::tuple{allowIds_, "allowMissingIds",
                     tr("Ids in one table only do not fail the audit (they are still reported)")},
          std::tuple{allowColumns_, "allowMissingColumns",
                     tr("Numeric columns in one table only do not fail the audit")},
          std::tuple{allowValues_, "allowMissingValues",
                     tr("Values missing on one side only do not fail the audit")}}) {
        box->setObjectName(name);
        box->setToolTip(tip);
        allow->addWidget(box);
    }
    allow->addStretch(1);
    form->addRow(allow);
    connect(runButton_, &QPushButton::clicked, this, [this] { runAudit(); });
    connect(tolerance_, &QDoubleSpinBox::valueChanged, this,
            [this] { showCategory(std::max(0, categoryBox_->currentIndex())); });
    return inputs;
}

QWidget* AuditPanel::buildTables() {
    auto* top = new QSplitter(Qt::Horizontal);
    summary_->setObjectName("auditSummary");
    summary_->setColumnCount(8);
    summary_->setHorizontalHeaderLabels({tr("Category"), tr("Cols"), tr("N"), tr("MAE"), tr("Correlation"),
                                         tr("Max diff"), tr("At (id / column)"), tr("Status")});
    summary_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    summary_->setSelectionBehavior(QAbstractItemView::SelectRows);
    summary_->setSelectionMode(QAbstractItemView::SingleSelection);
    summary_->verticalHeader()->hide();
    summary_->horizontalHeader()->setStretchLastSection(true);
    summary_->setSortingEnabled(true);
    connect(summary_, &QTableWidget::cellClicked, this, [this](int row, int) {
        const int index = summary_->item(row, 0)->data(Qt::UserRole).toInt();
        if (index >= 0) categoryBox_->setCurrentIndex(index);  // OVERALL mixes categories: no plot
    });
    summary_->setMinimumHeight(120);
    for (QTableWidget* t : {summary_, history_, study_}) t->verticalHeader()->setDefaultSectionSize(24);
    top->addWidget(summary_);
    history_->setObjectName("auditHistory");
    history_->setColumnCount(6);
    history_->setHorizontalHeaderLabels({tr("Stage"), tr("Overall MAE"), tr("r"), tr("N"), tr("Status"), tr("Date")});
    history_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    history_->verticalHeader()->hide();
    history_->horizontalHeader()->setStretchLastSection(true);
    auto* historyBox = new QGroupBox(tr("Progress history (this workspace)"));
    (new QVBoxLayout(historyBox))->addWidget(history_);
    top->addWidget(historyBox);
    top->setStretchFactor(0, 3);
    top->setStretchFactor(1, 2);
    return top;
}

QWidget* AuditPanel::buildPlots() {
    auto* middle = new QWidget;
    auto* mid = new QVBoxLayout(middle);
    mid->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Category:")));
    categoryBox_->setObjectName("auditCategory");
    categoryBox_->setToolTip(tr("The scatter, the histogram and Max |Δ| show one category at a time"));
    bar->addWidget(categoryBox_, 1);
    maxDiff_->setObjectName("auditMaxDiff");
    bar->addWidget(maxDiff_);
    auto* exportScatter = new QPushButton(tr("Export scatter…"));
    auto* exportHistogram = new QPushButton(tr("Export histogram…"));
    auto* saveReport = new QPushButton(tr("Save report…"));
    saveReport->setObjectName("saveReport");
    saveReport->setEnabled(false);  // until an audit finished
    saveReportButton_ = saveReport;
    exportPdfButton_ = new QPushButton(tr("Export PDF report…"));
    exportPdfButton_->setObjectName("exportPdfReport");
    exportPdfButton_->setEnabled(false);
    exportPdfButton_->setToolTip(tr("The summary table, a scatter and a histogram per category, without ids"));
    bar->addWidget(exportScatter);
    bar->addWidget(exportHistogram);
    bar->addWidget(saveReport);
    bar->addWidget(exportPdfButton_);
    connect(exportPdfButton_, &QPushButton::clicked, this, [this] {
        if (auto r = result_)
            exportCardInteractively(
                this, tr("Export PDF report"), "audit_report.pdf", [r] { return report::auditCard(*r); }, true);
    });
    mid->addLayout(bar);
    connect(categoryBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (i >= 0) showCategory(i);
    });
    connect(exportScatter, &QPushButton::clicked, this,
            [this] { exportPlotInteractively(scatter_, this, "audit_scatter.png"); });
    connect(exportHistogram, &QPushButton::clicked, this,
            [this] { exportPlotInteractively(histogram_, this, "audit_differences.png"); });
    connect(saveReport, &QPushButton::clicked, this, &AuditPanel::saveReport);

    scatter_->setObjectName("auditScatter");
    scatter_->setMinimumSize(360, 200);
    scatter_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    scatter_->xAxis->setLabel(tr("baseline"));
    scatter_->yAxis->setLabel(tr("new"));
    scatter_->setNoAntialiasingOnDrag(true);
    scatter_->plotLayout()->insertRow(0);
    scatter_->plotLayout()->addElement(
        0, 0, new QCPTextElement(scatter_, tr("Baseline vs new"), QFont("sans", 10, QFont::Bold)));
    auto* inliers = scatter_->addGraph();
    inliers->setLineStyle(QCPGraph::lsNone);
    inliers->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(31, 119, 180, 160), 3));
    inliers->setAdaptiveSampling(true);
    inliers->setName(tr("within tolerance"));
    auto* outliers = scatter_->addGraph();
    outliers->setLineStyle(QCPGraph::lsNone);
    outliers->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(214, 39, 40), 6));
    outliers->setName(tr("beyond tolerance"));
    auto* selected = scatter_->addGraph();
    selected->setLineStyle(QCPGraph::lsNone);
    selected->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(255, 127, 14), 2), Qt::NoBrush, 10));
    selected->setName(tr("selected study"));
    auto* identity = new QCPItemStraightLine(scatter_);
    identity->point1->setCoords(0, 0);
    identity->point2->setCoords(1, 1);
    identity->setPen(QPen(QColor(120, 120, 120), 1, Qt::DashLine));
    scatter_->legend->setVisible(true);
    scatter_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    scatter_->installEventFilter(this);
    scatter_->setMouseTracking(true);
    connect(scatter_, &QCustomPlot::mouseDoubleClick, this, [this] {
        scatter_->rescaleAxes();
        scatter_->replot();
    });
    mid->addWidget(scatter_, 3);

    histogram_->setObjectName("auditHistogram");
    histogram_->setMinimumHeight(110);
    histogram_->xAxis->setLabel(tr("new − baseline"));
    histogram_->yAxis->setLabel(tr("values"));
    auto* bars = new QCPBars(histogram_->xAxis, histogram_->yAxis);
    bars->setBrush(QColor(31, 119, 180, 170));
    bars->setPen(Qt::NoPen);
    mid->addWidget(histogram_, 2);
    return middle;
}

void AuditPanel::setJobRunner(Submit submit, JobEventBridge* bridge) {
    submit_ = std::move(submit);
    bridge_ = bridge;
    connect(bridge_, &JobEventBridge::ended, this, [this](quint64 job) {
        if (job != runningJob_) return;
        runningJob_ = 0;
        runButton_->setEnabled(true);
        if (pending_ && *pending_) setResult(*pending_);
        pending_.reset();
        refreshHistory();
    });
    connect(bridge_, &JobEventBridge::failed, this, [this](quint64 job, const QString& error) {
        if (job != runningJob_) return;
        clearResult();  // the tables and the report were of other inputs
        setStatus(tr("Audit failed: %1").arg(error), kFailText);
    });
    connect(bridge_, &JobEventBridge::cancelled, this, [this](quint64 job) {
        if (job != runningJob_) return;
        clearResult();
        setStatus(tr("Audit cancelled."), palette().color(QPalette::WindowText));
    });
    connect(bridge_, &JobEventBridge::progress, this, [this](quint64 job, double f, const QString& m, double) {
        if (job == runningJob_)
            setStatus(tr("Auditing… %1% %2").arg(int(f * 100)).arg(m), palette().color(QPalette::WindowText));
    });
}

void AuditPanel::setDatabase(const QString& runDatabase) {
    database_ = runDatabase;
    refreshHistory();
}

void AuditPanel::setInputs(const QString& baseline, const QString& newFile, const QString& categories) {
    baselineEdit_->setText(baseline);
    newEdit_->setText(newFile);
    categoriesEdit_->setText(categories);
}

// Clears the previous audit's verdict, tables, plots and report: after a failed or cancelled
// run they would speak of inputs that are no longer the ones on screen.
void AuditPanel::clearResult() {
    result_.reset();
    selectedStudy_.clear();
    summary_->setRowCount(0);
    study_->setRowCount(0);
    gaps_->clear();
    maxDiff_->clear();
    {
        const QSignalBlocker block(categoryBox_);
        categoryBox_->clear();
    }
    *points_ = Points();
    for (int g = 0; g < scatter_->graphCount(); ++g) scatter_->graph(g)->data()->clear();
    scatter_->replot();
    if (auto* bars = qobject_cast<QCPBars*>(histogram_->plottable(0))) bars->data()->clear();
    histogram_->replot();
    saveReportButton_->setEnabled(false);
    exportPdfButton_->setEnabled(false);
}

QString AuditPanel::exportPdfReport(const QString& file) {
    if (!result_) return tr("no audit to export: run one first");
    auto r = result_;
    return exportCard([r] { return report::auditCard(*r); }, file);
}

// Long messages (an error listing 90 column names) are cut on screen, whole in the tooltip:
// the label wraps, so no message can widen the window.
void AuditPanel::setStatus(const QString& text, const QColor& color) {
    constexpr int kShown = 400;
    status_->setToolTip(text.size() > kShown ? text : QString());
    status_->setText(
        text.size() > kShown ? text.left(kShown) + tr("… (the whole message is in the tooltip and the Log)") : text);
    QPalette p = status_->palette();
    p.setColor(QPalette::WindowText, color);
    status_->setPalette(p);
}

QString AuditPanel::statusText() const { return status_->text(); }

bool AuditPanel::runAudit() {
    const QString baseline = baselineEdit_->text().trimmed(), newer = newEdit_->text().trimmed();
    if (baseline.isEmpty() || newer.isEmpty()) {
        setStatus(tr("Choose both a baseline and a new table first."), kFailText);
        return false;
    }
    if (!submit_) {
        setStatus(tr("No job runner: audits cannot run here."), kFailText);
        return false;
    }
    if (runningJob_) return false;
    audit::AuditOptions options;
    options.thresholds.maxMae = maxMae_->value();
    options.thresholds.minCorr = minCorr_->value();
    options.allow = {allowIds_->isChecked(), allowColumns_->isChecked(), allowValues_->isChecked()};
    const std::string b = baseline.toStdString(), n = newer.toStdString();
    const std::string categories = categoriesEdit_->text().trimmed().toStdString();
    const std::string database = database_.toStdString();
    const std::string stage =
        stageEdit_->text().trimmed().isEmpty() ? "audit" : stageEdit_->text().trimmed().toStdString();
    auto holder = std::make_shared<std::shared_ptr<const audit::AuditResult>>();
    pending_ = holder;
    runButton_->setEnabled(false);
    setStatus(tr("Auditing…"), palette().color(QPalette::WindowText));
    runningJob_ =
        submit_("audit", tr("Audit %1 vs %2").arg(QFileInfo(baseline).fileName(), QFileInfo(newer).fileName()),
                [=](jobs::JobContext& job) {
                    audit::AuditOptions o = options;
                    if (!categories.empty()) o.categories = audit::loadCategories(categories);
                    auto result = std::make_shared<audit::AuditResult>(audit::runAudit(b, n, o, &job));
                    if (!database.empty()) {
                        runs::RunStore store(database);
                        audit::recordAudit(store, result->report, stage);
                    }
                    *holder = result;
                    return result->report.verdict();
                });
    return true;
}

void AuditPanel::setResult(std::shared_ptr<const audit::AuditResult> result) {
    result_ = std::move(result);
    saveReportButton_->setEnabled(true);
    exportPdfButton_->setEnabled(true);
    selectedStudy_.clear();
    study_->setRowCount(0);
    fillSummary();
    fillGaps();
    const auto& r = result_->report;
    int passed = 0, firstFailing = -1;
    for (std::size_t i = 0; i < r.categories.size(); ++i) {
        passed += r.categories[i].pass;
        if (!r.categories[i].pass && firstFailing < 0) firstFailing = int(i);
    }
    {
        const QSignalBlocker block(categoryBox_);
        categoryBox_->clear();
        for (const auto& c : r.categories)
            categoryBox_->addItem(QString::fromStdString(c.name) + (c.pass ? "  ✔" : "  ✘"));
        categoryBox_->setCurrentIndex(std::max(0, firstFailing));  // the first failing category
    }
    showCategory(std::max(0, firstFailing));
    setStatus(tr("%1 — %2 of %3 categories pass; %4 shared ids, %5 values; ids only in baseline: %6, only in new: %7")
                  .arg(QString::fromStdString(r.verdict()))
                  .arg(passed)
                  .arg(r.categories.size())
                  .arg(r.sharedIds)
                  .arg(r.overall.n)
                  .arg(r.idsOnlyInBaseline.size())
                  .arg(r.idsOnlyInNew.size()),
              r.pass() ? kPassText : kFailText);
    emit auditFinished(r.pass());
}

void AuditPanel::fillGaps() {
    const auto& r = result_->report;
    QStringList lines;
    for (const auto& g : r.gaps()) {
        QStringList examples;
        for (const auto& e : g.examples) examples << QString::fromStdString(e).toHtmlEscaped();
        const QString more =
            g.count > g.examples.size() ? tr(", … (%1 more)").arg(g.count - g.examples.size()) : QString();
        lines << tr("<b style='color:%1'>%2</b> %3 %4: %5%6")
                     .arg((g.allowed ? kPassText : kFailText).name(), g.allowed ? tr("allowed:") : tr("FAIL:"))
                     .arg(g.count)
                     .arg(QString::fromStdString(g.title), examples.join(", "), more);
    }
    if (!r.overallJudged)
        lines << tr("OVERALL passes when every category passes (categories have their own thresholds).");
    gaps_->setText(lines.isEmpty() ? tr("Every id, column and value is on both sides.") : lines.join("<br>"));
}

QString AuditPanel::gapsText() const { return gaps_->text(); }

void AuditPanel::fillSummary() {
    summary_->setSortingEnabled(false);
    const auto& r = result_->report;
    summary_->setRowCount(int(r.categories.size()) + 1);
    auto fill = [&](int row, const audit::Stats& s, const QString& name, int categoryIndex) {
        auto* nameItem = new QTableWidgetItem(name);
        nameItem->setData(Qt::UserRole, categoryIndex);
        summary_->setItem(row, 0, nameItem);
        summary_->setItem(row, 1, new SortKeyItem(QString::number(s.columns.size()), double(s.columns.size())));
        summary_->setItem(row, 2, new SortKeyItem(QString::number(s.n), double(s.n)));
        summary_->setItem(row, 3, new SortKeyItem(s.n ? number(s.mae) : tr("n/a"), s.n ? s.mae : -1));
        auto* corr = new SortKeyItem(s.corr ? number(*s.corr) : tr("n/a"), s.corr ? *s.corr : -2);
        if (!s.corrNote.empty()) corr->setToolTip(QString::fromStdString(s.corrNote));
        summary_->setItem(row, 4, corr);
        summary_->setItem(row, 5, new SortKeyItem(s.n ? number(s.maxDiff, 4) : tr("n/a"), s.n ? s.maxDiff : -1));
        summary_->setItem(row, 6, new QTableWidgetItem(QString::fromStdString(s.maxDiffId + " / " + s.maxDiffColumn)));
        auto* status = new QTableWidgetItem(s.pass ? tr("PASS") : tr("FAIL"));
        status->setForeground(s.pass ? kPassText : kFailText);
        QFont bold = status->font();
        bold.setBold(true);
        status->setFont(bold);
        summary_->setItem(row, 7, status);
        for (int c = 0; c < summary_->columnCount(); ++c) summary_->item(row, c)->setBackground(s.pass ? kPass : kFail);
    };
    for (std::size_t i = 0; i < r.categories.size(); ++i)
        fill(int(i), r.categories[i], QString::fromStdString(r.categories[i].name), int(i));
    fill(int(r.categories.size()), r.overall, tr("OVERALL"), -1);
    QFont bold = summary_->item(int(r.categories.size()), 0)->font();
    bold.setBold(true);
    summary_->item(int(r.categories.size()), 0)->setFont(bold);
    summary_->setSortingEnabled(true);
    summary_->resizeColumnsToContents();
}

void AuditPanel::showCategory(int index) {
    if (!result_ || index < 0 || index >= int(result_->report.categories.size())) return;
    const auto& r = *result_;
    const audit::Stats& category = r.report.categories[std::size_t(index)];
    // Which shared columns belong to the category.
    std::vector<char> wanted(r.sharedColumns.size(), 0);
    for (std::size_t k = 0; k < r.sharedColumns.size(); ++k) {
        const auto& name = r.baseline->columns[std::size_t(r.sharedColumns[k].first)];
        wanted[k] = std::find(category.columns.begin(), category.columns.end(), name) != category.columns.end();
    }
    Points& p = *points_;
    p = Points();
    const double tolerance = tolerance_->value();
    QVector<double> ix, iy, ox, oy;
    for (std::size_t k = 0; k < r.sharedColumns.size(); ++k) {
        if (!wanted[k]) continue;
        const auto& xb = r.baseline->values[std::size_t(r.sharedColumns[k].first)];
        const auto& yn = r.newer->values[std::size_t(r.sharedColumns[k].second)];
        for (std::uint32_t j = 0; j < r.joinedRows.size(); ++j) {
            const double x = xb[r.joinedRows[j].first], y = yn[r.joinedRows[j].second];
            if (std::isnan(x) || std::isnan(y)) continue;
            if (!std::isfinite(x) || !std::isfinite(y)) {
                ++p.nonFinite;  // in the statistics, but not drawable
                continue;
            }
            p.x.push_back(x);
            p.y.push_back(y);
            p.pair.push_back(j);
            p.column.push_back(std::uint32_t(k));
            if (std::abs(y - x) > tolerance) {
                ox.push_back(x);
                oy.push_back(y);
                ++p.outliers;
            } else {
                ix.push_back(x);
                iy.push_back(y);
            }
        }
    }
    p.index();
    scatter_->graph(0)->setData(ix, iy);
    scatter_->graph(1)->setData(ox, oy);
    scatter_->graph(2)->data()->clear();
    scatter_->rescaleAxes();
    const auto pad = [](QCPAxis* a) {
        const QCPRange range = a->range();
        const double margin = std::max(range.size() * 0.03, 1e-9);
        a->setRange(range.lower - margin, range.upper + margin);
    };
    pad(scatter_->xAxis);
    pad(scatter_->yAxis);
    const QString name = QString::fromStdString(category.name);
    const QString infinite = p.nonFinite ? tr(", %1 with an infinity not drawn").arg(p.nonFinite) : QString();
    if (auto* title = qobject_cast<QCPTextElement*>(scatter_->plotLayout()->element(0, 0)))
        title->setText(tr("Baseline vs new — %1: %2 points, %3 beyond ±%4%5")
                           .arg(name)
                           .arg(p.x.size())
                           .arg(p.outliers)
                           .arg(tolerance)
                           .arg(infinite));
    scatter_->replot();
    maxDiff_->setText(category.n ? tr("Max |Δ| %1 at %2 / %3")
                                       .arg(number(category.maxDiff, 4), QString::fromStdString(category.maxDiffId),
                                            QString::fromStdString(category.maxDiffColumn))
                                 : tr("Max |Δ| n/a (no values)"));
    drawHistogram(name);
}

// The histogram of new − baseline over the points on show (61 symmetric bins).
void AuditPanel::drawHistogram(const QString& category) {
    const Points& p = *points_;
    constexpr int kBins = 61;
    double maxAbs = 0;
    for (std::size_t i = 0; i < p.x.size(); ++i) maxAbs = std::max(maxAbs, std::abs(p.y[i] - p.x[i]));
    if (maxAbs == 0) maxAbs = 1e-9;
    const double width = 2 * maxAbs / kBins;
    QVector<double> centres(kBins), counts(kBins, 0);
    for (int b = 0; b < kBins; ++b) centres[b] = -maxAbs + (b + 0.5) * width;
    for (std::size_t i = 0; i < p.x.size(); ++i) {
        const int b = std::clamp(int((p.y[i] - p.x[i] + maxAbs) / width), 0, kBins - 1);
        counts[b] += 1;
    }
    auto* bars = qobject_cast<QCPBars*>(histogram_->plottable(0));
    bars->setWidth(width);
    bars->setData(centres, counts, true);
    histogram_->xAxis->setLabel(tr("new − baseline (%1)").arg(category));
    histogram_->rescaleAxes();
    histogram_->xAxis->setRange(-maxAbs * 1.05, maxAbs * 1.05);
    histogram_->yAxis->setRangeLower(0);
    histogram_->replot();
}

int AuditPanel::pointCount() const { return int(points_->x.size()); }
int AuditPanel::outlierCount() const { return points_->outliers; }
int AuditPanel::nonFiniteCount() const { return points_->nonFinite; }
QString AuditPanel::maxDiffText() const { return maxDiff_->text(); }

QPoint AuditPanel::pixelOf(double baseline, double newValue) const {
    return QPoint(int(std::lround(scatter_->xAxis->coordToPixel(baseline))),
                  int(std::lround(scatter_->yAxis->coordToPixel(newValue))));
}

std::optional<AuditPoint> AuditPanel::pointAt(const QPoint& pixel) const {
    const Points& p = *points_;
    if (!result_ || p.x.empty()) return std::nullopt;
    const double cx = scatter_->xAxis->pixelToCoord(pixel.x());
    const double cy = scatter_->yAxis->pixelToCoord(pixel.y());
    const double rx = std::abs(scatter_->xAxis->pixelToCoord(pixel.x() + kHoverRadiusPx) - cx);
    const double ry = std::abs(scatter_->yAxis->pixelToCoord(pixel.y() + kHoverRadiusPx) - cy);
    if (cx + rx < p.x0 || cy + ry < p.y0) return std::nullopt;
    const int gx0 = p.cellX(cx - rx), gx1 = p.cellX(cx + rx), gy0 = p.cellY(cy - ry), gy1 = p.cellY(cy + ry);
    double best = 1.0;  // in units of the hover radius
    std::int64_t bestIndex = -1;
    for (int gy = gy0; gy <= gy1; ++gy)
        for (int gx = gx0; gx <= gx1; ++gx) {
            const std::size_t cell = std::size_t(gy * kGrid + gx);
            for (std::uint32_t k = p.cellStart[cell]; k < p.cellStart[cell + 1]; ++k) {
                const std::uint32_t i = p.order[k];
                const double dx = (p.x[i] - cx) / rx, dy = (p.y[i] - cy) / ry;
                const double d = dx * dx + dy * dy;
                if (d <= best) {
                    best = d;
                    bestIndex = i;
                }
            }
        }
    if (bestIndex < 0) return std::nullopt;
    const auto i = std::size_t(bestIndex);
    const auto& r = *result_;
    AuditPoint point;
    point.id = QString::fromStdString(r.baseline->ids[r.joinedRows[p.pair[i]].first]);
    point.column = QString::fromStdString(r.baseline->columns[std::size_t(r.sharedColumns[p.column[i]].first)]);
    point.baseline = p.x[i];
    point.newValue = p.y[i];
    return point;
}

void AuditPanel::selectStudy(const QString& id) {
    if (!result_) return;
    const auto& r = *result_;
    const auto rb = r.baseline->findRow(id.toStdString());
    const auto rn = r.newer->findRow(id.toStdString());
    if (!rb || !rn) return;
    selectedStudy_ = id;
    study_->setSortingEnabled(false);
    study_->setRowCount(int(r.sharedColumns.size()));
    QVector<double> sx, sy;
    const int shown = categoryBox_->currentIndex();
    for (std::size_t k = 0; k < r.sharedColumns.size(); ++k) {
        const auto [cb, cn] = r.sharedColumns[k];
        const double x = r.baseline->values[std::size_t(cb)][*rb], y = r.newer->values[std::size_t(cn)][*rn];
        const int row = int(k);
        study_->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(r.baseline->columns[std::size_t(cb)])));
        study_->setItem(row, 1, new SortKeyItem(std::isnan(x) ? tr("missing") : number(x), x));
        study_->setItem(row, 2, new SortKeyItem(std::isnan(y) ? tr("missing") : number(y), y));
        const double d = x == y ? 0.0 : y - x;  // equal infinities differ by 0
        auto* diff = new SortKeyItem(std::isnan(d) ? QString() : number(d), std::isnan(d) ? -1 : std::abs(d));
        if (!std::isnan(d) && std::abs(d) > tolerance_->value()) diff->setForeground(kFailText);
        study_->setItem(row, 3, diff);
        if (std::isfinite(d)) {
            bool inCategory = false;
            if (shown >= 0 && shown < int(r.report.categories.size())) {
                const auto& names = r.report.categories[std::size_t(shown)].columns;
                inCategory = std::find(names.begin(), names.end(), r.baseline->columns[std::size_t(cb)]) != names.end();
            }
            if (inCategory) {
                sx.push_back(x);
                sy.push_back(y);
            }
        }
    }
    study_->setSortingEnabled(true);
    study_->sortByColumn(3, Qt::DescendingOrder);  // largest |diff| first
    study_->resizeColumnsToContents();
    if (auto* box = study_->parentWidget()) {
        if (auto* group = qobject_cast<QGroupBox*>(box)) group->setTitle(tr("Study %1").arg(id));
    }
    scatter_->graph(2)->setData(sx, sy);
    scatter_->replot();
    emit studySelected(id);
}

bool AuditPanel::eventFilter(QObject* watched, QEvent* event) {
    if (watched == scatter_) {
        if (event->type() == QEvent::MouseMove) {
            auto* e = static_cast<QMouseEvent*>(event);
            if (e->buttons() == Qt::NoButton) {
                if (const auto p = pointAt(e->position().toPoint()))
                    QToolTip::showText(e->globalPosition().toPoint(),
                                       tr("<b>%1</b> · %2<br>baseline %3<br>new %4<br>diff %5")
                                           .arg(p->id, p->column, number(p->baseline), number(p->newValue),
                                                number(p->newValue - p->baseline)),
                                       scatter_);
                else QToolTip::hideText();
            }
        } else if (event->type() == QEvent::MouseButtonPress) {
            pressedAt_ = static_cast<QMouseEvent*>(event)->position().toPoint();
        } else if (event->type() == QEvent::MouseButtonRelease) {
            auto* e = static_cast<QMouseEvent*>(event);
            // A click, not the end of a drag: select the study under the mouse.
            if (e->button() == Qt::LeftButton && (e->position().toPoint() - pressedAt_).manhattanLength() < 4)
                if (const auto p = pointAt(e->position().toPoint())) selectStudy(p->id);
        }
    }
    return QWidget::eventFilter(watched, event);
}

void AuditPanel::refreshHistory() {
    history_->setRowCount(0);
    if (database_.isEmpty()) return;
    std::vector<audit::HistoryRow> rows;
    try {
        runs::RunStore store(database_.toStdString());
        rows = audit::auditHistory(store);
    } catch (const std::exception& e) {
        setStatus(tr("Cannot read the audit history: %1").arg(e.what()), kFailText);
        return;
    }
    history_->setRowCount(int(rows.size()));
    for (int i = 0; i < int(rows.size()); ++i) {
        const auto& h = rows[std::size_t(i)];
        history_->setItem(i, 0, new QTableWidgetItem(QString::fromStdString(h.stage)));
        history_->setItem(i, 1, new QTableWidgetItem(number(h.mae)));
        history_->setItem(i, 2, new QTableWidgetItem(h.corr ? number(*h.corr) : tr("n/a")));
        history_->setItem(i, 3, new QTableWidgetItem(QString::number(h.n)));
        auto* status = new QTableWidgetItem(h.pass ? (h.partial ? tr("PASS (partial)") : tr("PASS")) : tr("FAIL"));
        status->setForeground(h.pass ? kPassText : kFailText);
        history_->setItem(i, 4, status);
        history_->setItem(
            i, 5, new QTableWidgetItem(QDateTime::fromMSecsSinceEpoch(h.createdAtMs).toString("yyyy-MM-dd HH:mm")));
    }
    history_->resizeColumnsToContents();
}

void AuditPanel::saveReport() {
    if (!result_) return;
    const QString file =
        saveFileDialog(this, tr("Save audit report"), "audit_report.md", tr("Markdown (*.md);;JSON (*.json)"));
    if (file.isEmpty()) return;
    try {
        const bool json = file.endsWith(".json", Qt::CaseInsensitive);
        audit::writeReport(result_->report, json ? file.toStdString() : "", json ? "" : file.toStdString());
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Save audit report"), QString::fromUtf8(e.what()));
    }
}

void AuditPanel::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void AuditPanel::dropEvent(QDropEvent* event) {
    for (const QUrl& url : event->mimeData()->urls()) {
        const QString file = url.toLocalFile();
        if (file.endsWith(".yaml", Qt::CaseInsensitive) || file.endsWith(".yml", Qt::CaseInsensitive))
            categoriesEdit_->setText(file);
        else if (baselineEdit_->text().isEmpty()) baselineEdit_->setText(file);
        else newEdit_->setText(file);
    }
    event->acceptProposedAction();
}

}  // namespace lumen::widgets
