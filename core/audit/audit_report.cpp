// The audit's report: the verdict and its gaps, JSON and Markdown, the files, the run store.
#include "audit/audit.h"

#include "runs/run_store.h"
#include "util/atomic_file.h"
#include "util/sha256.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace lumen::audit {
namespace {

std::string fmt(double v, int decimals = 6) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

// A number for the JSON: finite as is, missing (NaN) as null, an infinity as "inf"/"-inf"
// (JSON has none).
nlohmann::json number(double v) {
    if (std::isnan(v)) return nullptr;
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return v;
}

nlohmann::json statsJson(const Stats& s, bool withColumns, bool withMissing) {
    nlohmann::json j;
    j["name"] = s.name;
    if (withColumns) j["columns"] = s.columns;
    j["n"] = s.n;
    if (s.nonFinite) j["non_finite"] = s.nonFinite;
    j["mae"] = s.n ? number(s.mae) : nullptr;
    j["corr"] = s.corr ? nlohmann::json(*s.corr) : nlohmann::json(nullptr);
    if (!s.corrNote.empty()) j["corr_note"] = s.corrNote;
    j["max_diff"] = s.n ? number(s.maxDiff) : nullptr;
    j["max_diff_id"] = s.maxDiffId;
    j["max_diff_column"] = s.maxDiffColumn;
    j["mean_baseline"] = s.n ? number(s.meanBaseline) : nullptr;
    j["mean_new"] = s.n ? number(s.meanNew) : nullptr;
    if (withMissing) {
        j["missing_baseline"] = s.missingBaseline;
        j["missing_new"] = s.missingNew;
    }
    if (withColumns) j["thresholds"] = {{"max_mae", s.thresholds.maxMae}, {"min_corr", s.thresholds.minCorr}};
    j["pass"] = s.pass;
    return j;
}

std::vector<std::string> firstOf(const std::vector<std::string>& items) {
    return {items.begin(), items.begin() + std::ptrdiff_t(std::min(items.size(), AuditReport::kExamples))};
}

}  // namespace

std::string describe(const BadCell& c) {
    return c.file + ":" + std::to_string(c.line) + ": column \"" + c.column + "\": \"" + c.text + "\" is not a number";
}

bool AuditReport::thresholdsPass() const {
    return overall.pass && std::all_of(categories.begin(), categories.end(), [](const Stats& c) { return c.pass; });
}

std::vector<Gap> AuditReport::gaps() const {
    std::vector<Gap> out;
    auto add = [&](const char* kind, const char* title, std::uint64_t count, std::vector<std::string> examples,
                   bool allowed) {
        if (count > 0) out.push_back({kind, title, count, std::move(examples), allowed});
    };
    add("ids_only_in_baseline", "ids only in baseline", idsOnlyInBaseline.size(), firstOf(idsOnlyInBaseline),
        allowed.missingIds);
    add("ids_only_in_new", "ids only in new", idsOnlyInNew.size(), firstOf(idsOnlyInNew), allowed.missingIds);
    add("columns_only_in_baseline", "columns only in baseline", columnsOnlyInBaseline.size(),
        firstOf(columnsOnlyInBaseline), allowed.missingColumns);
    add("columns_only_in_new", "columns only in new", columnsOnlyInNew.size(), firstOf(columnsOnlyInNew),
        allowed.missingColumns);
    for (const bool inBaseline : {true, false}) {
        std::vector<std::string> examples;
        for (const auto& m : missingValues)
            if (m.inBaseline == inBaseline) examples.push_back(m.id + " / " + m.column);
        add(inBaseline ? "values_missing_in_baseline" : "values_missing_in_new",
            inBaseline ? "values missing in baseline only" : "values missing in new only",
            inBaseline ? valuesMissingInBaseline : valuesMissingInNew, std::move(examples), allowed.missingValues);
    }
    std::vector<std::string> cells;
    for (const auto& c : badCells)
        if (cells.size() < kExamples) cells.push_back(describe(c));
    add("non_numeric_cells", "cells that are not numbers", badCellCount, std::move(cells), false);
    return out;
}

bool AuditReport::pass() const {
    if (!thresholdsPass()) return false;
    for (const auto& g : gaps())
        if (!g.allowed) return false;
    return true;
}

bool AuditReport::partial() const { return pass() && !gaps().empty(); }

std::string AuditReport::verdict() const { return pass() ? (partial() ? "PASS (partial)" : "PASS") : "FAIL"; }

