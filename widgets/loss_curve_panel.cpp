#include "loss_curve_panel.h"

#include "job_event_bridge.h"
#include "loss_curve_style.h"
#include "plot_export.h"

#include "runs/run_store.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QElapsedTimer>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QSet>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

namespace lumen::widgets {
namespace {

constexpr int kGroups = 4;     // Loss, LearningRate, GradNorm, Validation
constexpr int kReplotMs = 50;  // ≤ 20 Hz

}  // namespace

struct LossCurvePanel::Curve {
    QString key;
    Group group = Group::None;
    bool points = false;        // val.*: one point per epoch, no line, no smoothing
    QCPGraph* graph = nullptr;  // what is shown (smoothed when smoothing is on)
    QCPGraph* raw = nullptr;    // the raw curve, faint behind the smoothed one
    QVector<double> steps, values;
    int drawn = 0;  // points already handed to the graphs
    double emaLast = 0;
    int emaCount = 0;
};

struct LossCurvePanel::RunCurves {
    QString key;                     // "run:12" or "job:3"
    QString label;                   // shown in legends and the read-out
    int index = 0;                   // pen style / marker
    QCPGraph* styleGraph = nullptr;  // no data: its legend entry says which line style is this run
    std::vector<std::unique_ptr<Curve>> curves;
    QHash<QString, Curve*> byKey;
    std::int64_t storeId = 0;  // a run read from the store: its id (0 for a watched job)
    std::int64_t lastRow = 0;  // the last metrics row read from the store
    bool following = false;    // the run was still running when read: keep reading
    double clipLevel = 0;      // max_grad_norm of its config (0: not clipped or unknown)
};

LossCurvePanel::Group LossCurvePanel::groupOf(const QString& key) {
    if (key == "loss" || key.startsWith("loss.") || key.startsWith("val.loss")) return Group::Loss;
    if (key == "lr") return Group::LearningRate;
    if (key == "grad_norm" || key.startsWith("grad_norm.")) return Group::GradNorm;
    if (key.startsWith("val.")) return Group::Validation;
    return Group::None;
}

QString LossCurvePanel::groupName(Group g) {
    switch (g) {
    case Group::Loss: return tr("Loss");
    case Group::LearningRate: return tr("Learning rate");
    case Group::GradNorm: return tr("Gradient norm");
    case Group::Validation: return tr("Validation");
    case Group::None: break;
    }
    return {};
}

LossCurvePanel::LossCurvePanel(QWidget* parent)
    : QWidget(parent),
      plot_(new QCustomPlot),
      groupHidden_(kGroups, false),
      replotTimer_(new QTimer(this)),
      smoothingSlider_(new QSlider(Qt::Horizontal)),
      smoothingLabel_(new QLabel),
      logBox_(new QCheckBox(tr("Log scale"))),
      readout_(new QLabel),
      emptyHint_(new QLabel(tr("No curves yet: launch a run, or choose runs in the Runs table "
                               "(right-click → Show curves / Compare selected runs)."))) {
    setObjectName("lossCurvePanel");
    plot_->setObjectName("lossCurvePlot");
    smoothingSlider_->setObjectName("lossSmoothing");
    logBox_->setObjectName("lossLogScale");
    readout_->setObjectName("lossReadout");

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(buildControls());
    layout->addLayout(buildGroupToggles());
    readout_->setTextFormat(Qt::RichText);
    readout_->setMinimumHeight(readout_->fontMetrics().height() * 2);
    readout_->setWordWrap(true);
    readout_->setText(tr("<i>Hover over a plot to read the values at a step.</i>"));
    layout->addWidget(readout_);
    emptyHint_->setAlignment(Qt::AlignCenter);
    emptyHint_->setWordWrap(true);
    emptyHint_->setMinimumWidth(380);
    emptyHint_->setStyleSheet("color: palette(mid); padding: 24px;");
    // The hint lies over the plot (same grid cell), so showing or hiding it never resizes
    // the plot (a resize means a full replot and repaint).
    auto* stack = new QGridLayout;
    stack->addWidget(plot_, 0, 0);
    stack->addWidget(emptyHint_, 0, 0, Qt::AlignCenter);
    emptyHint_->setAttribute(Qt::WA_TransparentForMouseEvents);
    layout->addLayout(stack, 1);

    setUpAxisRects();
    relayout();

    replotTimer_->setSingleShot(true);
    replotTimer_->setInterval(kReplotMs);
    connect(replotTimer_, &QTimer::timeout, this, &LossCurvePanel::flush);
    connect(smoothingSlider_, &QSlider::valueChanged, this, [this](int v) { setSmoothing(v / 100.0); });
    connect(logBox_, &QCheckBox::toggled, this, &LossCurvePanel::setLogScale);
    connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) { readoutAt(e->pos()); });
    connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent*) { userZoomed_ = true; });
    connect(plot_, &QCustomPlot::mouseWheel, this, [this](QWheelEvent*) { userZoomed_ = true; });
    connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) {
        userZoomed_ = false;
        flush();
    });
    smoothingLabel_->setText(QString::number(smoothing_, 'f', 2));
}

