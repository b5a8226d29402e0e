#pragma once
// The Metrics panel: ROC and PR curves per label (and macro), a reliability diagram with ECE,
// a per-label threshold slider driving the confusion matrix and rates live, a sortable per-label
// table with bootstrap confidence intervals, and a before/after temperature-scaling toggle.
// Data are plain values (truth and probability matrices, label names); numbers come from
// core/metrics (definitions: docs/metrics.md).

#include "metrics/calibration.h"
#include "metrics/classification.h"
#include "metrics/labelled_predictions.h"
#include "metrics/metrics_report.h"

#include <QFutureWatcher>
#include <QWidget>

#include <map>
#include <memory>
#include <string>
#include <vector>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QHBoxLayout;
class QLabel;
class QSlider;
class QTableWidget;
class QTabWidget;

namespace lumen::jobs {
class CancellationToken;
}

namespace lumen::widgets {

class MetricsPanel : public QWidget {
    Q_OBJECT
public:
    explicit MetricsPanel(QWidget* parent = nullptr);
    ~MetricsPanel() override;

    /// truth[label][row] in {0, 1}, probability[label][row] in [0, 1]; NaN = missing (left out
    /// for that label). Throws std::invalid_argument (naming the label and row) for bad values.
    void setData(std::vector<std::vector<double>> truth, std::vector<std::vector<double>> probability,
                 std::vector<std::string> names);
    void setData(const metrics::LabelledPredictions& data);
    /// Reads a labels CSV and a predictions CSV joined on the id column (on this thread: for
    /// large tables read them in a job and call setData). False with `error` naming the file.
    bool loadCsv(const QString& labelsCsv, const QString& predictionsCsv, QString* error = nullptr,
                 const QString& idColumn = {});
    /// A new panel showing the two tables, or null with `error` set.
    static MetricsPanel* fromCsv(const QString& labelsCsv, const QString& predictionsCsv, QWidget* parent = nullptr,
                                 QString* error = nullptr);

    /// Bootstrap resamples for the table's intervals (0: none). Applies to the next setData.
    void setBootstrapResamples(int resamples);

    int labelCount() const { return int(names_.size()); }
    int currentLabel() const { return current_; }
    void setCurrentLabel(int label);
    double threshold(int label) const { return thresholds_.at(std::size_t(label)); }
    void setThreshold(int label, double threshold);
    bool temperatureScaled() const { return scaled_; }
    void setTemperatureScaled(bool on);

    /// The report for the probabilities as shown (temperature-scaled when the toggle is on).
    const metrics::MultiLabelReport& report() const { return scaled_ ? reportScaled_ : reportRaw_; }
    const metrics::TemperatureFit& temperatureFit(int label) const { return fits_.at(std::size_t(label)); }
    /// The threshold metrics of the current label at its threshold, as shown.
    metrics::ThresholdMetrics currentThresholdMetrics() const;
    /// Bootstrap intervals once computed (intervalsReady() was emitted), else null.
    const metrics::MultiLabelIntervals* intervals() const { return hasIntervals_ ? &intervals_ : nullptr; }

    /// Text shown for a live value: "threshold", "tp", "fp", "tn", "fn", "sensitivity",
    /// "specificity", "ppv", "npv", "f1", "positive_rate".
    QString shownValue(const QString& key) const;

    QComboBox* labelSelector() const { return labelBox_; }
    QSlider* thresholdSlider() const { return slider_; }
    QCheckBox* temperatureToggle() const { return scaledBox_; }
    QTableWidget* table() const { return table_; }
    QTabWidget* plotTabs() const { return tabs_; }
    QCustomPlot* rocPlot() const { return roc_; }
    QCustomPlot* prPlot() const { return pr_; }
    QCustomPlot* reliabilityPlot() const { return reliability_; }

    /// The per-label table as CSV (values at full precision, missing values empty).
    bool exportTableCsv(const QString& file, QString* error = nullptr) const;

    /// Clears every table, plot and value (a load failed); `why` becomes the status line, and
    /// Export plot / Export table are off until data are shown again.
    void clearResults(const QString& why);

signals:
    void thresholdChanged(int label, double threshold);
    void intervalsReady();

private:
    void setExportsEnabled(bool on);
    QLabel* valueLabel(const QString& key);
    QHBoxLayout* buildControls();
    QWidget* buildLiveBox();
    void rebuild();
    void startIntervals();
    void cancelIntervals();
    void fillTable();
    void refreshLive();
    void refreshTableRow(int label, int row = -1);
    void plotRoc();
    void plotPr();
    void plotReliability();
    const std::vector<double>& shownScores(int label) const;

    std::vector<std::vector<double>> truth_, probability_;
    std::vector<std::string> names_;
    std::vector<metrics::CleanPairs> raw_;           // per label, missing rows dropped
    std::vector<std::vector<double>> scaledScores_;  // per label, on raw_[l].truth's rows
    std::vector<metrics::TemperatureFit> fits_;
    std::vector<metrics::RocCurve> rocs_;
    std::vector<metrics::PrCurve> prs_;
    std::vector<double> thresholds_;
    metrics::MultiLabelReport reportRaw_, reportScaled_;
    metrics::MultiLabelIntervals intervals_;
    bool hasIntervals_ = false;
    int resamples_ = 200;
    int current_ = 0;
    bool scaled_ = false;
    std::shared_ptr<jobs::CancellationToken> cancel_;
    QFutureWatcher<std::shared_ptr<metrics::MultiLabelIntervals>>* watcher_ = nullptr;

    QComboBox* labelBox_ = nullptr;
    QSlider* slider_ = nullptr;
    QCheckBox* scaledBox_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    QCustomPlot *roc_ = nullptr, *pr_ = nullptr, *reliability_ = nullptr;
    QTableWidget* table_ = nullptr;
    QLabel* status_ = nullptr;
    std::map<QString, QLabel*> values_;
};

}  // namespace lumen::widgets
