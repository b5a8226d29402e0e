#include "study_table_model.h"

#include "data/column_names.h"

#include <cmath>
#include <limits>

namespace lumen::widgets {

namespace {

QString number(double v, int decimals) {
    if (std::isnan(v)) return QStringLiteral("—");
    return QString::number(v, 'f', decimals);
}

}  // namespace

StudyTableModel::StudyTableModel(const data::StudyTable& table, QObject* parent)
    : QAbstractTableModel(parent), table_(table) {}

void StudyTableModel::setChoice(std::optional<data::StudyTable::Choice> choice) {
    beginResetModel();
    choice_ = std::move(choice);
    endResetModel();
    emit headerDataChanged(Qt::Horizontal, 0, kColumns - 1);
}

QString StudyTableModel::id(int row) const {
    const auto& t = table_.predictions();
    return t && row >= 0 && std::size_t(row) < t->rowCount() ? QString::fromStdString(t->ids[std::size_t(row)])
                                                             : QString();
}

int StudyTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() || !choice_ ? 0 : int(table_.rows());
}

int StudyTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : kColumns; }

double StudyTableModel::valueAt(int row, int column) const {
    const auto& c = *choice_;
    const double v = table_.value(c.score, row);
    switch (column) {
    case kScore: return v;
    case kBaseline: return table_.baselineOf(c.score, row);
    case kDiff: return std::abs(v - table_.baselineOf(c.score, row));
    case kFaith: return table_.faithOf(c, row);
    case kMaxDiff: return table_.maxDiff(row);
    default: return std::numeric_limits<double>::quiet_NaN();
    }
}

QVariant StudyTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || !choice_) return {};
    const int row = index.row(), column = index.column();
    if (column == kStudy) return role == Qt::DisplayRole || role == kSortRole ? QVariant(id(row)) : QVariant();
    const double v = valueAt(row, column);
    if (role == kSortRole) return std::isnan(v) ? -std::numeric_limits<double>::max() : v;
    if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole) return {};
    // |Δ| is small by nature: 4 decimals; the rest as the score column's kind asks.
    const int decimals = column == kScore || column == kBaseline ? table_.decimals(choice_->score) : 4;
    return number(v, decimals);
}

QVariant StudyTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case kStudy: return tr("Study");
    case kScore: {
        const auto& t = table_.predictions();
        if (choice_ && t && choice_->score >= 0)
            return QString::fromStdString(data::humanColumnName(t->columns[std::size_t(choice_->score)]));
        return tr("Score");
    }
    case kBaseline: return tr("Baseline");
    case kDiff: return tr("|Δ|");
    case kFaith: return tr("Faithfulness");
    case kMaxDiff: return tr("Max |Δ| (all)");
    default: return {};
    }
}

StudyFilterProxy::StudyFilterProxy(const data::StudyTable& table, StudyTableModel* source, QObject* parent)
    : QSortFilterProxyModel(parent), table_(table), source_(source) {
    setSourceModel(source);
    setSortRole(StudyTableModel::kSortRole);
}

void StudyFilterProxy::setFilter(const data::StudyTable::Filter& filter) {
    filter_ = filter;
    invalidateFilter();
}

bool StudyFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex&) const {
    const auto& c = source_->choice();
    return table_.matches(sourceRow, c ? &*c : nullptr, filter_);
}

}  // namespace lumen::widgets