// Smoothing, log scale, Fit, Clear, Export.
QHBoxLayout* LossCurvePanel::buildControls() {
    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Smoothing")));
    smoothingSlider_->setRange(0, 99);
    smoothingSlider_->setValue(int(std::lround(smoothing_ * 100)));
    smoothingSlider_->setMinimumWidth(110);
    smoothingSlider_->setMaximumWidth(180);
    smoothingSlider_->setToolTip(
        tr("Exponential moving average with bias correction, as in "
           "TensorBoard; the raw curve stays faint behind."));
    controls->addWidget(smoothingSlider_);
    smoothingLabel_->setMinimumWidth(32);
    controls->addWidget(smoothingLabel_);
    controls->addSpacing(12);
    controls->addWidget(logBox_);
    controls->addStretch(1);
    auto* fit = new QPushButton(tr("Fit"));
    fit->setToolTip(tr("Fit the axes to the data again (also: double-click the plot)"));
    auto* clear = new QPushButton(tr("Clear"));
    clear->setObjectName("lossClear");
    auto* exportButton = new QPushButton(tr("Export…"));
    exportButton->setObjectName("lossExport");
    controls->addWidget(fit);
    controls->addWidget(clear);
    controls->addWidget(exportButton);
    connect(fit, &QPushButton::clicked, this, [this] {
        userZoomed_ = false;
        flush();
    });
    connect(clear, &QPushButton::clicked, this, &LossCurvePanel::clearRuns);
    connect(exportButton, &QPushButton::clicked, this,
            [this] { exportPlotInteractively(plot_, this, "loss_curves.png"); });
    return controls;
}

// Second row: which plots to show (keeps the panel narrow enough beside the launcher).
QHBoxLayout* LossCurvePanel::buildGroupToggles() {
    auto* shown = new QHBoxLayout;
    shown->addWidget(new QLabel(tr("Show:")));
    for (int g = 0; g < kGroups; ++g) {
        auto* box = new QCheckBox(groupName(Group(g)));
        box->setObjectName(QString("lossShowGroup%1").arg(g));
        box->setChecked(true);
        box->setToolTip(tr("Show the %1 plot (when there is data for it)").arg(groupName(Group(g))));
        connect(box, &QCheckBox::toggled, this, [this, g](bool on) { setGroupVisible(Group(g), on); });
        groupBoxes_.push_back(box);
        shown->addWidget(box);
    }
    shown->addStretch(1);
    return shown;
}

// One axis rect per group, stacked, left/right margins aligned, x ranges shared.
void LossCurvePanel::setUpAxisRects() {
    plot_->setAutoAddPlottableToLegend(false);
    plot_->setNoAntialiasingOnDrag(true);
    // Polylines with proper joins go through QPainter's stroker (atan2 per joint): 1.7 s for
    // a replot of ten noisy 20000-point curves here, 50 ms with this hint (docs/gui.md).
    plot_->setPlottingHint(QCP::phFastPolylines, true);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->setMouseTracking(true);
    auto* margins = new QCPMarginGroup(plot_);
    QFont legendFont = font();
    legendFont.setPointSizeF(std::max(7.0, legendFont.pointSizeF() - 1.5));
    for (int g = 0; g < kGroups; ++g) {
        QCPAxisRect* rect = g == 0 ? plot_->axisRect() : new QCPAxisRect(plot_);
        rect->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
        rect->setRangeZoom(Qt::Horizontal | Qt::Vertical);
        rect->axis(QCPAxis::atLeft)->setLabel(groupName(Group(g)));
        rect->axis(QCPAxis::atLeft)->grid()->setSubGridVisible(false);
        QCPLegend* legend = g == 0 ? plot_->legend : new QCPLegend;
        if (g != 0)
            rect->insetLayout()->addElement(
                legend, Qt::AlignRight | (g == int(Group::Validation) ? Qt::AlignBottom : Qt::AlignTop));
        legend->setLayer("legend");
        legend->setVisible(true);
        legend->setFont(legendFont);
        legend->setBrush(QColor(255, 255, 255, 215));
        legend->setBorderPen(QPen(QColor(0xc0, 0xc0, 0xc0)));
        legend->setRowSpacing(-2);
        rects_.push_back(rect);
        legends_.push_back(legend);
        connect(rect->axis(QCPAxis::atBottom), qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this,
                [this, g](const QCPRange& range) {
                    for (int o = 0; o < kGroups; ++o)
                        if (o != g) rects_[std::size_t(o)]->axis(QCPAxis::atBottom)->setRange(range);
                });
    }
    rects_[std::size_t(Group::LearningRate)]->axis(QCPAxis::atLeft)->setNumberFormat("gb");
    // Gradient norms span decades (10^7 before clipping in a diverging run): always log.
    setAxisLog(rects_[std::size_t(Group::GradNorm)]->axis(QCPAxis::atLeft), true, Group::GradNorm);
}

