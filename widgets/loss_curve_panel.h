#pragma once
// The Loss-curve panel: training curves of one or more runs, overlaid. Metric keys are grouped
// by name (docs/architecture.md, "Running a task"): `loss` and `loss.*` (with `val.loss*` as
// per-epoch points) share the Loss plot, `lr` the Learning-rate plot, `grad_norm*` the
// Gradient-norm plot, other `val.*` the Validation plot; each plot can be hidden. Finished
// runs are read from the run store; a live run is fed from the JobEventBridge's metric
// signal, buffered and drawn at most 20 times a second. Smoothing is TensorBoard's
// debiased EMA (the raw curve stays faint behind); the y axes can be logarithmic; hovering
// shows the step and each curve's value there; plots export to PNG/SVG/PDF.

#include <QColor>
#include <QHash>
#include <QSet>
#include <QString>
#include <QStringList>
#include <QVector>
#include <QWidget>

#include <memory>
#include <vector>

class QCheckBox;
class QCustomPlot;
class QCPAxis;
class QCPAxisRect;
class QCPGraph;
class QCPLegend;
class QHBoxLayout;
class QLabel;
class QSlider;
class QTimer;

namespace lumen::runs {
class RunStore;
struct MetricPoint;
}  // namespace lumen::runs

namespace lumen::widgets {

class JobEventBridge;

class LossCurvePanel : public QWidget {
    Q_OBJECT
public:
    enum class Group { Loss, LearningRate, GradNorm, Validation, None };
    static Group groupOf(const QString& key);
    static QString groupName(Group g);

    explicit LossCurvePanel(QWidget* parent = nullptr);
    ~LossCurvePanel() override;

    /// The store finished runs are read from (not owned; null: none).
    void setStore(runs::RunStore* store);
    /// Live metrics come from `bridge` for the jobs passed to watchJob().
    void attach(JobEventBridge* bridge);

    /// Replaces what is shown by one run from the store. False with `error` on a read failure.
    bool showRun(qint64 runId, QString* error = nullptr);
    /// Adds (overlays) a run from the store; an already shown run is re-read.
    bool addRun(qint64 runId, QString* error = nullptr);
    /// Shows these runs overlaid (replacing what is shown).
    bool compareRuns(const QList<qint64>& runIds, QString* error = nullptr);
    /// Reads the new points of shown store runs that were still running when read (a CLI
    /// run in the same workspace): the main window calls it when the store changed. Returns
    /// the points added.
    int followStoredRuns();
    /// Starts a live curve set for a job; its metrics arrive through the bridge.
    void watchJob(quint64 job, const QString& label, double clipLevel = 0);
    /// Adds one point to a curve set (a run or a watched job); drawn at the next repaint tick.
    void addPoint(const QString& runKey, const QString& key, qint64 step, double value);
    void clearRuns();
    /// Drops a stored run's curves (a deleted run); false when it was not shown.
    bool removeRun(qint64 runId);
    /// The distinct max_grad_norm levels of the shown runs, drawn as dashed lines on the
    /// gradient-norm plot (always a log axis).
    QList<double> clipLevels() const;
    /// True while a watched job has not ended.
    bool hasLiveRuns() const { return !liveJobs_.isEmpty(); }

    /// Shown runs' labels, in the order added.
    QStringList runLabels() const;
    /// Curves (one per run and key), excluding the faint raw copies behind smoothed ones.
    int graphCount() const;
    /// Points drawn for a curve (after pending points are flushed).
    int pointCount(const QString& runLabel, const QString& key) const;
    /// The values drawn for a curve (smoothed when smoothing is on).
    QVector<double> displayedValues(const QString& runLabel, const QString& key) const;
    QStringList curveKeys(const QString& runLabel) const;

    double smoothing() const { return smoothing_; }
    void setSmoothing(double weight);  ///< 0 (off) … 0.99
    bool logScale() const { return logScale_; }
    void setLogScale(bool on);
    void setGroupVisible(Group g, bool visible);
    bool groupVisible(Group g) const;
    /// Axis rects currently laid out (groups with data and not hidden).
    int visiblePlotCount() const;

    /// The hover read-out for a widget position in the plot ("" outside the plots).
    QString readoutAt(const QPoint& pos);
    QString readoutText() const;
    /// Draws pending points now (tests; normally a timer does it at ≤ 20 Hz).
    void flush();
    /// Writes the plot as PNG, SVG or PDF (by extension).
    bool exportTo(const QString& file, QString* error = nullptr, int width = 0, int height = 0);
    QCustomPlot* plot() const { return plot_; }
    /// Replots done so far (to check the throttle).
    int replotCount() const { return replots_; }

signals:
    void runsChanged();

private:
    QHBoxLayout* buildControls();
    QHBoxLayout* buildGroupToggles();
    void setUpAxisRects();
    struct Curve;
    struct RunCurves;
    RunCurves* runByKey(const QString& runKey);
    const RunCurves* runByLabel(const QString& label) const;
    Curve* curveFor(RunCurves& run, const QString& key);
    bool loadRun(qint64 runId, QString* error);
    void appendStoredPoints(RunCurves& run, const std::vector<runs::MetricPoint>& points);
    void scheduleReplot();
    void relayout();
    void restyle(Curve& c) const;
    void recomputeSmoothing(Curve& c);
    void removeGraphs(Curve& c);
    void removeRunGraphs(RunCurves& r);
    bool dropRun(const QString& key);  ///< removes the run's curves; false when not shown
    void rebuildLegends();
    void drawClipLevels();
    void stretchClipLevels();
    bool validationIsBounded() const;
    static void setAxisLog(QCPAxis* y, bool on, Group g);
    void rescale();
    QColor colorFor(const QString& key) const;

    runs::RunStore* store_ = nullptr;
    QCustomPlot* plot_;
    std::vector<QCPAxisRect*> rects_;  // by Group
    std::vector<QCPLegend*> legends_;  // by Group
    QList<QCPGraph*> clipGraphs_;      // one dashed line per max_grad_norm level
    std::vector<bool> groupHidden_;
    std::vector<std::unique_ptr<RunCurves>> runs_;
    QHash<quint64, QString> watchedJobs_;    // job -> run key
    QSet<quint64> liveJobs_;                 // watched jobs that have not ended
    mutable QHash<QString, int> keyColors_;  // key -> palette index, in order of appearance
    QTimer* replotTimer_;
    QSlider* smoothingSlider_;
    QLabel* smoothingLabel_;
    QCheckBox* logBox_;
    std::vector<QCheckBox*> groupBoxes_;
    QLabel* readout_;
    QLabel* emptyHint_;
    double smoothing_ = 0.6;
    bool logScale_ = false;
    bool userZoomed_ = false;
    bool drawnLive_ = false;
    bool layoutDirty_ = false;  // new curves since the last flush  // the last replot was of a run still streaming in
    int replots_ = 0;
};

}  // namespace lumen::widgets
