#pragma once
// Internal to core/report: what the model card's document is written from besides the numbers
// of ModelCard (the joined truths and scores, for the plots).

#include "report/model_card.h"

#include <vector>

namespace lumen::report::detail {

struct ModelCardData {
    std::vector<std::string> names;
    std::vector<std::vector<double>> truth, score;  ///< [label][row] of the evaluated rows
    std::vector<double> fitTruth, fitScore;         ///< pooled pairs the temperature was fitted on
    std::vector<double> evalTruth, evalScore;       ///< pooled pairs calibration is reported on
};

/// The card's document from its numbers (model_card_document.cpp).
CardDocument modelCardDocument(const ModelCard& card, const ModelCardData& data, const ModelCardOptions& options);

/// The environment record flattened to (key path, value) rows, e.g. ("os.name", "Debian 12").
std::vector<std::pair<std::string, std::string>> flattenEnvironment(const std::string& json);

/// "YYYY-MM-DD HH:MM UTC" of Unix milliseconds; "" for 0.
std::string utcTime(std::int64_t ms);

}  // namespace lumen::report::detail
