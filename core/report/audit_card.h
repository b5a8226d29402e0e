#pragma once
// The audit report as a card (docs/cards.md): the verdict, the inputs' SHA-256, the summary
// table per category (the audit's own Stats, core/audit), the gaps, and per category a scatter
// of new against baseline values and a histogram of their differences. Ids (of the largest
// difference, of the gaps' examples) appear only with includeIds. Torch-free.

#include "audit/audit.h"
#include "report/card_document.h"

#include <cstddef>

namespace lumen::report {

struct AuditCardOptions {
    bool includeIds = false;
    std::size_t maxScatterPoints = 4000;  ///< per category; more pairs are thinned evenly (every k-th)
    int histogramBins = 30;
};

/// The per-category (baseline, new) value pairs, finite on both sides, in join order: the
/// scatter's points before thinning. Exposed for tests.
struct CategoryPairs {
    std::vector<double> baseline, newer;
};
CategoryPairs categoryPairs(const audit::AuditResult& result, const audit::Stats& category);

CardDocument auditCard(const audit::AuditResult& result, const AuditCardOptions& options = {});

}  // namespace lumen::report
