#pragma once
// The Audit panel: choose (or drop) a baseline and a new predictions table and a categories
// file, run the audit as a job, and read the result: a PASS/FAIL summary per category, a
// baseline-vs-new scatter with the identity line and outliers highlighted (hover shows the
// point, click lists the study's every column), a histogram of differences, exports, and
// the workspace's audit history.

#include "audit/audit.h"
#include "job_event_bridge.h"
#include "jobs/job_pool.h"

#include <QWidget>

#include <functional>
#include <memory>
#include <optional>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableWidget;

namespace lumen::widgets {

class JobEventBridge;

/// One point of the scatter: which study (shared-id index) and which column.
struct AuditPoint {
    QString id;
    QString column;
    double baseline = 0;
    double newValue = 0;
};

class AuditPanel : public QWidget {
    Q_OBJECT
public:
    using Submit = JobSubmitter;

    explicit AuditPanel(QWidget* parent = nullptr);
    ~AuditPanel() override;

    /// How audits are run: `submit` queues a job (the main window's), `bridge` reports its end.
    void setJobRunner(Submit submit, JobEventBridge* bridge);
    /// Where audits are recorded and the history read from ("" = none).
    void setDatabase(const QString& runDatabase);
    void setInputs(const QString& baseline, const QString& newFile, const QString& categories = {});

    /// Starts the audit of the current inputs as a job; false (with the reason shown) if the
    /// inputs are incomplete or no runner is set.
    bool runAudit();
    void setResult(std::shared_ptr<const audit::AuditResult> result);
    std::shared_ptr<const audit::AuditResult> result() const { return result_; }

    /// Shows category `index`'s points in the scatter, its differences in the histogram and its
    /// largest |Δ| (one category at a time: categories may differ in units).
    void showCategory(int index);
    int pointCount() const;       ///< points in the scatter now
    int outlierCount() const;     ///< of which beyond the tolerance
    int nonFiniteCount() const;   ///< pairs of the category with an infinity (not drawn)
    QString maxDiffText() const;  ///< the "Max |Δ|" figure of the category on show
    QString gapsText() const;     ///< the gaps of the last audit, allowed or not
    /// The point drawn under `pixel` (within a few pixels), if any.
    std::optional<AuditPoint> pointAt(const QPoint& pixel) const;
    QPoint pixelOf(double baseline, double newValue) const;
    /// Lists every column of `id` side by side (baseline, new, diff) and emits studySelected.
    void selectStudy(const QString& id);
    QString selectedStudy() const { return selectedStudy_; }
    void refreshHistory();
    QString statusText() const;

    QTableWidget* summaryTable() const { return summary_; }
    QTableWidget* studyTable() const { return study_; }
    QTableWidget* historyTable() const { return history_; }
    QCustomPlot* scatterPlot() const { return scatter_; }
    QCustomPlot* histogramPlot() const { return histogram_; }
    QComboBox* categoryBox() const { return categoryBox_; }
    QPushButton* runButton() const { return runButton_; }
    /// Writes the audit report as a PDF (summary table, scatter and histogram per category, no
    /// ids: docs/cards.md); "" on success, else the error. Needs a finished audit.
    QString exportPdfReport(const QString& file);
    QCheckBox* allowMissingIds() const { return allowIds_; }
    QCheckBox* allowMissingColumns() const { return allowColumns_; }
    QCheckBox* allowMissingValues() const { return allowValues_; }

signals:
    void studySelected(const QString& id);
    void auditFinished(bool pass);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct Points;
    void buildUi();
    QWidget* buildInputs();
    QWidget* buildTables();
    QWidget* buildPlots();
    void fillSummary();
    void fillGaps();
    void drawHistogram(const QString& category);
    void rebuildIndex();
    void saveReport();
    void setStatus(const QString& text, const QColor& color);
    void clearResult();

    QLineEdit* baselineEdit_;
    QLineEdit* newEdit_;
    QLineEdit* categoriesEdit_;
    QLineEdit* stageEdit_;
    QDoubleSpinBox* maxMae_;
    QDoubleSpinBox* minCorr_;
    QDoubleSpinBox* tolerance_;
    QCheckBox* allowIds_;
    QCheckBox* allowColumns_;
    QCheckBox* allowValues_;
    QPushButton* runButton_;
    QPushButton* saveReportButton_ = nullptr;
    QPushButton* exportPdfButton_ = nullptr;
    QLabel* status_;
    QLabel* gaps_;
    QLabel* maxDiff_;
    QTableWidget* summary_;
    QComboBox* categoryBox_;
    QCustomPlot* scatter_;
    QCustomPlot* histogram_;
    QTableWidget* study_;
    QTableWidget* history_;

    Submit submit_;
    JobEventBridge* bridge_ = nullptr;
    QString database_;
    jobs::JobId runningJob_ = 0;
    std::shared_ptr<std::shared_ptr<const audit::AuditResult>> pending_;
    std::shared_ptr<const audit::AuditResult> result_;
    std::unique_ptr<Points> points_;
    QString selectedStudy_;
    QPoint pressedAt_;
};

}  // namespace lumen::widgets
