#include "sweep_panel.h"

#include "file_dialogs.h"
#include "plot_export.h"
#include "table_items.h"

#include "config/config.h"
#include "runs/run_store.h"
#include "util/atomic_file.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <map>

namespace lumen::widgets {

namespace fs = std::filesystem;

namespace {

constexpr int kPollMs = 2000;
constexpr int kFixedColumns = 4;  // trial, status, value, run

QString valueText(const std::optional<double>& v) { return v ? QString::number(*v, 'g', 5) : QStringLiteral("–"); }

/// The parameter keys of the sweep, in the order of the first trial.
std::vector<std::string> parameterKeys(const sweep::SweepState& s) {
    std::vector<std::string> keys;
    for (const auto& t : s.trials)
        for (const auto& [k, v] : t.trial.params)
            if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    return keys;
}

std::string paramOf(const sweep::TrialRecord& t, const std::string& key) {
    for (const auto& [k, v] : t.trial.params)
        if (k == key) return v;
    return {};
}

bool rated(const sweep::TrialRecord& t) {
    return (t.status == sweep::TrialStatus::Finished || t.status == sweep::TrialStatus::Stopped ||
            t.status == sweep::TrialStatus::Running) &&
           t.value && std::isfinite(*t.value);
}

/// One parallel-coordinates axis: positions in [0, 1] for each trial's value.
struct Axis {
    QString name, low, high;
    std::map<std::string, double> categories;  ///< non-numeric values -> position
    double min = 0, max = 0;
    bool numeric = true, logScale = false;
    double position(const std::string& text) const {
        if (!numeric) {
            auto it = categories.find(text);
            return it == categories.end() ? 0.5 : it->second;
        }
        const auto v = sweep::numericValue(text);
        if (!v || max <= min) return 0.5;
        return logScale ? (std::log(*v) - std::log(min)) / (std::log(max) - std::log(min)) : (*v - min) / (max - min);
    }
};

Axis makeAxis(const QString& name, const std::vector<std::string>& texts) {
    Axis a;
    a.name = name;
    std::vector<double> numbers;
    for (const auto& t : texts) {
        if (auto v = sweep::numericValue(t)) numbers.push_back(*v);
        else a.numeric = false;
    }
    if (a.numeric && !numbers.empty()) {
        a.min = *std::min_element(numbers.begin(), numbers.end());
        a.max = *std::max_element(numbers.begin(), numbers.end());
        a.logScale = a.min > 0 && a.max / a.min >= 20;  // spans decades: lr, temperature
        a.low = QString::number(a.min, 'g', 3);
        a.high = QString::number(a.max, 'g', 3) + (a.logScale ? " (log)" : "");
        return a;
    }
    std::vector<std::string> sorted(texts.begin(), texts.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); ++i)
        a.categories[sorted[i]] =
            sorted.size() == 1 ? 0.5 : static_cast<double>(i) / static_cast<double>(sorted.size() - 1);
    a.low = QString::fromStdString(sorted.empty() ? "" : sorted.front());
    a.high = QString::fromStdString(sorted.empty() ? "" : sorted.back());
    return a;
}

}  // namespace

