#pragma once
// The Log panel: log lines from jobs and the app, with a level filter.

#include "jobs/job.h"

#include <QDateTime>
#include <QVector>
#include <QWidget>

class QComboBox;
class QPlainTextEdit;

namespace lumen::widgets {

class LogPanel : public QWidget {
    Q_OBJECT
public:
    explicit LogPanel(QWidget* parent = nullptr);

    void append(jobs::LogLevel level, const QString& source, const QString& message);
    /// A job's log line (the bridge carries the level as an int: jobs::LogLevel's value).
    void append(int jobLevel, const QString& source, const QString& message) {
        append(static_cast<jobs::LogLevel>(jobLevel), source, message);
    }
    /// Lines below this level are hidden (they are kept and shown again when lowered).
    void setMinimumLevel(int level);
    int lineCount() const { return int(entries_.size()); }
    QString visibleText() const;
    void clear();

private:
    struct Entry {
        QDateTime time;
        int level;
        QString source;
        QString message;
    };
    QString format(const Entry& e) const;
    void rebuild();

    QComboBox* levelBox_;
    QPlainTextEdit* text_;
    QVector<Entry> entries_;
    int minimumLevel_ = static_cast<int>(jobs::LogLevel::Info);
    static constexpr int kMaxEntries = 20000;
};

}  // namespace lumen::widgets
