#pragma once
// The Log panel: log lines from jobs and the app, with a level filter.

#include <QDateTime>
#include <QVector>
#include <QWidget>

class QComboBox;
class QPlainTextEdit;

namespace lumen::widgets {

class LogPanel : public QWidget {
    Q_OBJECT
public:
    /// Same order as lumen::jobs::LogLevel.
    enum Level { Debug = 0, Info = 1, Warning = 2, Error = 3 };

    explicit LogPanel(QWidget* parent = nullptr);

    void append(int level, const QString& source, const QString& message);
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
    int minimumLevel_ = Info;
    static constexpr int kMaxEntries = 20000;
};

}  // namespace lumen::widgets
