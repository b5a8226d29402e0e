#pragma once
// The Jobs panel: one row per job with its progress bar, ETA, status, last message and a
// cancel button.

#include <QHash>
#include <QWidget>

class QAbstractButton;
class QProgressBar;
class QTreeWidget;
class QTreeWidgetItem;

namespace lumen::widgets {

class JobEventBridge;

/// "42 s", "3 min 05 s", "1 h 02 min"; "—" when unknown (negative).
QString formatDuration(double seconds);

class JobsPanel : public QWidget {
    Q_OBJECT
public:
    explicit JobsPanel(QWidget* parent = nullptr);

    /// Follows the bridge's events for jobs added with addJob().
    void attach(JobEventBridge* bridge);
    void addJob(quint64 job, const QString& kind, const QString& title);

    int jobCount() const;
    int runningCount() const;
    QString statusText(quint64 job) const;
    int progressPercent(quint64 job) const;  ///< -1 for an unknown job
    QString etaText(quint64 job) const;
    /// "1234 MB" once the job reported gpu_memory_mb (training on CUDA), else "—".
    QString gpuMemoryText(quint64 job) const;
    QString messageText(quint64 job) const;
    QAbstractButton* cancelButton(quint64 job) const;
    QTreeWidget* view() const { return view_; }

signals:
    void cancelRequested(quint64 job);
    void runningCountChanged(int running);

private:
    enum Column { Title, Kind, Status, Progress, Eta, Gpu, Message, Cancel, ColumnCount };
    struct Row {
        QTreeWidgetItem* item = nullptr;
        QProgressBar* bar = nullptr;
        QAbstractButton* cancel = nullptr;
        bool ended = false;
    };
    void onStarted(quint64 job);
    void onProgress(quint64 job, double fraction, const QString& message, double eta);
    void onEnded(quint64 job, const QString& status, const QString& detail, const QColor& color, bool complete);

    QTreeWidget* view_;
    QHash<quint64, Row> rows_;
};

}  // namespace lumen::widgets
