#pragma once
// The Data panel: open a manifest (or a split folder) and read the dataset at a glance —
// images and patients per split, a label-balance bar chart (grouped bars per split,
// exportable), the split overlap proof (pairwise shared patients and images, green at 0) and,
// on demand, the exact pixel mean/std of a split (the loader's normalisation constants).
// Reading runs as a job, never on the GUI thread.

#include "data/dataset_stats.h"
#include "data/splits.h"
#include "job_event_bridge.h"
#include "jobs/job_pool.h"

#include <QWidget>

#include <functional>
#include <memory>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableWidget;

namespace lumen::widgets {

class JobEventBridge;

/// What the panel shows, computed in a job from the manifest.
struct DataSummary {
    QString source;           ///< the manifest file or folder opened
    data::Manifest manifest;  ///< what was read (pixel statistics run over it)
    std::size_t rows = 0;     ///< images, or an angiography manifest's videos
    std::size_t studies = 0;  ///< an angiography manifest's studies (0: an image manifest)
    std::size_t missingFiles = 0;
    std::vector<std::string> firstMissing;  ///< up to 5 missing paths
    data::LabelBalance balance;
    data::SplitReport report;
};

/// Reads `path` (manifest or split folder) and summarises it; throws like loadManifestOrFolder.
DataSummary summariseDataset(const QString& path, jobs::JobContext* job = nullptr);

class DataPanel : public QWidget {
    Q_OBJECT
public:
    using Submit = JobSubmitter;

    explicit DataPanel(QWidget* parent = nullptr);
    ~DataPanel() override;

    /// How reads are run (the main window's pool and bridge). Without one the panel uses a
    /// one-thread pool of its own.
    void setJobRunner(Submit submit, JobEventBridge* bridge);

    /// Starts reading `path` in a job; false (reason in the status) when empty or busy.
    bool open(const QString& path);
    /// Shows a summary (GUI thread).
    void setSummary(std::shared_ptr<const DataSummary> summary);
    std::shared_ptr<const DataSummary> summary() const { return summary_; }
    bool busy() const { return runningJob_ != 0; }

    /// Bars show counts instead of percent of the split's images.
    void setShowCounts(bool counts);

    /// Starts the exact pixel mean/std of one split ("" = every row) of the open dataset as a
    /// job (cancellable from the Jobs panel); false when nothing is open or a job runs.
    bool computePixelStats(const QString& split);
    /// The last pixel statistics (null before any) and their split.
    std::shared_ptr<const data::PixelStats> pixelStats() const { return pixelStats_; }
    QString pixelStatsText() const;

    QString statusText() const;
    QLineEdit* pathEdit() const { return pathEdit_; }
    QPushButton* openButton() const { return openButton_; }
    QTableWidget* summaryTable() const { return summaryTable_; }
    QTableWidget* overlapTable() const { return overlapTable_; }
    QLabel* proofLabel() const { return proof_; }
    QCustomPlot* balancePlot() const { return plot_; }

    QComboBox* pixelSplitBox() const { return pixelSplit_; }
    QPushButton* pixelStatsButton() const { return pixelButton_; }
    QPushButton* datasetCardButton() const { return cardButton_; }
    /// Writes the open dataset's card (.pdf/.html/.md by extension; with the pixel statistics
    /// when they were computed over every row); "" on success, else the error.
    QString exportDatasetCard(const QString& file);

signals:
    void loaded();
    void loadFailed(const QString& error);
    void pixelStatsReady();

private:
    void connectBridge();
    QWidget* buildChartBox();
    bool ensureRunner();
    void showPixelStats();
    void setStatus(const QString& text, const QColor& color);
    void fillTables();
    void fillChart();

    Submit submit_;
    JobEventBridge* bridge_ = nullptr;
    std::unique_ptr<jobs::JobPool> ownPool_;  // only without a runner
    JobEventBridge* ownBridge_ = nullptr;
    jobs::JobId runningJob_ = 0;
    std::shared_ptr<std::shared_ptr<const DataSummary>> pending_;
    std::shared_ptr<std::shared_ptr<const data::PixelStats>> pendingPixels_;
    std::shared_ptr<const data::PixelStats> pixelStats_;
    QString pixelStatsSplit_;
    std::shared_ptr<const DataSummary> summary_;
    bool showCounts_ = false;

    QLineEdit* pathEdit_;
    QPushButton* browseButton_;
    QPushButton* openButton_;
    QLabel* status_;
    QTableWidget* summaryTable_;
    QTableWidget* overlapTable_;
    QLabel* proof_;
    QCustomPlot* plot_;
    QCheckBox* countsBox_;
    QPushButton* exportButton_;
    QPushButton* cardButton_ = nullptr;
    QComboBox* pixelSplit_;
    QPushButton* pixelButton_;
    QLabel* pixelLabel_;
};

}  // namespace lumen::widgets
