#pragma once
// Label vocabularies shared by a task and the data made for it (the demo workspace).

#include <string>
#include <vector>

namespace lumen::data {

/// CT-RATE's 18 abnormality labels, in its column order (the ct_multilabel task's default
/// `labels`, and the columns of the demo's ct/labels.csv).
const std::vector<std::string>& ctRateLabels();

}  // namespace lumen::data
