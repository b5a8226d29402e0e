#include "metrics/labelled_predictions.h"

#include "data/numeric_table.h"
#include "jobs/job.h"

#include <cmath>
#include <sstream>
#include <unordered_map>

namespace lumen::metrics {
namespace {

std::string number(double v) {
    std::ostringstream s;
    s.precision(17);
    s << v;
    return s.str();
}

}  // namespace

LabelledPredictions loadLabelledPredictions(const std::filesystem::path& labelsPath,
                                            const std::filesystem::path& predictionsPath, const std::string& idColumn,
                                            jobs::JobContext* job) {
    using data::TableError;
    data::CsvReadOptions options;
    options.idColumn = idColumn;
    const data::NumericTable labels = data::readNumericCsv(labelsPath, options, job);
    const data::NumericTable preds = data::readNumericCsv(predictionsPath, options, job);
    if (labels.columns.empty())
        throw TableError(labelsPath.string() + ": no numeric label column besides the id \"" + labels.idName + "\"");

    LabelledPredictions out;
    out.names = labels.columns;
    std::vector<int> predColumn;
    for (const auto& name : labels.columns) {
        const int c = preds.columnIndex(name);
        if (c < 0)
            throw TableError(predictionsPath.string() + ": no column \"" + name + "\" for the label of that name in " +
                             labelsPath.string());
        predColumn.push_back(c);
    }
    for (const auto& c : preds.columns)
        if (labels.columnIndex(c) < 0) out.ignoredColumns.push_back(predictionsPath.filename().string() + ": " + c);
    for (const auto& c : labels.textColumns) out.ignoredColumns.push_back(labelsPath.filename().string() + ": " + c);
    for (const auto& c : preds.textColumns)
        out.ignoredColumns.push_back(predictionsPath.filename().string() + ": " + c);

    std::unordered_map<std::string, std::size_t> predRow;
    predRow.reserve(preds.rowCount());
    for (std::size_t r = 0; r < preds.rowCount(); ++r) predRow.emplace(preds.ids[r], r);
    std::vector<char> matched(preds.rowCount(), 0);
    std::vector<std::pair<std::size_t, std::size_t>> rows;  // (labels row, preds row)
    for (std::size_t r = 0; r < labels.rowCount(); ++r) {
        auto it = predRow.find(labels.ids[r]);
        if (it == predRow.end()) {
            out.onlyInLabels.push_back(labels.ids[r]);
            continue;
        }
        matched[it->second] = 1;
        rows.emplace_back(r, it->second);
    }
    for (std::size_t r = 0; r < preds.rowCount(); ++r)
        if (!matched[r]) out.onlyInPredictions.push_back(preds.ids[r]);
    if (rows.empty())
        throw TableError(labelsPath.string() + " and " + predictionsPath.string() + ": no id in common (id columns \"" +
                         labels.idName + "\" and \"" + preds.idName + "\")");

    const std::size_t n = rows.size();
    out.ids.reserve(n);
    for (const auto& [lr, pr] : rows) out.ids.push_back(labels.ids[lr]);
    out.truth.assign(out.names.size(), std::vector<double>(n));
    out.score.assign(out.names.size(), std::vector<double>(n));
    for (std::size_t l = 0; l < out.names.size(); ++l) {
        const auto& tv = labels.values[l];
        const auto& pv = preds.values[std::size_t(predColumn[l])];
        for (std::size_t i = 0; i < n; ++i) {
            const double t = tv[rows[i].first], p = pv[rows[i].second];
            if (!std::isnan(t) && t != 0.0 && t != 1.0)
                throw TableError(labelsPath.string() + ": column \"" + out.names[l] + "\", id \"" + out.ids[i] +
                                 "\": label " + number(t) + " is not 0 or 1");
            if (!std::isnan(p) && !(p >= 0.0 && p <= 1.0))
                throw TableError(predictionsPath.string() + ": column \"" + out.names[l] + "\", id \"" + out.ids[i] +
                                 "\": probability " + number(p) + " is outside [0, 1]");
            out.truth[l][i] = t;
            out.score[l][i] = p;
        }
    }
    return out;
}

}  // namespace lumen::metrics
