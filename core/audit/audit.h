#pragma once
// The reproducibility audit: a baseline predictions table against a new one, joined on the
// id column, with per-column, per-category and overall statistics (n, MAE, Pearson r,
// max |diff| and where it occurs, means) and PASS/FAIL against thresholds.

#include "data/numeric_table.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}
namespace lumen::runs {
class RunStore;
}

namespace lumen::audit {

struct Thresholds {
    double maxMae = 0.1;     ///< PASS needs MAE < maxMae
    double minCorr = 0.999;  ///< PASS needs r >= minCorr
};

/// Columns whose name matches `pattern` (ECMAScript regex, searched anywhere in the name)
/// are pooled into the category `name`, judged by its own thresholds where it has them.
struct CategorySpec {
    std::string name;
    std::string pattern;
    std::optional<double> maxMae;   ///< overrides the global max MAE for this category
    std::optional<double> minCorr;  ///< overrides the global min r for this category
};

/// Reads `categories: [{name, pattern, max_mae?, min_corr?}, …]`; errors name the file, the
/// entry and the key.
std::vector<CategorySpec> loadCategories(const std::filesystem::path& file);

/// Statistics over the (id, column) pairs present and non-missing on both sides. Equal
/// values differ by 0 (equal infinities too); an infinity against anything else differs by
/// inf. The means and r are over the pairs finite on both sides.
struct Stats {
    std::string name;
    std::vector<std::string> columns;
    std::uint64_t n = 0;          ///< value pairs compared
    std::uint64_t nonFinite = 0;  ///< of which with an infinity on either side
    double mae = 0;
    std::optional<double> corr;  ///< absent when either side has no variance
    std::string corrNote;        ///< why corr is absent
    double maxDiff = 0;          ///< max |new − baseline|
    std::string maxDiffId;
    std::string maxDiffColumn;
    double meanBaseline = 0;  ///< NaN when no pair is finite
    double meanNew = 0;
    std::uint64_t missingBaseline = 0;  ///< joined rows missing on the baseline side only
    std::uint64_t missingNew = 0;       ///< … on the new side only (both missing: in neither)
    Thresholds thresholds;              ///< what it was judged by
    bool pass = false;
};

/// What a partial audit may lack and still pass; whatever is allowed is still reported.
struct Allowances {
    bool missingIds = false;      ///< ids in one table only
    bool missingColumns = false;  ///< numeric columns in one table only
    bool missingValues = false;   ///< values missing on one side of a shared id and column
};

/// A value present on one side only.
struct MissingValue {
    std::string id;
    std::string column;
    bool inBaseline = false;  ///< missing in the baseline (else in the new table)
};

/// A cell that is not a number in a numeric column (or a column numeric in the other table).
struct BadCell {
    std::string file;
    long long line = 0;
    std::string column;
    std::string text;
};

/// "FILE:LINE: column "C": "TEXT" is not a number".
std::string describe(const BadCell& cell);

/// One kind of gap between the tables: how many, a few examples, and whether it was allowed.
struct Gap {
    std::string kind;   ///< ids_only_in_baseline, …, values_missing_in_new, non_numeric_cells
    std::string title;  ///< e.g. "ids only in baseline"
    std::uint64_t count = 0;
    std::vector<std::string> examples;
    bool allowed = false;
};

struct FileFingerprint {
    std::string path;
    std::string sha256;
};

struct AuditReport {
    static constexpr std::size_t kExamples = 10;  ///< examples kept per kind of gap

    Thresholds thresholds;
    Allowances allowed;
    std::string idColumn;
    std::uint64_t sharedIds = 0;
    Stats overall;
    /// False when categories have thresholds of their own: OVERALL then passes when every
    /// category does (its pooled figures mix what the categories judge separately).
    bool overallJudged = true;
    std::vector<Stats> categories;
    std::vector<Stats> columns;
    std::vector<std::string> idsOnlyInBaseline;
    std::vector<std::string> idsOnlyInNew;
    std::vector<std::string> columnsOnlyInBaseline;
    std::vector<std::string> columnsOnlyInNew;
    std::vector<MissingValue> missingValues;  ///< the first kExamples, column by column
    std::uint64_t valuesMissingInBaseline = 0;
    std::uint64_t valuesMissingInNew = 0;
    std::vector<BadCell> badCells;  ///< the first few of each column
    std::uint64_t badCellCount = 0;
    std::vector<std::string> textColumns;  ///< text in both tables: not compared
    FileFingerprint baseline;
    FileFingerprint newer;

    bool thresholdsPass() const;    ///< every category and OVERALL meet their thresholds
    std::vector<Gap> gaps() const;  ///< the gaps present (count > 0)
    bool pass() const;              ///< thresholds pass and every gap is allowed
    bool partial() const;           ///< passes with an allowed gap
    std::string verdict() const;    ///< "PASS", "PASS (partial)" or "FAIL"
    nlohmann::json toJson() const;
    std::string toMarkdown() const;
};

struct AuditOptions {
    std::string idColumn;                  ///< empty: the baseline's first column
    std::vector<CategorySpec> categories;  ///< empty: each shared column is its own category
    Thresholds thresholds;
    Allowances allow;
};

/// The audit's inputs kept for drill-down: both tables and the join.
struct AuditResult {
    AuditReport report;
    std::shared_ptr<const data::NumericTable> baseline;
    std::shared_ptr<const data::NumericTable> newer;
    /// (baseline row, new row) for every shared id, in baseline order.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> joinedRows;
    /// (baseline column, new column) for every shared numeric column, in baseline order.
    std::vector<std::pair<int, int>> sharedColumns;
};

/// Compares two tables already read (read with keepMixedColumns to have text cells named).
/// Throws std::runtime_error when they share no column.
AuditResult compareTables(std::shared_ptr<const data::NumericTable> baseline,
                          std::shared_ptr<const data::NumericTable> newer, const AuditOptions& options);

/// Reads both files (concurrently, read-only) and compares them; fingerprints both. The id
/// column is options.idColumn, else the baseline header's first column, found by name in new.
AuditResult runAudit(const std::filesystem::path& baseline, const std::filesystem::path& newer,
                     const AuditOptions& options, jobs::JobContext* job = nullptr);

/// Writes the report atomically (temporary file, then rename). Refuses, with an error naming
/// both, any output path that is or resolves to the baseline or the new file.
void writeReport(const AuditReport& report, const std::filesystem::path& jsonPath,
                 const std::filesystem::path& markdownPath);

/// Records an audit as a run (task "audit", name = stage) with its numbers as metrics and
/// the report files as artifacts. Returns the run id.
std::int64_t recordAudit(runs::RunStore& store, const AuditReport& report, const std::string& stage,
                         const std::vector<std::string>& reportFiles = {});

/// One row of the progress history: the audits of a workspace over time.
struct HistoryRow {
    std::int64_t run = 0;
    std::string stage;
    double mae = 0;
    std::optional<double> corr;
    std::uint64_t n = 0;
    bool pass = false;
    bool partial = false;  ///< passed with allowed gaps
    std::int64_t createdAtMs = 0;
};
std::vector<HistoryRow> auditHistory(const runs::RunStore& store);  ///< oldest first

}  // namespace lumen::audit