LossCurvePanel::~LossCurvePanel() {
    // Axis rects taken out of the layout are not the plot's to delete any more: put them back.
    for (QCPAxisRect* rect : rects_)
        if (!rect->layout()) plot_->plotLayout()->addElement(plot_->plotLayout()->rowCount(), 0, rect);
}

void LossCurvePanel::setStore(runs::RunStore* store) { store_ = store; }

void LossCurvePanel::attach(JobEventBridge* bridge) {
    connect(bridge, &JobEventBridge::metric, this, [this](quint64 job, const QString& key, qint64 step, double value) {
        const auto it = watchedJobs_.constFind(job);
        if (it != watchedJobs_.constEnd()) addPoint(*it, key, step, value);
    });
    connect(bridge, &JobEventBridge::ended, this, [this](quint64 job) {
        if (liveJobs_.remove(job) > 0) flush();
    });
}

LossCurvePanel::RunCurves* LossCurvePanel::runByKey(const QString& runKey) {
    for (auto& r : runs_)
        if (r->key == runKey) return r.get();
    return nullptr;
}

const LossCurvePanel::RunCurves* LossCurvePanel::runByLabel(const QString& label) const {
    for (const auto& r : runs_)
        if (r->label == label) return r.get();
    return nullptr;
}

QColor LossCurvePanel::colorFor(const QString& key) const {
    auto it = keyColors_.find(key);
    if (it == keyColors_.end()) {
        // `val.loss` takes the colour of `loss`, so the per-epoch points sit on their curve.
        if (key.startsWith("val.loss")) {
            const QString train = key.mid(4);
            if (keyColors_.contains(train)) return curveColors()[keyColors_[train] % curveColors().size()];
        }
        it = keyColors_.insert(key, int(keyColors_.size()));
    }
    return curveColors()[*it % curveColors().size()];
}

void LossCurvePanel::restyle(Curve& c) const {
    const RunCurves* owner = nullptr;
    for (const auto& r : runs_)
        if (r->byKey.value(c.key) == &c) owner = r.get();
    if (!owner) return;
    const QColor color = colorFor(c.key);
    c.graph->setName(c.key);
    const bool hidden = groupHidden_[std::size_t(c.group)];
    c.graph->setVisible(!hidden);
    if (c.points) {
        c.graph->setLineStyle(QCPGraph::lsNone);
        c.graph->setScatterStyle(QCPScatterStyle(runShape(owner->index), color.darker(115), color, 7));
        c.graph->setPen(QPen(color.darker(115)));
        return;
    }
    // Live: 1-pixel cosmetic pens (Qt's fast line path; wide pens go through the stroker,
    // 40 % of a replot); the final replot after the run draws them wide and smooth.
    QPen pen(color, drawnLive_ ? 0.0 : (c.key == "loss" ? 2.2 : 1.6), runPenStyle(owner->index));
    c.graph->setPen(pen);
    QColor faint = color;
    faint.setAlpha(55);
    c.raw->setPen(QPen(faint, 1.0, runPenStyle(owner->index)));
    // The faint raw curves wait until the run has ended: they would double a live replot.
    c.raw->setVisible(!hidden && smoothing_ > 0 && !drawnLive_);
}

