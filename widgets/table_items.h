#pragma once
// Table items shared by the panels' QTableWidgets.

#include <QTableWidgetItem>

namespace lumen::widgets {

/// Shows `text` but sorts by `key` (numbers, timestamps) instead of by the text.
class SortKeyItem : public QTableWidgetItem {
public:
    SortKeyItem(const QString& text, double key) : QTableWidgetItem(text) { setData(Qt::UserRole, key); }
    bool operator<(const QTableWidgetItem& other) const override {
        return data(Qt::UserRole).toDouble() < other.data(Qt::UserRole).toDouble();
    }
};

}  // namespace lumen::widgets
