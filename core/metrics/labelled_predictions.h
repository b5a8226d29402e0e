#pragma once
// A labels table and a predictions table joined on their id column: the input of
// `lumen-cli metrics` and of the Metrics panel. Both tables hold the id and one column per
// label (truths 0/1, predictions probabilities); rows may come in any order.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::metrics {

struct LabelledPredictions {
    std::vector<std::string> names;                            ///< label columns, in the labels table's order
    std::vector<std::string> ids;                              ///< joined rows, in the labels table's order
    std::vector<std::vector<double>> truth;                    ///< truth[label][row]; NaN = missing
    std::vector<std::vector<double>> score;                    ///< score[label][row]; NaN = missing
    std::vector<std::string> onlyInLabels, onlyInPredictions;  ///< ids without a partner
    std::vector<std::string> ignoredColumns;                   ///< prediction columns that are no label, text columns
};

/// Reads and joins the two CSV files (`idColumn` empty: each file's first column). Throws
/// data::TableError naming the file (and column and id) for a label column missing from the
/// predictions, a truth other than 0/1, a probability outside [0, 1], or no common id.
LabelledPredictions loadLabelledPredictions(const std::filesystem::path& labels,
                                            const std::filesystem::path& predictions, const std::string& idColumn = {},
                                            jobs::JobContext* job = nullptr);

}  // namespace lumen::metrics