nlohmann::json AuditReport::toJson() const {
    nlohmann::json j;
    j["verdict"] = verdict();
    j["pass"] = pass();
    j["partial"] = partial();
    j["thresholds_pass"] = thresholdsPass();
    j["thresholds"] = {{"max_mae", thresholds.maxMae}, {"min_corr", thresholds.minCorr}};
    j["allowed"] = {{"missing_ids", allowed.missingIds},
                    {"missing_columns", allowed.missingColumns},
                    {"missing_values", allowed.missingValues}};
    j["gaps"] = nlohmann::json::array();
    for (const auto& g : gaps())
        j["gaps"].push_back({{"kind", g.kind}, {"count", g.count}, {"examples", g.examples}, {"allowed", g.allowed}});
    j["id_column"] = idColumn;
    j["shared_ids"] = sharedIds;
    nlohmann::json o = statsJson(overall, false, false);
    o.erase("name");
    o["judged"] = overallJudged;
    j["overall"] = o;
    j["categories"] = nlohmann::json::array();
    for (const auto& c : categories) j["categories"].push_back(statsJson(c, true, false));
    j["columns"] = nlohmann::json::array();
    for (const auto& c : columns) j["columns"].push_back(statsJson(c, false, true));
    j["ids_only_in_baseline"] = idsOnlyInBaseline;
    j["ids_only_in_new"] = idsOnlyInNew;
    j["columns_only_in_baseline"] = columnsOnlyInBaseline;
    j["columns_only_in_new"] = columnsOnlyInNew;
    j["values_missing"] = {{"baseline", valuesMissingInBaseline}, {"new", valuesMissingInNew}};
    j["missing_values"] = nlohmann::json::array();
    for (const auto& m : missingValues)
        j["missing_values"].push_back(
            {{"id", m.id}, {"column", m.column}, {"missing_in", m.inBaseline ? "baseline" : "new"}});
    j["non_numeric_cell_count"] = badCellCount;
    j["non_numeric_cells"] = nlohmann::json::array();
    for (const auto& c : badCells)
        j["non_numeric_cells"].push_back({{"file", c.file}, {"line", c.line}, {"column", c.column}, {"text", c.text}});
    j["text_columns"] = textColumns;
    j["baseline"] = {{"path", baseline.path}, {"sha256", baseline.sha256}};
    j["new"] = {{"path", newer.path}, {"sha256", newer.sha256}};
    return j;
}

namespace {

void markdownGaps(std::ostream& md, const AuditReport& r) {
    const auto gaps = r.gaps();
    md << "\n## Gaps\n\n";
    if (gaps.empty()) md << "None: every id, column and value is on both sides.\n";
    for (const auto& g : gaps) {
        md << "- " << (g.allowed ? "allowed" : "**FAIL**") << ": " << g.count << " " << g.title;
        for (std::size_t i = 0; i < g.examples.size(); ++i) md << (i ? ", " : ": ") << "`" << g.examples[i] << "`";
        if (g.count > g.examples.size()) md << ", … (" << g.count - g.examples.size() << " more, see the JSON report)";
        md << "\n";
    }
    std::vector<std::string> allowed;
    if (r.allowed.missingIds) allowed.push_back("missing ids");
    if (r.allowed.missingColumns) allowed.push_back("missing columns");
    if (r.allowed.missingValues) allowed.push_back("missing values");
    md << "- Allowed: ";
    for (std::size_t i = 0; i < allowed.size(); ++i) md << (i ? ", " : "") << allowed[i];
    md << (allowed.empty() ? "nothing (a complete audit)" : "") << "\n";
    if (!r.textColumns.empty()) {
        md << "- Text columns, not compared:";
        for (const auto& c : r.textColumns) md << " `" << c << "`";
        md << "\n";
    }
}

}  // namespace

std::string AuditReport::toMarkdown() const {
    std::ostringstream md;
    auto row = [&](const Stats& s, const std::string& label, bool bold) {
        const std::string b = bold ? "**" : "";
        const std::string corr = s.corr ? fmt(*s.corr) : "n/a";
        md << "| " << b << label << b << " | " << b << (s.n ? fmt(s.mae) : "n/a") << b << " | " << b << corr << b
           << " | " << b << (s.n ? fmt(s.maxDiff, 3) : "n/a") << b << " | " << b << (s.pass ? "PASS" : "FAIL") << b
           << " |\n";
    };
    md << "# Reproducibility audit: " << verdict() << "\n\n";
    md << "- Baseline: `" << baseline.path << "` (sha256 `" << baseline.sha256 << "`)\n";
    md << "- New: `" << newer.path << "` (sha256 `" << newer.sha256 << "`)\n";
    md << "- Joined on `" << idColumn << "`: " << sharedIds << " shared ids, " << columns.size() << " shared columns, "
       << overall.n << " value pairs\n";
    md << "- Thresholds: correlation ≥ " << thresholds.minCorr << ", MAE < " << thresholds.maxMae << "\n";
    for (const auto& c : categories)
        if (c.thresholds.maxMae != thresholds.maxMae || c.thresholds.minCorr != thresholds.minCorr)
            md << "  - " << c.name << ": correlation ≥ " << c.thresholds.minCorr << ", MAE < " << c.thresholds.maxMae
               << "\n";
    if (!overallJudged) md << "- OVERALL passes when every category passes (categories have their own thresholds)\n";
    md << "\n| Category | MAE | Correlation | Max Diff | Status |\n";
    md << "|----------|-----|-------------|----------|--------|\n";
    for (const auto& c : categories) row(c, c.name + " (" + std::to_string(c.columns.size()) + " col)", false);
    row(overall, "OVERALL", true);
    md << "\nLargest difference: " << (overall.n ? fmt(overall.maxDiff) : "n/a") << " at id `" << overall.maxDiffId
       << "`, column `" << overall.maxDiffColumn << "`.\n";
    markdownGaps(md, *this);
    return md.str();
}

