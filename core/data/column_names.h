#pragma once
// Human names for prediction columns, so the clinician views show "Proximal RCA — stenosis %"
// instead of `prox_rca_stenosis`. Knows the tasks' default vocabularies (docs/demo-workspace.md: coronary
// segments and heads, NIH ChestX-ray14 findings, CT-RATE abnormalities, the ROI-consistency
// measures); anything else gets underscores turned into spaces and a capital first letter.

#include <string>
#include <vector>

namespace lumen::data {

/// A column split into what it is about (label / segment) and what is measured.
struct ColumnParts {
    std::string label;    ///< "Pleural_Thickening", "prox_rca" (as written in the column)
    std::string measure;  ///< "prob_full", "stenosis_binary", "" when the column is the label itself
};

/// `Label.measure` splits at the last dot; `<segment>_<head>` at a known coronary head
/// (`_stenosis`, `_stenosis_binary`, `_calcif_binary`, `_cto`, `_thrombus`) when the prefix is a
/// known segment; otherwise the whole column is the label.
ColumnParts splitColumn(const std::string& column);

/// "Pleural_Thickening" → "Pleural thickening", "prox_rca" → "Proximal RCA",
/// "lung_nodule" → "Lung nodule", "No Finding" stays.
std::string humanLabelName(const std::string& label);

/// "prob_full" → "P(full)", "stenosis" → "stenosis %", "stenosis_binary" → "P(stenosis ≥ 70 %)",
/// "faithfulness" → "faithfulness"; unknown measures have underscores turned into spaces.
std::string humanMeasureName(const std::string& measure);

/// The whole column: "prox_rca_stenosis" → "Proximal RCA — stenosis %",
/// "Pleural_Thickening.prob_full" → "Pleural thickening — P(full)", "Effusion" → "Effusion".
std::string humanColumnName(const std::string& column);

/// The 18 coronary segment prefixes, in the angiography model's order (docs/demo-workspace.md).
const std::vector<std::string>& coronarySegments();

}  // namespace lumen::data
