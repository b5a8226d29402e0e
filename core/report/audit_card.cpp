// The audit report as a card (docs/cards.md).
#include "report/audit_card.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lumen::report {
namespace {

std::string compact(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

std::string corrText(const audit::Stats& s) { return s.corr ? formatNumber(*s.corr, 6) : "n/a"; }

std::vector<std::string> statsRow(const audit::Stats& s, const std::string& name, bool includeIds) {
    std::string where = s.maxDiffColumn;
    if (includeIds && !s.maxDiffId.empty()) where = s.maxDiffId + " / " + where;
    return {name,
            std::to_string(s.columns.size()),
            std::to_string(s.n),
            s.n ? formatNumber(s.mae, 6) : "n/a",
            corrText(s),
            s.n ? formatNumber(s.maxDiff, 6) : "n/a",
            where,
            "MAE < " + compact(s.thresholds.maxMae) + ", r >= " + compact(s.thresholds.minCorr),
            s.pass ? "PASS" : "FAIL"};
}

void summarySection(CardDocument& doc, const audit::AuditReport& r, const AuditCardOptions& options) {
    auto& s = doc.add("Summary");
    s.bullets(
        {"Baseline `" + std::filesystem::path(r.baseline.path).filename().string() + "`, SHA-256 `" +
             r.baseline.sha256 + "`",
         "New `" + std::filesystem::path(r.newer.path).filename().string() + "`, SHA-256 `" + r.newer.sha256 + "`",
         "Joined on `" + r.idColumn + "`: " + std::to_string(r.sharedIds) + " shared ids, " +
             std::to_string(r.columns.size()) + " shared columns, " + std::to_string(r.overall.n) + " value pairs"});
    Table t{{"category", "columns", "pairs", "MAE", "correlation", "max |diff|",
             options.includeIds ? "max at (id / column)" : "max at (column)", "thresholds", "status"},
            {}};
    for (const auto& c : r.categories) t.rows.push_back(statsRow(c, c.name, options.includeIds));
    t.rows.push_back(statsRow(r.overall, "OVERALL", options.includeIds));
    s.table(std::move(t));
    if (!r.overallJudged)
        s.paragraph("OVERALL passes when every category passes (categories have thresholds of their own).");
}

void gapSection(CardDocument& doc, const audit::AuditReport& r, const AuditCardOptions& options) {
    auto& s = doc.add("Gaps");
    const auto gaps = r.gaps();
    if (gaps.empty()) {
        s.paragraph("None: every id, column and value is on both sides.");
        return;
    }
    std::vector<std::string> items;
    for (const auto& g : gaps) {
        std::string item =
            std::string(g.allowed ? "allowed" : "**FAIL**") + ": " + std::to_string(g.count) + " " + g.title;
        // Examples of ids are patient data; column names are not.
        const bool ids = g.kind.find("ids") != std::string::npos || g.kind.find("values") != std::string::npos ||
                         g.kind.find("cells") != std::string::npos;
        if (!ids || options.includeIds)
            for (std::size_t i = 0; i < g.examples.size(); ++i) item += (i ? ", `" : ": `") + g.examples[i] + "`";
        items.push_back(item);
    }
    s.bullets(std::move(items));
}

Plot scatterPlot(const audit::Stats& c, const CategoryPairs& pairs, std::size_t maxPoints) {
    Plot p{Plot::Kind::Scatter, c.name + ": new against baseline", "baseline", "new", {{c.name, {}, {}}}, true, false};
    const std::size_t n = pairs.baseline.size();
    const std::size_t step = maxPoints && n > maxPoints ? (n + maxPoints - 1) / maxPoints : 1;
    for (std::size_t i = 0; i < n; i += step) {
        p.series[0].x.push_back(pairs.baseline[i]);
        p.series[0].y.push_back(pairs.newer[i]);
    }
    if (step > 1) p.title += " (every " + std::to_string(step) + "th of " + std::to_string(n) + " pairs)";
    return p;
}

Plot histogramPlot(const audit::Stats& c, const CategoryPairs& pairs, int bins) {
    Plot p{Plot::Kind::Bars, c.name + ": new - baseline", "difference", "pairs", {{c.name, {}, {}}}, false, false};
    if (pairs.baseline.empty() || bins < 1) return p;
    std::vector<double> d(pairs.baseline.size());
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = pairs.newer[i] - pairs.baseline[i];
    const auto [lo, hi] = std::minmax_element(d.begin(), d.end());
    double a = *lo, b = *hi;
    if (b <= a) {
        const double half = a == 0 ? 1e-9 : std::abs(a) * 1e-6;
        a -= half;
        b += half;
    }
    const double width = (b - a) / bins;
    std::vector<double> counts(std::size_t(bins), 0.0);
    for (double v : d) counts[std::min(std::size_t(bins) - 1, std::size_t((v - a) / width))] += 1;
    for (int i = 0; i < bins; ++i) {
        p.series[0].x.push_back(a + (i + 0.5) * width);
        p.series[0].y.push_back(counts[std::size_t(i)]);
    }
    return p;
}

}  // namespace

CategoryPairs categoryPairs(const audit::AuditResult& result, const audit::Stats& category) {
    CategoryPairs out;
    if (!result.baseline || !result.newer) return out;
    for (const auto& [bc, nc] : result.sharedColumns) {
        const auto& name = result.baseline->columns[std::size_t(bc)];
        if (std::find(category.columns.begin(), category.columns.end(), name) == category.columns.end()) continue;
        const auto& bv = result.baseline->values[std::size_t(bc)];
        const auto& nv = result.newer->values[std::size_t(nc)];
        for (const auto& [br, nr] : result.joinedRows)
            if (std::isfinite(bv[br]) && std::isfinite(nv[nr])) {
                out.baseline.push_back(bv[br]);
                out.newer.push_back(nv[nr]);
            }
    }
    return out;
}

CardDocument auditCard(const audit::AuditResult& result, const AuditCardOptions& options) {
    const auto& r = result.report;
    CardDocument doc;
    doc.title = "Reproducibility audit: " + r.verdict();
    doc.subtitle = "Generated by Lumen (lumen-cli audit). " +
                   std::string(options.includeIds ? "Ids are included (--include-ids)."
                                                  : "No patient or study id is shown (export with --include-ids "
                                                    "to name them).");
    summarySection(doc, r, options);
    gapSection(doc, r, options);
    for (const auto& c : r.categories) {
        auto& s = doc.add("Category " + c.name);
        const CategoryPairs pairs = categoryPairs(result, c);
        s.paragraph(std::to_string(c.columns.size()) + " column(s), " + std::to_string(pairs.baseline.size()) +
                    " finite pairs; MAE " + (c.n ? formatNumber(c.mae, 6) : "n/a") + ", r " + corrText(c) + ": " +
                    (c.pass ? "PASS" : "FAIL") + ".");
        if (pairs.baseline.empty()) continue;
        s.plot(scatterPlot(c, pairs, options.maxScatterPoints));
        s.plot(histogramPlot(c, pairs, options.histogramBins));
    }
    return doc;
}

}  // namespace lumen::report