SweepPanel::SweepPanel(QWidget* parent)
    : QWidget(parent),
      sweeps_(new QComboBox),
      summary_(new QLabel),
      table_(new QTableWidget),
      views_(new QTabWidget),
      parallel_(new QCustomPlot),
      importanceTable_(new QTableWidget),
      curves_(new QCustomPlot),
      poll_(new QTimer(this)) {
    setObjectName("sweepPanel");
    sweeps_->setObjectName("sweepChooser");
    sweeps_->setMinimumContentsLength(16);
    auto* run = new QPushButton(tr("Run sweep…"));
    auto* promote = new QPushButton(tr("Promote…"));
    auto* exportPlot = new QPushButton(tr("Export plot…"));
    promote->setToolTip(tr("Write the selected trial's config (the best when none is selected) for a full run"));
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Sweep:")));
    top->addWidget(sweeps_);
    top->addWidget(summary_, 1);
    top->addWidget(run);
    top->addWidget(promote);
    top->addWidget(exportPlot);
    summary_->setObjectName("sweepSummary");
    summary_->setWordWrap(true);
    table_->setObjectName("sweepTrials");
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSortingEnabled(true);
    table_->verticalHeader()->hide();
    parallel_->setObjectName("sweepParallel");
    curves_->setObjectName("sweepCurves");
    importanceTable_->setObjectName("sweepImportance");
    importanceTable_->setColumnCount(4);
    importanceTable_->setHorizontalHeaderLabels({tr("parameter"), tr("kind"), tr("importance"), tr("trials")});
    importanceTable_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    importanceTable_->verticalHeader()->hide();
    importanceTable_->horizontalHeader()->setSectionResizeMode(2, QHeaderView::Stretch);
    views_->addTab(parallel_, tr("Parallel coordinates"));
    views_->addTab(importanceTable_, tr("Importance"));
    views_->addTab(curves_, tr("Curves"));
    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(table_);
    split->addWidget(views_);
    split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(split, 1);
    connect(sweeps_, &QComboBox::currentTextChanged, this, [this] { loadCurrent(); });
    connect(table_, &QTableWidget::itemSelectionChanged, this, [this] {
        drawParallel();
        drawCurves();
    });
    connect(table_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
        if (auto* item = table_->item(row, 3)) emit runActivated(item->data(Qt::UserRole).toLongLong());
    });
    connect(run, &QPushButton::clicked, this, [this] {
        const QString file = openFileDialog(this, tr("Run sweep"), {}, tr("Sweep files (*.yaml *.yml)"));
        if (!file.isEmpty()) emit runSweepRequested(file);
    });
    connect(promote, &QPushButton::clicked, this, [this] { promoteInteractively(); });
    connect(exportPlot, &QPushButton::clicked, this, [this] { exportCurrentPlot(); });
    connect(poll_, &QTimer::timeout, this, [this] {
        if (isVisible()) refresh();
    });
    poll_->start(kPollMs);
}

void SweepPanel::setWorkspace(const fs::path& root) {
    root_ = root;
    state_.reset();
    stamp_ = {};
    refresh();
}

void SweepPanel::setStore(runs::RunStore* store) {
    store_ = store;
    drawCurves();
}

QStringList SweepPanel::sweepNames() const {
    QStringList names;
    for (int i = 0; i < sweeps_->count(); ++i) names << sweeps_->itemText(i);
    return names;
}

QString SweepPanel::currentSweep() const { return sweeps_->currentText(); }

bool SweepPanel::showSweep(const QString& name) {
    const int i = sweeps_->findText(name);
    if (i < 0) return false;
    sweeps_->setCurrentIndex(i);
    loadCurrent();
    return true;
}

void SweepPanel::refresh() {
    QStringList names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_ / "sweeps", ec))
        if (fs::exists(e.path() / "state.json")) names << QString::fromStdString(e.path().filename().string());
    names.sort();
    if (names != sweepNames()) {
        const QString current = currentSweep();
        const QSignalBlocker block(sweeps_);
        sweeps_->clear();
        sweeps_->addItems(names);
        if (names.contains(current)) sweeps_->setCurrentText(current);
        stamp_ = {};
    }
    loadCurrent();
}

