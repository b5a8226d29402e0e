#pragma once
// The Study page's table without Qt: a predictions table joined to a baseline by id and by
// column name, the "labels" a user picks from (ROI groups <label>.prob_full / .prob_crop /
// .prob_drop / .faithfulness first, then every other column), per-row differences and the
// filter. The widget (widgets/study_browser.h) only displays it.

#include "data/numeric_table.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lumen::data {

class StudyTable {
public:
    /// One entry of the label chooser.
    struct Choice {
        std::string key;   ///< the label (ROI group) or the column name
        std::string name;  ///< human name
        int score = -1;    ///< column in the predictions (probability / value)
        int full = -1, drop = -1, faith = -1;
        std::string camLabel;  ///< label to look up in the CAM cache
    };
    /// Unset parts do not filter; a missing value fails an active filter.
    struct Filter {
        std::optional<double> scoreMin, scoreMax;  ///< the chosen label's score in [min, max]
        std::optional<double> faithfulnessBelow;   ///< faithfulness < value
        std::optional<double> diffAbove;           ///< |new − baseline| > value
        bool diffAnyColumn = false;                ///< … in any shared column instead of the label's
        std::string idContains;                    ///< case-insensitive
    };

    /// Joins `predictions` to `baseline` (may be null): rows by id, columns by name.
    void set(std::shared_ptr<const NumericTable> predictions, std::shared_ptr<const NumericTable> baseline);
    const std::shared_ptr<const NumericTable>& predictions() const { return new_; }
    const std::shared_ptr<const NumericTable>& baseline() const { return base_; }
    std::size_t rows() const { return new_ ? new_->rowCount() : 0; }
    const std::vector<Choice>& choices() const { return choices_; }

    double value(int column, int row) const;
    /// The baseline's value of the same id and column; NaN when either is not in the baseline.
    double baselineOf(int column, int row) const;
    /// The choice's faithfulness column, else P(full) − P(drop); NaN without them.
    double faithOf(const Choice& c, int row) const;
    /// Largest |new − baseline| over the shared columns of the row; NaN when its id is not shared.
    double maxDiff(int row) const { return maxDiff_[std::size_t(row)]; }
    /// Decimals to show: 4 for probabilities, 2 for columns with values beyond ±1.
    int decimals(int column) const { return decimals_[std::size_t(column)]; }
    /// Prediction rows whose id is in the baseline.
    int sharedIds() const;
    /// Whether row `row` passes `f` for the chosen label `c` (may be null).
    bool matches(int row, const Choice* c, const Filter& f) const;

private:
    void buildChoices();

    std::shared_ptr<const NumericTable> new_, base_;
    std::vector<int> baseColumnOf_;  ///< new column -> baseline column or -1
    std::vector<int> baseRowOf_;     ///< new row -> baseline row or -1
    std::vector<double> maxDiff_;
    std::vector<int> decimals_;
    std::vector<Choice> choices_;
};

}  // namespace lumen::data
