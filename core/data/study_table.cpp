#include "data/study_table.h"

#include "data/column_names.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

namespace lumen::data {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool containsNoCase(const std::string& text, const std::string& part) {
    const auto it = std::search(text.begin(), text.end(), part.begin(), part.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
    return it != text.end();
}

}  // namespace

void StudyTable::set(std::shared_ptr<const NumericTable> predictions, std::shared_ptr<const NumericTable> baseline) {
    new_ = std::move(predictions);
    base_ = std::move(baseline);
    baseColumnOf_.clear();
    baseRowOf_.clear();
    maxDiff_.clear();
    decimals_.clear();
    if (new_) {
        baseColumnOf_.assign(new_->columns.size(), -1);
        baseRowOf_.assign(new_->rowCount(), -1);
        maxDiff_.assign(new_->rowCount(), kNaN);
        if (base_) {
            for (std::size_t c = 0; c < new_->columns.size(); ++c)
                baseColumnOf_[c] = base_->columnIndex(new_->columns[c]);
            for (std::size_t r = 0; r < new_->rowCount(); ++r)
                if (const auto br = base_->findRow(new_->ids[r])) baseRowOf_[r] = int(*br);
            for (std::size_t r = 0; r < new_->rowCount(); ++r) {
                if (baseRowOf_[r] < 0) continue;
                double m = kNaN;
                for (std::size_t c = 0; c < new_->columns.size(); ++c) {
                    if (baseColumnOf_[c] < 0) continue;
                    const double d = std::abs(new_->values[c][r] -
                                              base_->values[std::size_t(baseColumnOf_[c])][std::size_t(baseRowOf_[r])]);
                    if (!std::isnan(d) && !(d <= m)) m = d;
                }
                maxDiff_[r] = m;
            }
        }
        decimals_.assign(new_->columns.size(), 4);
        for (std::size_t c = 0; c < decimals_.size(); ++c)
            if (std::any_of(new_->values[c].begin(), new_->values[c].end(), [](double v) { return std::abs(v) > 1; }))
                decimals_[c] = 2;
    }
    buildChoices();
}

void StudyTable::buildChoices() {
    choices_.clear();
    if (!new_) return;
    std::vector<bool> used(new_->columns.size(), false);
    // ROI-style groups first: <Label>.prob_full (or .prob) with its crop/drop/faithfulness.
    for (std::size_t c = 0; c < new_->columns.size(); ++c) {
        const auto parts = splitColumn(new_->columns[c]);
        if (parts.measure != "prob_full" && parts.measure != "prob") continue;
        Choice ch;
        ch.key = parts.label;
        ch.name = humanLabelName(parts.label);
        ch.score = int(c);
        ch.full = new_->columnIndex(parts.label + ".prob_full");
        ch.drop = new_->columnIndex(parts.label + ".prob_drop");
        ch.faith = new_->columnIndex(parts.label + ".faithfulness");
        ch.camLabel = ch.key;
        for (const char* m : {".prob_full", ".prob_crop", ".prob_drop", ".faithfulness", ".prob"})
            if (const int i = new_->columnIndex(parts.label + m); i >= 0) used[std::size_t(i)] = true;
        choices_.push_back(ch);
    }
    for (std::size_t c = 0; c < new_->columns.size(); ++c) {
        if (used[c]) continue;
        Choice ch;
        ch.key = new_->columns[c];
        ch.name = humanColumnName(new_->columns[c]);
        ch.score = int(c);
        ch.camLabel = ch.key;
        choices_.push_back(ch);
    }
}

double StudyTable::value(int column, int row) const {
    if (!new_ || column < 0) return kNaN;
    return new_->values[std::size_t(column)][std::size_t(row)];
}

double StudyTable::baselineOf(int column, int row) const {
    if (!base_ || column < 0 || baseColumnOf_[std::size_t(column)] < 0 || baseRowOf_[std::size_t(row)] < 0) return kNaN;
    return base_->values[std::size_t(baseColumnOf_[std::size_t(column)])][std::size_t(baseRowOf_[std::size_t(row)])];
}

double StudyTable::faithOf(const Choice& c, int row) const {
    if (c.faith >= 0) return value(c.faith, row);
    if (c.full >= 0 && c.drop >= 0) return value(c.full, row) - value(c.drop, row);
    return kNaN;
}

int StudyTable::sharedIds() const {
    return int(std::count_if(baseRowOf_.begin(), baseRowOf_.end(), [](int r) { return r >= 0; }));
}

bool StudyTable::matches(int row, const Choice* c, const Filter& f) const {
    if (!f.idContains.empty() && !containsNoCase(new_->ids[std::size_t(row)], f.idContains)) return false;
    if (c && (f.scoreMin || f.scoreMax)) {
        const double v = value(c->score, row);
        if (std::isnan(v) || (f.scoreMin && v < *f.scoreMin) || (f.scoreMax && v > *f.scoreMax)) return false;
    }
    if (c && f.faithfulnessBelow && !(faithOf(*c, row) < *f.faithfulnessBelow)) return false;  // NaN fails
    if (f.diffAbove) {
        const double d =
            f.diffAnyColumn || !c ? maxDiff(row) : std::abs(value(c->score, row) - baselineOf(c->score, row));
        if (!(d > *f.diffAbove)) return false;
    }
    return true;
}

}  // namespace lumen::data
