#include "runs_panel.h"

#include "table_items.h"

#include "runs/run_store.h"

#include <QDateTime>
#include <QHeaderView>
#include <QTableWidget>
#include <QVBoxLayout>

namespace lumen::widgets {
namespace {

const QStringList kColumns = {QObject::tr("ID"),      QObject::tr("Task"),
                              QObject::tr("Name"),    QObject::tr("Status"),
                              QObject::tr("Config"),  QObject::tr("Created"),
                              QObject::tr("Duration"), QObject::tr("Outcome")};

QColor statusColor(runs::RunStatus s) {
    switch (s) {
    case runs::RunStatus::Finished: return QColor(0x1b, 0x7f, 0x3b);
    case runs::RunStatus::Failed: return QColor(0xc0, 0x1c, 0x28);
    case runs::RunStatus::Cancelled: return QColor(0x9a, 0x67, 0x00);
    default: return QColor(0x1c, 0x57, 0xa8);
    }
}

}  // namespace

RunsPanel::RunsPanel(QWidget* parent) : QWidget(parent), table_(new QTableWidget(this)) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(table_);
    table_->setObjectName("runsTable");
    table_->setColumnCount(int(kColumns.size()));
    table_->setHorizontalHeaderLabels(kColumns);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setSortingEnabled(true);
    connect(table_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
        emit runActivated(table_->item(row, 0)->data(Qt::UserRole).toLongLong());
    });
}

void RunsPanel::setStore(runs::RunStore* store) {
    store_ = store;
    refresh();
}

void RunsPanel::refresh() {
    table_->setSortingEnabled(false);
    table_->clearContents();
    table_->setRowCount(0);
    if (!store_) return;
    std::vector<runs::RunRecord> records;
    try {
        records = store_->runs();
    } catch (const std::exception& e) {
        table_->setRowCount(1);
        table_->setItem(0, 7, new QTableWidgetItem(tr("Cannot read runs: %1").arg(e.what())));
        return;
    }
    table_->setRowCount(int(records.size()));
    for (int row = 0; row < int(records.size()); ++row) {
        const auto& r = records[size_t(row)];
        table_->setItem(row, 0, new SortKeyItem(QString::number(r.id), double(r.id)));
        table_->setItem(row, 1, new QTableWidgetItem(QString::fromStdString(r.task)));
        table_->setItem(row, 2, new QTableWidgetItem(QString::fromStdString(r.name)));
        auto* status = new QTableWidgetItem(QString::fromStdString(runs::runStatusName(r.status)));
        status->setForeground(statusColor(r.status));
        table_->setItem(row, 3, status);
        auto* hash = new QTableWidgetItem(QString::fromStdString(r.configHash.substr(0, 12)));
        hash->setToolTip(QString::fromStdString(r.configHash));
        table_->setItem(row, 4, hash);
        const QDateTime created = QDateTime::fromMSecsSinceEpoch(r.createdAtMs);
        table_->setItem(row, 5, new SortKeyItem(created.toString("yyyy-MM-dd HH:mm:ss"),
                                               double(r.createdAtMs)));
        const double seconds = r.finishedAtMs > 0 ? (r.finishedAtMs - r.createdAtMs) / 1000.0 : -1;
        table_->setItem(row, 6, new SortKeyItem(seconds < 0 ? QString() :
                                                   QString::number(seconds, 'f', 1) + " s",
                                               seconds));
        auto* outcome = new QTableWidgetItem(QString::fromStdString(r.outcome));
        outcome->setToolTip(QString::fromStdString(r.outcome));
        table_->setItem(row, 7, outcome);
        table_->item(row, 0)->setData(Qt::UserRole, qlonglong(r.id));
    }
    table_->setSortingEnabled(true);
    table_->resizeColumnsToContents();
}

int RunsPanel::rowCount() const { return table_->rowCount(); }

QString RunsPanel::cellText(int row, const QString& column) const {
    const int col = int(kColumns.indexOf(column));
    if (col < 0 || row < 0 || row >= table_->rowCount() || !table_->item(row, col)) return {};
    return table_->item(row, col)->text();
}

}  // namespace lumen::widgets
