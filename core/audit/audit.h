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

namespace lumen::jobs { class JobContext; }
namespace lumen::runs { class RunStore; }

namespace lumen::audit {

struct Thresholds {
    double maxMae = 0.1;     ///< PASS needs MAE < maxMae
    double minCorr = 0.999;  ///< PASS needs r >= minCorr
};

/// Columns whose name matches `pattern` (ECMAScript regex, searched anywhere in the name)
/// are pooled into the category `name`.
struct CategorySpec {
    std::string name;
    std::string pattern;
};

/// Reads `categories: [{name, pattern}, …]`; errors name the file, the entry and the key.
std::vector<CategorySpec> loadCategories(const std::filesystem::path& file);

/// Statistics over the (id, column) pairs present and non-missing on both sides.
struct Stats {
    std::string name;
    std::vector<std::string> columns;
    std::uint64_t n = 0;
    double mae = 0;
    std::optional<double> corr;   ///< absent when either side has no variance
    std::string corrNote;         ///< why corr is absent
    double maxDiff = 0;           ///< max |new − baseline|
    std::string maxDiffId;
    std::string maxDiffColumn;
    double meanBaseline = 0;
    double meanNew = 0;
    std::uint64_t missingBaseline = 0;  ///< joined rows missing on the baseline side only
    std::uint64_t missingNew = 0;       ///< … on the new side only (both missing: in neither)
    bool pass = false;
};

struct FileFingerprint {
    std::string path;
    std::string sha256;
};

struct AuditReport {
    Thresholds thresholds;
    std::string idColumn;
    std::uint64_t sharedIds = 0;
    Stats overall;
    std::vector<Stats> categories;
    std::vector<Stats> columns;
    std::vector<std::string> idsOnlyInBaseline;
    std::vector<std::string> idsOnlyInNew;
    std::vector<std::string> columnsOnlyInBaseline;
    std::vector<std::string> columnsOnlyInNew;
    FileFingerprint baseline;
    FileFingerprint newer;

    bool pass() const;
    nlohmann::json toJson() const;
    std::string toMarkdown() const;
};

struct AuditOptions {
    std::string idColumn;                  ///< empty: the baseline's first column
    std::vector<CategorySpec> categories;  ///< empty: each shared column is its own category
    Thresholds thresholds;
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

/// Compares two tables already read. Throws std::runtime_error when they share no column.
AuditResult compareTables(std::shared_ptr<const data::NumericTable> baseline,
                          std::shared_ptr<const data::NumericTable> newer,
                          const AuditOptions& options);

/// Reads both files (concurrently, read-only) and compares them; fingerprints both.
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
    std::int64_t createdAtMs = 0;
};
std::vector<HistoryRow> auditHistory(const runs::RunStore& store);  ///< oldest first

}  // namespace lumen::audit
