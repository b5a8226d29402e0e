#pragma once
// The Study page's table as Qt models over the core's join (data::StudyTable): one row per
// prediction row with the chosen label's score, its baseline, |Δ|, faithfulness and the
// largest |Δ| of the row. Sorting (numbers as numbers, missing values first) and filtering
// (StudyTable::matches) happen in StudyFilterProxy, so the view never hides rows one by one.

#include "data/study_table.h"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>

#include <optional>

namespace lumen::widgets {

class StudyTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { kStudy, kScore, kBaseline, kDiff, kFaith, kMaxDiff, kColumns };
    /// A number to sort by (missing values sort first), or the id for the Study column.
    static constexpr int kSortRole = Qt::UserRole + 1;

    explicit StudyTableModel(const data::StudyTable& table, QObject* parent = nullptr);

    /// Shows `choice` (a copy is kept) of the table as it is now; resets the model.
    void setChoice(std::optional<data::StudyTable::Choice> choice);
    const std::optional<data::StudyTable::Choice>& choice() const { return choice_; }
    /// The study id of a (source) row.
    QString id(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    double valueAt(int row, int column) const;  // NaN where missing

    const data::StudyTable& table_;
    std::optional<data::StudyTable::Choice> choice_;
};

class StudyFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit StudyFilterProxy(const data::StudyTable& table, StudyTableModel* source, QObject* parent = nullptr);
    void setFilter(const data::StudyTable::Filter& filter);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    const data::StudyTable& table_;
    StudyTableModel* source_;
    data::StudyTable::Filter filter_;
};

}  // namespace lumen::widgets