LossCurvePanel::Curve* LossCurvePanel::curveFor(RunCurves& run, const QString& key) {
    if (Curve* existing = run.byKey.value(key)) return existing;
    const Group group = groupOf(key);
    if (group == Group::None) return nullptr;
    auto curve = std::make_unique<Curve>();
    curve->key = key;
    curve->group = group;
    curve->points = key.startsWith("val.");
    QCPAxisRect* rect = rects_[std::size_t(group)];
    QCPAxis* x = rect->axis(QCPAxis::atBottom);
    QCPAxis* y = rect->axis(QCPAxis::atLeft);
    if (!curve->points) {
        curve->raw = plot_->addGraph(x, y);
        curve->raw->setAdaptiveSampling(true);
        curve->raw->setAntialiased(false);  // faint anyway; antialiasing doubles its cost
    }
    curve->graph = plot_->addGraph(x, y);
    curve->graph->setAdaptiveSampling(true);
    Curve* raw = curve.get();
    run.byKey.insert(key, raw);
    run.curves.push_back(std::move(curve));
    restyle(*raw);
    layoutDirty_ = true;  // legends and plot layout are redone at the next flush, once
    scheduleReplot();
    return raw;
}

void LossCurvePanel::watchJob(quint64 job, const QString& label, double clipLevel) {
    const QString key = QString("job:%1").arg(job);
    if (!runByKey(key)) {
        auto run = std::make_unique<RunCurves>();
        run->key = key;
        run->label = label.isEmpty() ? tr("job %1").arg(job) : label;
        run->clipLevel = clipLevel;
        run->index = int(runs_.size());
        runs_.push_back(std::move(run));
        for (auto& r : runs_)
            for (auto& c : r->curves) restyle(*c);
        rebuildLegends();
        emit runsChanged();
    }
    watchedJobs_.insert(job, key);
    liveJobs_.insert(job);
    scheduleReplot();
}

void LossCurvePanel::addPoint(const QString& runKey, const QString& key, qint64 step, double value) {
    RunCurves* run = runByKey(runKey);
    if (!run) return;
    Curve* c = curveFor(*run, key);
    if (!c) return;
    c->steps.push_back(double(step));
    c->values.push_back(value);
    scheduleReplot();
}

void LossCurvePanel::scheduleReplot() {
    if (!replotTimer_->isActive()) replotTimer_->start();
}

bool LossCurvePanel::loadRun(qint64 runId, QString* error) {
    if (!store_) {
        if (error) *error = tr("no workspace is open");
        return false;
    }
    std::vector<runs::MetricPoint> points;
    std::vector<std::pair<std::string, std::string>> params;
    std::optional<runs::RunRecord> record;
    std::int64_t lastRow = 0;
    try {
        record = store_->run(runId);
        if (!record) {
            if (error)
                *error = tr("run %1 is not in %2").arg(runId).arg(QString::fromStdString(store_->file().string()));
            return false;
        }
        points = store_->metricsAfter(runId, 0, lastRow);
        params = store_->params(runId);
    } catch (const std::exception& e) {
        if (error) *error = QString::fromUtf8(e.what());
        return false;
    }
    const QString key = QString("run:%1").arg(runId);
    dropRun(key);  // re-read: the old curves of this run go first
    auto run = std::make_unique<RunCurves>();
    run->key = key;
    run->label = QString("#%1 %2").arg(runId).arg(QString::fromStdString(record->name));
    run->index = int(runs_.size());
    run->storeId = runId;
    run->lastRow = lastRow;
    for (const auto& [name, value] : params)
        if (name == "max_grad_norm" || name.ends_with(".max_grad_norm"))
            run->clipLevel = QString::fromStdString(value).toDouble();
    run->following = record->status == runs::RunStatus::Running || record->status == runs::RunStatus::Queued;
    RunCurves* r = run.get();
    runs_.push_back(std::move(run));
    appendStoredPoints(*r, points);
    for (auto& other : runs_)
        for (auto& c : other->curves) restyle(*c);
    rebuildLegends();
    return true;
}

void LossCurvePanel::appendStoredPoints(RunCurves& run, const std::vector<runs::MetricPoint>& points) {
    for (const auto& p : points) {
        Curve* c = curveFor(run, QString::fromStdString(p.key));
        if (!c) continue;
        c->steps.push_back(double(p.step));
        c->values.push_back(p.value);
    }
}

int LossCurvePanel::followStoredRuns() {
    if (!store_) return 0;
    int added = 0;
    for (auto& r : runs_) {
        if (!r->following) continue;
        try {
            const auto record = store_->run(r->storeId);
            // Read the status first: points logged before it turned terminal are read below.
            r->following = record && !runs::isTerminal(record->status);
            const auto points = store_->metricsAfter(r->storeId, r->lastRow, r->lastRow);
            appendStoredPoints(*r, points);
            added += int(points.size());
        } catch (const std::exception&) {
            r->following = false;  // the run went away or the store failed: stop following it
        }
    }
    if (added > 0) scheduleReplot();
    return added;
}

