#pragma once
// The DICOM browser: a patient -> study -> series -> instance tree read from the workspace's
// DICOM index (io/dicom_index.h), series thumbnails decoded off the GUI thread and cached,
// and a DicomImageView with window presets and cine controls. "Scan folder…" runs the
// index scan as a job with progress. docs/dicom-browser.md.

#include "job_event_bridge.h"
#include "jobs/job_pool.h"

#include <QHash>
#include <QImage>
#include <QString>
#include <QWidget>

#include <functional>
#include <memory>

class QLabel;
class QLayout;
class QProgressBar;
class QPushButton;
class QSlider;
class QDoubleSpinBox;
class QTreeWidget;
class QTreeWidgetItem;

namespace lumen::io {
class DicomIndex;
struct ImageVolume;
}  // namespace lumen::io

namespace lumen::widgets {

class DicomImageView;
class JobEventBridge;

class DicomBrowser : public QWidget {
    Q_OBJECT
public:
    using Submit = JobSubmitter;
    /// Item data role holding "patient", "study", "series", "instance" or "unreadable".
    static constexpr int kKindRole = Qt::UserRole + 1;
    /// Item data role holding the patient id, study/series UID or instance path.
    static constexpr int kKeyRole = Qt::UserRole + 2;
    static constexpr int kThumbnailSize = 56;

    explicit DicomBrowser(QWidget* parent = nullptr);
    ~DicomBrowser() override;

    /// How scans run: `submit` queues a job (the main window's), `bridge` reports it.
    void setJobRunner(Submit submit, JobEventBridge* bridge);
    /// The workspace database holding the index ("" closes it); refreshes the tree.
    void setDatabase(const QString& databaseFile);
    /// Starts scanning `folder` into the index as a job; false (reason in the status) when no
    /// database or runner is set or a scan is already running.
    bool scanFolder(const QString& folder);
    /// Re-reads the tree from the index (keeps thumbnails).
    void refresh();
    /// Selects the series item with this UID (expanding its parents) and loads it.
    bool selectSeries(const QString& seriesUid);

    DicomImageView* view() const { return view_; }
    QTreeWidget* tree() const { return tree_; }
    QString statusText() const;
    QString lastScannedFolder() const { return lastFolder_; }
    int cachedThumbnails() const { return int(thumbnails_.size()); }

signals:
    void scanFinished(bool ok);
    /// After a selected series or instance was decoded and shown (key = UID or path).
    void imageLoaded(const QString& key);
    void thumbnailReady(const QString& seriesUid);

private:
    QLayout* buildCineBar();
    QLayout* buildWindowPresets();
    void chooseAndScan();
    void onSelection();
    void loadSeries(const QString& seriesUid, const QString& caption);
    void loadInstance(const QString& path, const QString& caption);
    void showLoaded(std::shared_ptr<const io::ImageVolume> volume, const QString& key, const QString& caption,
                    const QString& error, quint64 generation);
    void requestThumbnail(QTreeWidgetItem* item, const QString& seriesUid, const QString& path);
    void setStatus(const QString& text, bool error = false);
    void syncControls();

    Submit submit_;
    JobEventBridge* bridge_ = nullptr;
    QString database_;
    std::unique_ptr<io::DicomIndex> index_;
    jobs::JobId scanJob_ = 0;
    QString lastFolder_;
    quint64 generation_ = 0;
    QHash<QString, QImage> thumbnails_;  ///< key: path + mtime + size of the representative file
    QHash<QString, QTreeWidgetItem*> seriesItems_;

    QPushButton* scanButton_;
    QPushButton* rescanButton_;
    QProgressBar* progress_;
    QLabel* status_;
    QTreeWidget* tree_;
    DicomImageView* view_;
    QPushButton* playButton_;
    QSlider* frameSlider_;
    QLabel* frameLabel_;
    QDoubleSpinBox* fpsSpin_;
    QLabel* windowLabel_;
    QLabel* infoLabel_;
};

}  // namespace lumen::widgets