void writeReport(const AuditReport& report, const std::filesystem::path& jsonPath,
                 const std::filesystem::path& markdownPath) {
    for (const auto& out : {jsonPath, markdownPath}) {
        if (out.empty()) continue;
        for (const auto& input : {report.baseline.path, report.newer.path})
            if (util::samePath(out, input))
                throw std::runtime_error("refusing to write the report to " + out.string() +
                                         ": it is the input table " + input);
    }
    if (!jsonPath.empty()) util::writeFileAtomically(jsonPath, report.toJson().dump(2) + "\n");
    if (!markdownPath.empty()) util::writeFileAtomically(markdownPath, report.toMarkdown());
}

std::int64_t recordAudit(runs::RunStore& store, const AuditReport& report, const std::string& stage,
                         const std::vector<std::string>& reportFiles) {
    std::ostringstream config;
    config << "task: audit\nbaseline: \"" << report.baseline.path << "\"\nnew: \"" << report.newer.path
           << "\"\nid_column: \"" << report.idColumn << "\"\nmax_mae: " << report.thresholds.maxMae
           << "\nmin_corr: " << report.thresholds.minCorr << "\nallow_missing_ids: " << report.allowed.missingIds
           << "\nallow_missing_columns: " << report.allowed.missingColumns
           << "\nallow_missing_values: " << report.allowed.missingValues << "\n";
    const std::string hash = util::sha256Hex(config.str() + report.baseline.sha256 + report.newer.sha256);
    const auto run = store.createRun("audit", stage, config.str(), hash, "");
    store.setParams(run, {{"stage", stage},
                          {"baseline", report.baseline.path},
                          {"baseline_sha256", report.baseline.sha256},
                          {"new", report.newer.path},
                          {"new_sha256", report.newer.sha256}});
    std::vector<runs::MetricPoint> points = {{"overall.mae", 0, report.overall.mae},
                                             {"overall.n", 0, double(report.overall.n)},
                                             {"overall.max_diff", 0, report.overall.maxDiff},
                                             {"overall.pass", 0, report.pass() ? 1.0 : 0.0},
                                             {"overall.partial", 0, report.partial() ? 1.0 : 0.0},
                                             {"shared_ids", 0, double(report.sharedIds)}};
    if (report.overall.corr) points.push_back({"overall.corr", 0, *report.overall.corr});
    for (const auto& c : report.categories) {
        points.push_back({"category." + c.name + ".mae", 0, c.mae});
        if (c.corr) points.push_back({"category." + c.name + ".corr", 0, *c.corr});
    }
    store.logMetrics(run, points);
    for (const auto& f : reportFiles) store.addArtifact(run, "report", f);
    store.setStatus(run, runs::RunStatus::Finished,
                    report.verdict() + ": MAE " + fmt(report.overall.mae) + ", r " +
                        (report.overall.corr ? fmt(*report.overall.corr) : "n/a") + ", n " +
                        std::to_string(report.overall.n));
    return run;
}

std::vector<HistoryRow> auditHistory(const runs::RunStore& store) {
    std::vector<HistoryRow> rows;
    for (const auto& run : store.runs()) {
        if (run.task != "audit" || run.status != runs::RunStatus::Finished) continue;
        HistoryRow h;
        h.run = run.id;
        h.stage = run.name;
        h.createdAtMs = run.createdAtMs;
        for (const auto& m : store.metrics(run.id)) {
            if (m.key == "overall.mae") h.mae = m.value;
            else if (m.key == "overall.corr") h.corr = m.value;
            else if (m.key == "overall.n") h.n = std::uint64_t(m.value);
            else if (m.key == "overall.pass") h.pass = m.value > 0.5;
            else if (m.key == "overall.partial") h.partial = m.value > 0.5;
        }
        rows.push_back(h);
    }
    std::reverse(rows.begin(), rows.end());
    return rows;
}

}  // namespace lumen::audit