bool LossCurvePanel::showRun(qint64 runId, QString* error) { return compareRuns({runId}, error); }

bool LossCurvePanel::addRun(qint64 runId, QString* error) {
    const bool ok = loadRun(runId, error);
    userZoomed_ = false;
    flush();
    emit runsChanged();
    return ok;
}

bool LossCurvePanel::compareRuns(const QList<qint64>& runIds, QString* error) {
    clearRuns();
    bool ok = true;
    for (qint64 id : runIds) ok = loadRun(id, error) && ok;
    userZoomed_ = false;
    flush();
    emit runsChanged();
    return ok;
}

bool LossCurvePanel::dropRun(const QString& key) {
    for (auto it = runs_.begin(); it != runs_.end(); ++it)
        if ((*it)->key == key) {
            removeRunGraphs(**it);
            runs_.erase(it);
            return true;
        }
    return false;
}

bool LossCurvePanel::removeRun(qint64 runId) {
    if (!dropRun(QString("run:%1").arg(runId))) return false;
    rebuildLegends();
    relayout();
    emit runsChanged();
    return true;
}

void LossCurvePanel::clearRuns() {
    for (auto& r : runs_) removeRunGraphs(*r);
    runs_.clear();
    rebuildLegends();
    watchedJobs_.clear();
    liveJobs_.clear();
    keyColors_.clear();
    userZoomed_ = false;
    relayout();
    plot_->replot();
    emit runsChanged();
}

void LossCurvePanel::rebuildLegends() {
    // Colour = key, line style = run: each key is listed once, and with several runs the
    // Loss legend also lists each run's line style (an empty graph drawn in it).
    for (QCPLegend* legend : legends_) legend->clearItems();
    for (int g = 0; g < kGroups; ++g) {
        QSet<QString> seen;
        for (const auto& r : runs_)
            for (const auto& c : r->curves)
                if (int(c->group) == g && !seen.contains(c->key)) {
                    seen.insert(c->key);
                    c->graph->addToLegend(legends_[std::size_t(g)]);
                }
    }
    const bool several = runs_.size() > 1;
    for (const auto& r : runs_) {
        if (several && !r->styleGraph) {
            QCPAxisRect* rect = rects_[std::size_t(Group::Loss)];
            r->styleGraph = plot_->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
            r->styleGraph->setPen(QPen(QColor(0x30, 0x30, 0x30), 1.6, runPenStyle(r->index)));
            r->styleGraph->setScatterStyle(QCPScatterStyle(runShape(r->index), 6));
        }
        if (r->styleGraph) {
            r->styleGraph->setName(r->label);
            if (several) r->styleGraph->addToLegend(legends_[std::size_t(Group::Loss)]);
        }
    }
    // Long legends go into two columns so they cover less of the curves.
    for (QCPLegend* legend : legends_) {
        const int n = legend->itemCount();
        legend->setWrap(n > 6 ? (n + 1) / 2 : 0);
        legend->setFillOrder(QCPLayoutGrid::foRowsFirst, true);
    }
    drawClipLevels();
}

// The gradient-norm plot shows the norm before clipping: a dashed line at each run's
// max_grad_norm (a two-point graph across the steps shown, listed in the plot's legend) says
// where the step was bounded.
void LossCurvePanel::drawClipLevels() {
    for (QCPGraph* g : clipGraphs_) plot_->removeGraph(g);
    clipGraphs_.clear();
    QCPAxisRect* rect = rects_[std::size_t(Group::GradNorm)];
    for (const double level : clipLevels()) {
        QCPGraph* g = plot_->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
        g->setPen(QPen(QColor(0xc0, 0x1c, 0x28), 1.2, Qt::DashLine));
        g->setName(tr("clipped at %1").arg(level, 0, 'g', 4));
        g->setProperty("clipLevel", level);
        g->addToLegend(legends_[std::size_t(Group::GradNorm)]);
        clipGraphs_ << g;
    }
    stretchClipLevels();
}

// Spans the clip lines over the steps of the curves shown (called when the data change).
void LossCurvePanel::stretchClipLevels() {
    bool found = false;
    QCPRange steps;
    for (const auto& r : runs_)
        for (const auto& c : r->curves) {
            bool has = false;
            const QCPRange k = c->graph->getKeyRange(has);
            if (!has) continue;
            steps = found ? QCPRange(std::min(steps.lower, k.lower), std::max(steps.upper, k.upper)) : k;
            found = true;
        }
    for (QCPGraph* g : clipGraphs_) {
        const double level = g->property("clipLevel").toDouble();
        if (found) g->setData({steps.lower, steps.upper}, {level, level}, true);
        else g->data()->clear();
    }
}

