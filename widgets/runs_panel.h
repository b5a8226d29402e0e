#pragma once
// The Runs panel: the workspace's runs from the run store, newest first, sortable.

#include <QWidget>

class QTableWidget;

namespace lumen::runs { class RunStore; }

namespace lumen::widgets {

class RunsPanel : public QWidget {
    Q_OBJECT
public:
    explicit RunsPanel(QWidget* parent = nullptr);

    /// The store to read (not owned; null shows nothing). Reads happen on the GUI thread
    /// through the store's own connection; writers elsewhere do not block it (WAL).
    void setStore(runs::RunStore* store);
    /// Re-reads the runs; keeps the selection. Errors are shown in the panel, not thrown.
    void refresh();

    int rowCount() const;
    QString cellText(int row, const QString& column) const;
    QTableWidget* table() const { return table_; }

signals:
    void runActivated(qint64 run);

private:
    QTableWidget* table_;
    runs::RunStore* store_ = nullptr;
};

}  // namespace lumen::widgets