void SweepPanel::loadCurrent() {
    const QString name = currentSweep();
    if (name.isEmpty()) {
        state_.reset();
        summary_->setText(root_.empty() ? tr("No workspace open.")
                                        : tr("No sweep in this workspace yet: run one with \"Run sweep…\" or "
                                             "lumen-cli sweep --config SWEEP.yaml --workspace %1.")
                                              .arg(QString::fromStdString(root_.string())));
        table_->setRowCount(0);
        importance_.clear();
        fillImportance();
        drawParallel();
        drawCurves();
        return;
    }
    const fs::path file = sweep::stateFile(root_, name.toStdString());
    std::error_code ec;
    const auto stamp = fs::last_write_time(file, ec);
    if (state_ && state_->name == name.toStdString() && stamp == stamp_) {
        drawCurves();  // running trials add epochs to the store, not to the state
        return;
    }
    try {
        state_ = sweep::loadState(file);
        stamp_ = stamp;
    } catch (const std::exception& e) {
        state_.reset();
        summary_->setText(tr("Cannot read this sweep: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    importance_ = sweep::parameterImportance(*state_);
    summary_->setText(summaryText());
    fillTable();
    fillImportance();
    drawParallel();
    drawCurves();
}

QString SweepPanel::summaryText() const {
    if (!state_) return {};
    std::map<std::string, int> counts;
    for (const auto& t : state_->trials) ++counts[sweep::statusName(t.status)];
    QStringList parts;
    for (const auto& [status, n] : counts) parts << QString("%1 %2").arg(n).arg(QString::fromStdString(status));
    QString text = tr("%1 (%2) — %3 trials: %4")
                       .arg(QString::fromStdString(state_->metric), state_->maximize ? tr("maximize") : tr("minimize"))
                       .arg(state_->trials.size())
                       .arg(parts.join(", "));
    if (const auto* best = state_->best())
        text += tr("; best #%1 (run %2): %3").arg(best->trial.index).arg(best->run).arg(valueText(best->value));
    return text;
}

void SweepPanel::fillTable() {
    const std::vector<std::size_t> selected = selectedTrials();
    const QSignalBlocker block(table_);
    table_->setSortingEnabled(false);
    const auto keys = parameterKeys(*state_);
    QStringList headers = {tr("trial"), tr("status"), QString::fromStdString(state_->metric), tr("run")};
    for (const auto& k : keys) headers << QString::fromStdString(k);
    table_->clear();
    table_->setColumnCount(static_cast<int>(headers.size()));
    table_->setHorizontalHeaderLabels(headers);
    table_->setRowCount(static_cast<int>(state_->trials.size()));
    for (int row = 0; row < static_cast<int>(state_->trials.size()); ++row) {
        const auto& t = state_->trials[static_cast<std::size_t>(row)];
        table_->setItem(row, 0, new SortKeyItem(QString::number(t.trial.index), static_cast<double>(t.trial.index)));
        auto* status = new QTableWidgetItem(QString::fromStdString(sweep::statusName(t.status)));
        if (!t.outcome.empty()) status->setToolTip(QString::fromStdString(t.outcome));
        table_->setItem(row, 1, status);
        const double key = t.value ? (state_->maximize ? *t.value : -*t.value) : -1e300;
        table_->setItem(row, 2, new SortKeyItem(valueText(t.value), key));
        auto* run = new SortKeyItem(t.run ? QString::number(t.run) : QStringLiteral("–"), static_cast<double>(t.run));
        run->setData(Qt::UserRole, static_cast<qlonglong>(t.run));
        table_->setItem(row, 3, run);
        for (std::size_t k = 0; k < keys.size(); ++k) {
            const std::string v = paramOf(t, keys[k]);
            const auto n = sweep::numericValue(v);
            // Numbers show 4 significant digits; the exact text is the tooltip.
            QTableWidgetItem* item =
                n ? new SortKeyItem(QString::number(*n, 'g', 4), *n) : new QTableWidgetItem(QString::fromStdString(v));
            item->setToolTip(QString::fromStdString(v));
            table_->setItem(row, kFixedColumns + static_cast<int>(k), item);
        }
    }
    table_->setSortingEnabled(true);
    table_->resizeColumnsToContents();
    selectTrials(selected);
}

std::vector<std::size_t> SweepPanel::selectedTrials() const {
    std::vector<std::size_t> out;
    for (const auto& range : table_->selectionModel()->selectedRows())
        if (auto* item = table_->item(range.row(), 0)) out.push_back(item->text().toULongLong());
    std::sort(out.begin(), out.end());
    return out;
}

void SweepPanel::selectTrials(const std::vector<std::size_t>& trials) {
    table_->clearSelection();
    for (int row = 0; row < table_->rowCount(); ++row)
        if (auto* item = table_->item(row, 0);
            item && std::find(trials.begin(), trials.end(), item->text().toULongLong()) != trials.end())
            table_->selectionModel()->select(table_->model()->index(row, 0),
                                             QItemSelectionModel::Select | QItemSelectionModel::Rows);
}

void SweepPanel::fillImportance() {
    importanceTable_->setRowCount(static_cast<int>(importance_.size()));
    for (int row = 0; row < static_cast<int>(importance_.size()); ++row) {
        const auto& imp = importance_[static_cast<std::size_t>(row)];
        importanceTable_->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(imp.key)));
        importanceTable_->setItem(row, 1, new QTableWidgetItem(imp.numeric ? tr("|Spearman ρ|") : tr("η (groups)")));
        auto* bar = new QProgressBar;
        bar->setRange(0, 1000);
        const bool known = std::isfinite(imp.score);
        bar->setValue(known ? static_cast<int>(imp.score * 1000) : 0);
        bar->setFormat(known ? QString::number(imp.score, 'f', 3) : tr("n/a (fewer than 3 trials or no spread)"));
        importanceTable_->setCellWidget(row, 2, bar);
        importanceTable_->setItem(row, 3, new QTableWidgetItem(QString::number(imp.trials)));
    }
    importanceTable_->resizeColumnToContents(0);
    importanceTable_->resizeColumnToContents(1);
}

void SweepPanel::drawParallel() {
    parallel_->clearGraphs();
    parallel_->clearItems();
    if (!state_ || state_->trials.empty()) {
        parallel_->replot();
        return;
    }
    const auto keys = parameterKeys(*state_);
    std::vector<Axis> axes;
    for (const auto& k : keys) {
        std::vector<std::string> texts;
        for (const auto& t : state_->trials) texts.push_back(paramOf(t, k));
        axes.push_back(makeAxis(QString::fromStdString(k), texts));
    }
    std::vector<std::string> values;
    for (const auto& t : state_->trials)
        if (rated(t)) values.push_back(QString::number(*t.value, 'g', 17).toStdString());
    axes.push_back(makeAxis(QString::fromStdString(state_->metric), values));
    axes.back().logScale = false;
    axes.back().high = QString::number(axes.back().max, 'g', 4);
    const auto selected = selectedTrials();
    QCPColorGradient gradient(QCPColorGradient::gpHot);
    const Axis& metricAxis = axes.back();
    for (const auto& t : state_->trials) {
        QVector<double> x, y;
        for (std::size_t a = 0; a + 1 < axes.size(); ++a) {
            x << static_cast<double>(a);
            y << axes[a].position(paramOf(t, keys[a]));
        }
        const bool hasValue = rated(t);
        if (hasValue) {
            x << static_cast<double>(axes.size() - 1);
            y << metricAxis.position(QString::number(*t.value, 'g', 17).toStdString());
        }
        auto* g = parallel_->addGraph();
        g->setData(x, y, true);
        const double goodness = hasValue ? (state_->maximize ? y.back() : 1.0 - y.back()) : 0.0;
        QColor c = hasValue ? gradient.color(0.15 + 0.7 * goodness, QCPRange(0, 1)) : QColor(170, 170, 170);
        const bool isSelected = std::find(selected.begin(), selected.end(), t.trial.index) != selected.end();
        if (!selected.empty() && !isSelected) c.setAlpha(70);
        g->setPen(QPen(c, isSelected ? 3.0 : 1.6, hasValue ? Qt::SolidLine : Qt::DashLine));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
        g->setName(QString("#%1").arg(t.trial.index));
    }
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (std::size_t a = 0; a < axes.size(); ++a) {
        ticker->addTick(static_cast<double>(a), axes[a].name);
        for (const auto& [text, at] : {std::pair{axes[a].low, 1.0}, std::pair{axes[a].high, 0.0}}) {
            auto* label = new QCPItemText(parallel_);
            label->position->setType(QCPItemPosition::ptPlotCoords);
            label->position->setCoords(static_cast<double>(a), at == 1.0 ? -0.06 : 1.06);
            label->setText(text);
            label->setFont(QFont("sans", 8));
        }
    }
    parallel_->xAxis->setTicker(ticker);
    parallel_->xAxis->setRange(-0.3, static_cast<double>(axes.size()) - 0.7);
    parallel_->yAxis->setRange(-0.12, 1.12);
    parallel_->yAxis->setTicks(false);
    parallel_->yAxis->setTickLabels(false);
    parallel_->xAxis->grid()->setPen(QPen(QColor(120, 120, 120), 1));
    parallel_->yAxis->grid()->setVisible(false);
    parallel_->replot();
}

void SweepPanel::drawCurves() {
    curves_->clearGraphs();
    if (!state_ || !store_) {
        curves_->replot();
        return;
    }
    auto chosen = selectedTrials();
    if (chosen.empty())
        for (const auto& t : state_->trials) chosen.push_back(t.trial.index);
    int n = 0;
    for (const auto& t : state_->trials) {
        if (!t.run || std::find(chosen.begin(), chosen.end(), t.trial.index) == chosen.end()) continue;
        QVector<double> x, y;
        try {
            for (const auto& p : store_->metrics(t.run, state_->metric)) {
                x << static_cast<double>(x.size() + 1);
                y << p.value;
            }
        } catch (const std::exception&) {
            continue;  // the run is gone; the table still shows the trial
        }
        auto* g = curves_->addGraph();
        g->setData(x, y, true);
        g->setPen(QPen(QColor::fromHsv((n++ * 47) % 360, 200, 200), 2));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
        g->setName(QString("#%1").arg(t.trial.index));
    }
    curves_->legend->setVisible(n > 0 && n <= 12);
    curves_->xAxis->setLabel(tr("epoch"));
    curves_->yAxis->setLabel(QString::fromStdString(state_->metric));
    curves_->rescaleAxes();
    curves_->xAxis->setRange(0.5, std::max(2.0, curves_->xAxis->range().upper + 0.5));
    curves_->replot();
}

QString SweepPanel::promote(std::size_t trial, const QString& file) const {
    if (!state_) return tr("no sweep is shown");
    const auto it = std::find_if(state_->trials.begin(), state_->trials.end(),
                                 [&](const sweep::TrialRecord& t) { return t.trial.index == trial; });
    if (it == state_->trials.end()) return tr("no trial %1 in this sweep").arg(trial);
    if (state_->base.empty()) return tr("the sweep's state names no base config (written by an older Lumen)");
    try {
        YAML::Emitter out;
        out << sweep::applyOverrides(config::loadYamlFile(state_->base), it->trial.params);
        const std::string header = "# trial " + std::to_string(trial) + " of sweep " + state_->name + " (run " +
                                   std::to_string(it->run) + ", " + state_->metric + " " +
                                   valueText(it->value).toStdString() + ")\n";
        util::writeFileAtomically(file.toStdString(), header + out.c_str() + "\n");
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

void SweepPanel::promoteInteractively() {
    if (!state_) return;
    std::optional<std::size_t> trial;
    if (const auto s = selectedTrials(); !s.empty()) trial = s.front();
    else if (const auto* best = state_->best()) trial = best->trial.index;
    if (!trial) {
        QMessageBox::information(this, tr("Promote"), tr("No trial has a value yet."));
        return;
    }
    const QString file = saveFileDialog(this, tr("Config of trial %1").arg(*trial),
                                        QString::fromStdString(state_->name) + QString("_trial%1.yaml").arg(*trial),
                                        tr("YAML (*.yaml)"));
    if (file.isEmpty()) return;
    if (const QString error = promote(*trial, file); !error.isEmpty()) QMessageBox::warning(this, tr("Promote"), error);
}

void SweepPanel::exportCurrentPlot() {
    QCustomPlot* plot = views_->currentWidget() == curves_ ? curves_ : parallel_;
    exportPlotInteractively(plot, this, currentSweep() + (plot == curves_ ? "_curves" : "_parallel"));
}

}  // namespace lumen::widgets