QList<double> LossCurvePanel::clipLevels() const {
    QList<double> levels;
    for (const auto& r : runs_)
        if (r->clipLevel > 0 && !levels.contains(r->clipLevel)) levels << r->clipLevel;
    std::sort(levels.begin(), levels.end());
    return levels;
}

void LossCurvePanel::removeRunGraphs(RunCurves& r) {
    for (auto& c : r.curves) removeGraphs(*c);
    if (r.styleGraph) {
        r.styleGraph->removeFromLegend(legends_[std::size_t(Group::Loss)]);
        plot_->removeGraph(r.styleGraph);
        r.styleGraph = nullptr;
    }
}

void LossCurvePanel::removeGraphs(Curve& c) {
    // QCustomPlot only cleans its main legend when a plottable goes; the per-plot legends
    // would keep dangling items.
    c.graph->removeFromLegend(legends_[std::size_t(c.group)]);
    plot_->removeGraph(c.graph);
    if (c.raw) plot_->removeGraph(c.raw);
    c.graph = c.raw = nullptr;
}

void LossCurvePanel::recomputeSmoothing(Curve& c) {
    c.drawn = 0;
    c.emaLast = 0;
    c.emaCount = 0;
    c.graph->data()->clear();
    if (c.raw) c.raw->data()->clear();
}

void LossCurvePanel::flush() {
    replotTimer_->stop();
    if (layoutDirty_) {
        layoutDirty_ = false;
        rebuildLegends();
        relayout();
    }
    const double w = smoothing_;
    for (auto& r : runs_)
        for (auto& cp : r->curves) {
            Curve& c = *cp;
            const int n = int(c.steps.size());
            if (c.drawn >= n) continue;
            QVector<double> keys(c.steps.begin() + c.drawn, c.steps.end());
            QVector<double> raw(c.values.begin() + c.drawn, c.values.end());
            // A diverged step (NaN, ±inf) is a gap in the curve, never a point at 0 or off
            // the axis: QCustomPlot skips NaN values when drawing and rescaling.
            for (double& v : raw)
                if (!std::isfinite(v)) v = std::numeric_limits<double>::quiet_NaN();
            if (c.points) {
                c.graph->addData(keys, raw);
            } else {
                // TensorBoard's smoothing: EMA started at 0, divided by (1 − w^n) to remove
                // the start-up bias; NaN values pass through unsmoothed (gaps).
                QVector<double> smooth(raw.size());
                for (int i = 0; i < raw.size(); ++i) {
                    const double v = raw[i];
                    if (!std::isfinite(v) || w <= 0) {
                        smooth[i] = v;
                        continue;
                    }
                    c.emaLast = c.emaLast * w + (1 - w) * v;
                    ++c.emaCount;
                    smooth[i] = c.emaLast / (1 - std::pow(w, c.emaCount));
                }
                // Steps normally arrive in order (append); a resumed run may repeat steps.
                const bool sorted =
                    std::is_sorted(keys.begin(), keys.end()) && (c.drawn == 0 || keys.first() >= c.steps[c.drawn - 1]);
                c.graph->addData(keys, smooth, sorted);
                c.raw->addData(keys, raw, sorted);
            }
            c.drawn = n;
        }
    rescale();
    if (emptyHint_->isVisible() == !runs_.empty()) emptyHint_->setVisible(runs_.empty());
    // While a run streams in, curves are drawn without antialiasing (it is most of a replot's
    // cost); the final replot after the run ends draws them smooth again.
    const bool live = !liveJobs_.isEmpty();
    plot_->setNotAntialiasedElements(live ? QCP::aePlottables : QCP::aeNone);
    if (live != drawnLive_) {
        drawnLive_ = live;
        for (auto& r : runs_)
            for (auto& c : r->curves) restyle(*c);
    }
    QElapsedTimer clock;
    clock.start();
    plot_->replot();
    ++replots_;
    // At most 20 replots a second, and never more than a quarter of the GUI thread's time:
    // a slow replot (huge curves, slow machine) stretches the interval to 4× its cost.
    replotTimer_->setInterval(std::max(kReplotMs, int(4 * clock.elapsed())));
}

void LossCurvePanel::rescale() {
    stretchClipLevels();
    if (userZoomed_) return;
    bool haveX = false;
    QCPRange xRange;
    for (int g = 0; g < kGroups; ++g) {
        QCPAxisRect* rect = rects_[std::size_t(g)];
        if (!rect->layout()) continue;
        bool any = false;
        for (QCPGraph* graph : rect->graphs()) {
            if (!graph->visible() || graph->dataCount() == 0) continue;
            bool found = false;
            const QCPRange kr = graph->getKeyRange(found);
            if (!found) continue;
            if (!haveX) xRange = kr;
            else xRange.expand(kr);
            haveX = any = true;
        }
        if (!any) continue;
        QCPAxis* y = rect->axis(QCPAxis::atLeft);
        if (g == int(Group::Validation) && validationIsBounded()) {
            y->setRange(-0.02, 1.04);  // AUROC, accuracy, Dice…: the whole 0–1 scale
            continue;
        }
        y->rescale(true);
        if (y->scaleType() == QCPAxis::stLogarithmic) {
            y->scaleRange(1.15, std::sqrt(y->range().lower * y->range().upper));
        } else {
            const double span = y->range().size();
            const double pad = span > 0 ? span * 0.06 : std::max(1e-12, std::abs(y->range().lower) * 0.1 + 1e-12);
            y->setRange(y->range().lower - pad, y->range().upper + pad);
        }
    }
    if (haveX) {
        if (xRange.size() <= 0) xRange = QCPRange(xRange.lower - 1, xRange.upper + 1);
        else xRange.upper += xRange.size() * 0.015;  // the last epoch's points stay whole
        for (QCPAxisRect* rect : rects_) rect->axis(QCPAxis::atBottom)->setRange(xRange);
    }
}

bool LossCurvePanel::validationIsBounded() const {
    bool any = false;
    for (const auto& r : runs_)
        for (const auto& c : r->curves)
            if (c->group == Group::Validation && c->graph->visible()) {
                if (!boundedMetric(c->key)) return false;
                any = true;
            }
    return any;
}

void LossCurvePanel::relayout() {
    auto* grid = plot_->plotLayout();
    for (QCPAxisRect* rect : rects_)
        if (rect->layout()) grid->take(rect);
    grid->simplify();
    int row = 0;
    QCPAxisRect* last = nullptr;
    for (int g = 0; g < kGroups; ++g) {
        QCPAxisRect* rect = rects_[std::size_t(g)];
        bool hasData = false;
        for (const auto& r : runs_)
            for (const auto& c : r->curves)
                if (int(c->group) == g) hasData = true;
        const bool show = hasData && !groupHidden_[std::size_t(g)];
        for (QCPAxis* axis : rect->axes()) {
            axis->setVisible(show && (axis->axisType() == QCPAxis::atLeft || axis->axisType() == QCPAxis::atBottom));
            axis->grid()->setVisible(show &&
                                     (axis->axisType() == QCPAxis::atLeft || axis->axisType() == QCPAxis::atBottom));
            axis->setLabel(axis->axisType() == QCPAxis::atLeft ? groupName(Group(g)) : QString());
        }
        legends_[std::size_t(g)]->setVisible(show);
        if (!show) continue;
        grid->addElement(row++, 0, rect);
        // The validation and lr plots get less height than the loss plot.
        grid->setRowStretchFactor(row - 1, g == int(Group::Loss) ? 2.0 : 1.0);
        last = rect;
    }
    if (last) last->axis(QCPAxis::atBottom)->setLabel(tr("optimizer step"));
}

QStringList LossCurvePanel::runLabels() const {
    QStringList labels;
    for (const auto& r : runs_) labels << r->label;
    return labels;
}

int LossCurvePanel::graphCount() const {
    int n = 0;
    for (const auto& r : runs_) n += int(r->curves.size());
    return n;
}

int LossCurvePanel::pointCount(const QString& runLabel, const QString& key) const {
    const RunCurves* r = runByLabel(runLabel);
    const Curve* c = r ? r->byKey.value(key) : nullptr;
    return c ? c->graph->dataCount() : 0;
}

QVector<double> LossCurvePanel::displayedValues(const QString& runLabel, const QString& key) const {
    QVector<double> out;
    const RunCurves* r = runByLabel(runLabel);
    const Curve* c = r ? r->byKey.value(key) : nullptr;
    if (!c) return out;
    for (auto it = c->graph->data()->constBegin(); it != c->graph->data()->constEnd(); ++it) out.push_back(it->value);
    return out;
}

QStringList LossCurvePanel::curveKeys(const QString& runLabel) const {
    QStringList keys;
    if (const RunCurves* r = runByLabel(runLabel))
        for (const auto& c : r->curves) keys << c->key;
    return keys;
}

void LossCurvePanel::setSmoothing(double weight) {
    weight = std::clamp(weight, 0.0, 0.99);
    smoothingLabel_->setText(QString::number(weight, 'f', 2));
    if (weight == smoothing_) return;
    smoothing_ = weight;
    const int slider = int(std::lround(weight * 100));
    if (smoothingSlider_->value() != slider) {
        const QSignalBlocker block(smoothingSlider_);
        smoothingSlider_->setValue(slider);
    }
    for (auto& r : runs_)
        for (auto& c : r->curves) {
            if (c->points) continue;
            recomputeSmoothing(*c);
            restyle(*c);
        }
    flush();
}

void LossCurvePanel::setAxisLog(QCPAxis* y, bool on, Group g) {
    y->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (on) y->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else y->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    // Gradient norms read as plain numbers (0.5, 2, 1·10⁷); losses and rates as powers of ten.
    y->setNumberFormat(on ? (g == Group::GradNorm ? "gb" : "eb") : (g == Group::LearningRate ? "gb" : "g"));
    y->setNumberPrecision(on ? (g == Group::GradNorm ? 3 : 0) : 6);
}

void LossCurvePanel::setLogScale(bool on) {
    logScale_ = on;
    if (logBox_->isChecked() != on) {
        const QSignalBlocker block(logBox_);
        logBox_->setChecked(on);
    }
    for (Group g : {Group::Loss, Group::LearningRate}) setAxisLog(rects_[std::size_t(g)]->axis(QCPAxis::atLeft), on, g);
    userZoomed_ = false;
    flush();
}

void LossCurvePanel::setGroupVisible(Group g, bool visible) {
    if (g == Group::None) return;
    groupHidden_[std::size_t(g)] = !visible;
    QCheckBox* box = groupBoxes_[std::size_t(g)];
    if (box->isChecked() != visible) {
        const QSignalBlocker block(box);
        box->setChecked(visible);
    }
    for (auto& r : runs_)
        for (auto& c : r->curves)
            if (c->group == g) restyle(*c);
    relayout();
    flush();
}

bool LossCurvePanel::groupVisible(Group g) const { return g != Group::None && !groupHidden_[std::size_t(g)]; }

int LossCurvePanel::visiblePlotCount() const {
    int n = 0;
    for (QCPAxisRect* rect : rects_)
        if (rect->layout()) ++n;
    return n;
}

QString LossCurvePanel::readoutAt(const QPoint& pos) {
    for (int g = 0; g < kGroups; ++g) {
        QCPAxisRect* rect = rects_[std::size_t(g)];
        if (!rect->layout() || !rect->rect().contains(pos)) continue;
        const double step = rect->axis(QCPAxis::atBottom)->pixelToCoord(pos.x());
        QStringList parts;
        double shownStep = std::round(step);
        for (const auto& r : runs_)
            for (const auto& c : r->curves) {
                if (int(c->group) != g || !c->graph->visible() || c->graph->dataCount() == 0) continue;
                // The drawn point nearest to the step.
                auto data = c->graph->data();
                auto it = data->findBegin(step, false);
                if (it == data->constEnd()) it = data->constEnd() - 1;
                auto best = it;
                if (it != data->constBegin() && std::abs((it - 1)->key - step) < std::abs(it->key - step))
                    best = it - 1;
                if (c->points && std::abs(best->key - step) > 0.02 * rect->axis(QCPAxis::atBottom)->range().size())
                    continue;  // epoch points: only when the cursor is near one
                if (!c->points) shownStep = best->key;
                const QColor color = colorFor(c->key);
                const QString name = runs_.size() > 1 ? r->label + " · " + c->key : c->key;
                parts << QString("<span style='color:%1'>■</span> %2 <b>%3</b>")
                             .arg(color.name(), name.toHtmlEscaped(), formatValue(best->value));
            }
        const QString text =
            tr("<b>%1</b> · step %2: ").arg(groupName(Group(g))).arg(qint64(shownStep)) + parts.join(" &nbsp; ");
        readout_->setText(text);
        return text;
    }
    return {};
}

QString LossCurvePanel::readoutText() const { return readout_->text(); }

bool LossCurvePanel::exportTo(const QString& file, QString* error, int width, int height) {
    flush();
    return exportPlot(plot_, file, error, width, height);
}

}  // namespace lumen::widgets
