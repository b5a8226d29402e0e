#include "audit/audit.h"

#include "jobs/job.h"
#include "util/huge_pages.h"
#include "util/parallel.h"
#include "util/sha256.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <limits>
#include <future>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace lumen::audit {
namespace {

// Moments of paired values, mergeable (Chan et al.'s pairwise update), so that blocks,
// columns, categories and the overall figure pool exactly. `pairs` counts every compared
// pair (MAE, max diff); `n` and the moments only the pairs finite on both sides.
struct Moments {
    double pairs = 0, sumAbs = 0;
    double n = 0, meanX = 0, meanY = 0, m2x = 0, m2y = 0, cxy = 0;
    double maxAbs = -1;
    std::uint32_t maxRow = 0;  // baseline row of maxAbs
    int maxColumn = -1;        // baseline column of maxAbs

    void merge(const Moments& o) {
        if (o.pairs == 0) return;
        pairs += o.pairs;
        sumAbs += o.sumAbs;
        if (o.maxAbs > maxAbs) {
            maxAbs = o.maxAbs;
            maxRow = o.maxRow;
            maxColumn = o.maxColumn;
        }
        if (o.n == 0) return;
        if (n == 0) {
            n = o.n;
            meanX = o.meanX, meanY = o.meanY, m2x = o.m2x, m2y = o.m2y, cxy = o.cxy;
            return;
        }
        const double total = n + o.n;
        const double dx = o.meanX - meanX, dy = o.meanY - meanY;
        m2x += o.m2x + dx * dx * n * o.n / total;
        m2y += o.m2y + dy * dy * n * o.n / total;
        cxy += o.cxy + dx * dy * n * o.n / total;
        meanX += dx * o.n / total;
        meanY += dy * o.n / total;
        n = total;
    }
};

std::string corrNoteFor(const Moments& m) {
    if (m.pairs == 0) return "undefined: no value present on both sides";
    if (m.n == 0) return "undefined: no pair finite on both sides";
    if (m.m2x > 0 && m.m2y > 0) return "";
    return "undefined: constant values on the " +
           std::string(m.m2x > 0   ? "new"
                       : m.m2y > 0 ? "baseline"
                                   : "both") +
           " side" + (m.m2x > 0 || m.m2y > 0 ? "" : "s");
}

Stats toStats(const std::string& name, const std::vector<std::string>& columns, const Moments& m,
              const data::NumericTable& baseline, const Thresholds& t) {
    Stats s;
    s.name = name;
    s.columns = columns;
    s.thresholds = t;
    s.n = std::uint64_t(m.pairs);
    s.nonFinite = std::uint64_t(m.pairs - m.n);
    if (m.pairs > 0) {
        s.mae = m.sumAbs / m.pairs;
        s.maxDiff = m.maxAbs;
        s.maxDiffId = baseline.ids[m.maxRow];
        s.maxDiffColumn = baseline.columns[std::size_t(m.maxColumn)];
        const double nan = std::numeric_limits<double>::quiet_NaN();
        s.meanBaseline = m.n > 0 ? m.meanX : nan;
        s.meanNew = m.n > 0 ? m.meanY : nan;
    }
    s.corrNote = corrNoteFor(m);
    if (s.corrNote.empty()) s.corr = std::clamp(m.cxy / std::sqrt(m.m2x * m.m2y), -1.0, 1.0);
    if (s.corr && s.nonFinite > 0)
        s.corrNote = "over the " + std::to_string(std::uint64_t(m.n)) + " pairs finite on both sides";
    // Identical constant columns reproduce the baseline even though r is undefined.
    const bool corrOk = s.corr ? *s.corr >= t.minCorr : s.n > 0 && s.maxDiff == 0;
    s.pass = s.n > 0 && s.mae < t.maxMae && corrOk;
    return s;
}

// What one column's pass over the joined rows found.
struct ColumnTally {
    Moments moments;
    std::uint64_t missingBaseline = 0, missingNew = 0;
    std::vector<MissingValue> examples;  // the first kExamples
};

// Blocks of pairs are gathered into small local arrays (prefetching the new table's rows,
// which come in the baseline's order), then summarised exactly in two passes and merged:
// as stable as Welford's update without a division per value.
ColumnTally tallyColumn(const AuditResult& result, std::size_t k) {
    constexpr std::size_t kBlock = 2048;
    ColumnTally tally;
    const auto [cb, cn] = result.sharedColumns[k];
    const double* xb = result.baseline->values[std::size_t(cb)].data();
    const double* yn = result.newer->values[std::size_t(cn)].data();
    const auto& rows = result.joinedRows;
    std::vector<double> xs(kBlock), ys(kBlock);
    for (std::size_t start = 0; start < rows.size(); start += kBlock) {
        const std::size_t stop = std::min(rows.size(), start + kBlock);
        Moments block;
        std::size_t count = 0;
        double sumX = 0, sumY = 0;
        for (std::size_t i = start; i < stop; ++i) {
            if (i + 16 < stop) __builtin_prefetch(yn + rows[i + 16].second);
            const auto [rb, rn] = rows[i];
            const double x = xb[rb], y = yn[rn];
            const bool nx = std::isnan(x), ny = std::isnan(y);
            if (nx || ny) {
                if (nx && ny) continue;  // missing on both sides: reproduced
                (nx ? tally.missingBaseline : tally.missingNew) += 1;
                if (tally.examples.size() < AuditReport::kExamples)
                    tally.examples.push_back({result.baseline->ids[rb], result.baseline->columns[std::size_t(cb)], nx});
                continue;
            }
            const double d = x == y ? 0.0 : std::abs(y - x);  // equal infinities differ by 0
            block.pairs += 1;
            block.sumAbs += d;
            if (d > block.maxAbs) {
                block.maxAbs = d;
                block.maxRow = rb;
                block.maxColumn = cb;
            }
            if (!std::isfinite(x) || !std::isfinite(y)) continue;
            xs[count] = x;
            ys[count] = y;
            ++count;
            sumX += x;
            sumY += y;
        }
        if (count > 0) {
            block.n = double(count);
            block.meanX = sumX / block.n;
            block.meanY = sumY / block.n;
            for (std::size_t i = 0; i < count; ++i) {
                const double dx = xs[i] - block.meanX, dy = ys[i] - block.meanY;
                block.m2x += dx * dx;
                block.m2y += dy * dy;
                block.cxy += dx * dy;
            }
        }
        tally.moments.merge(block);
    }
    return tally;
}

// Joins on the id, in baseline order, and lists the ids of one side only.
void joinIds(AuditResult& result) {
    const data::NumericTable& baseline = *result.baseline;
    const data::NumericTable& newer = *result.newer;
    AuditReport& report = result.report;
    const std::size_t baselineRows = baseline.ids.size();
    std::vector<std::int64_t> match;
    match.reserve(baselineRows);
    util::adviseHugePages(match.data(), baselineRows * sizeof(std::int64_t));
    match.assign(baselineRows, -1);
    const std::size_t workers = util::resolveThreads(0);
    const std::size_t step = (baselineRows + workers - 1) / workers;
    util::parallelFor(step ? (baselineRows + step - 1) / step : 0, 0, [&](std::size_t part) {
        const std::size_t end = std::min(baselineRows, (part + 1) * step);
        for (std::size_t r = part * step; r < end; ++r)
            if (const auto other = newer.findRow(baseline.ids[r])) match[r] = *other;
    });
    std::vector<char> matched(newer.ids.size(), 0);
    result.joinedRows.reserve(std::min(baselineRows, newer.ids.size()));
    util::adviseHugePages(result.joinedRows.data(), result.joinedRows.capacity() * sizeof(result.joinedRows[0]));
    for (std::uint32_t r = 0; r < baselineRows; ++r) {
        if (match[r] < 0) {
            report.idsOnlyInBaseline.push_back(baseline.ids[r]);
            continue;
        }
        result.joinedRows.emplace_back(r, std::uint32_t(match[r]));
        matched[std::size_t(match[r])] = 1;
    }
    for (std::uint32_t r = 0; r < newer.ids.size(); ++r)
        if (!matched[r]) report.idsOnlyInNew.push_back(newer.ids[r]);
    report.sharedIds = result.joinedRows.size();
}

// The text cells of `table` as bad cells; a column text here but numeric in `other` is one.
void addBadCells(const data::NumericTable& table, const data::NumericTable& other, AuditReport& report) {
    for (const auto& c : table.textCells) report.badCells.push_back({table.path.string(), c.line, c.column, c.text});
    report.badCellCount += table.textCellCount;
    for (const auto& c : table.textColumnCells) {
        if (other.columnIndex(c.column) < 0) continue;
        report.badCells.push_back({table.path.string(), c.line, c.column, c.text});
        ++report.badCellCount;
    }
}

// Pairs the numeric columns by name; a column only numeric on one side is a bad cell of the
// other, not a missing column; a column text on both sides is listed as not compared.
void matchColumns(AuditResult& result) {
    const data::NumericTable& baseline = *result.baseline;
    const data::NumericTable& newer = *result.newer;
    AuditReport& report = result.report;
    auto isText = [](const data::NumericTable& t, const std::string& name) {
        return std::any_of(t.textColumnCells.begin(), t.textColumnCells.end(),
                           [&](const data::TextCell& c) { return c.column == name; });
    };
    for (std::size_t c = 0; c < baseline.columns.size(); ++c) {
        const int other = newer.columnIndex(baseline.columns[c]);
        if (other >= 0) result.sharedColumns.emplace_back(int(c), other);
        else if (!isText(newer, baseline.columns[c])) report.columnsOnlyInBaseline.push_back(baseline.columns[c]);
    }
    for (const auto& name : newer.columns)
        if (baseline.columnIndex(name) < 0 && !isText(baseline, name)) report.columnsOnlyInNew.push_back(name);
    for (const auto& c : baseline.textColumnCells)
        if (isText(newer, c.column)) report.textColumns.push_back(c.column);
    addBadCells(baseline, newer, report);
    addBadCells(newer, baseline, report);
    if (result.sharedColumns.empty())
        throw std::runtime_error(report.baseline.path + " and " + report.newer.path +
                                 " share no numeric column besides the id \"" + report.idColumn + "\"");
}

Thresholds thresholdsOf(const CategorySpec& spec, const Thresholds& global) {
    return {spec.maxMae.value_or(global.maxMae), spec.minCorr.value_or(global.minCorr)};
}

// Categories pool their columns; without a categories file each column is one.
void poolCategories(AuditResult& result, const std::vector<Moments>& moments, const std::vector<std::string>& names,
                    const AuditOptions& options) {
    AuditReport& report = result.report;
    if (options.categories.empty()) {
        for (const auto& c : report.columns) {
            Stats s = c;
            s.columns = {c.name};
            report.categories.push_back(std::move(s));
        }
        return;
    }
    for (const auto& spec : options.categories) {
        const std::regex re(spec.pattern);
        Moments pooled;
        std::vector<std::string> members;
        for (std::size_t k = 0; k < names.size(); ++k) {
            if (!std::regex_search(names[k], re)) continue;
            pooled.merge(moments[k]);
            members.push_back(names[k]);
        }
        Stats s = toStats(spec.name, members, pooled, *result.baseline, thresholdsOf(spec, options.thresholds));
        if (members.empty()) s.corrNote = "no shared column matches \"" + spec.pattern + "\"";
        report.categories.push_back(std::move(s));
        if (spec.maxMae || spec.minCorr) report.overallJudged = false;
    }
}

std::optional<double> optionalNumber(const YAML::Node& item, const char* key, const std::string& where) {
    const YAML::Node v = item[key];
    if (!v) return std::nullopt;
    try {
        return v.as<double>();
    } catch (const YAML::Exception&) {
        throw std::runtime_error(where + "." + key + ": expected a number, found \"" +
                                 (v.IsScalar() ? v.Scalar() : std::string("a list or map")) + "\"");
    }
}

}  // namespace

std::vector<CategorySpec> loadCategories(const std::filesystem::path& file) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(file.string());
    } catch (const YAML::BadFile&) {
        throw std::runtime_error(file.string() + ": cannot open the categories file");
    } catch (const YAML::ParserException& e) {
        throw std::runtime_error(file.string() + ":" + std::to_string(e.mark.line + 1) +
                                 ": YAML syntax error: " + e.msg);
    }
    const YAML::Node list = root["categories"];
    if (!list || !list.IsSequence())
        throw std::runtime_error(file.string() + ": categories: expected a list of {name, pattern}");
    std::vector<CategorySpec> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node item = list[i];
        const std::string where =
            file.string() + ":" + std::to_string(item.Mark().line + 1) + ": categories[" + std::to_string(i) + "]";
        if (!item.IsMap() || !item["name"] || !item["pattern"] || !item["name"].IsScalar() ||
            !item["pattern"].IsScalar())
            throw std::runtime_error(where + ": expected {name: TEXT, pattern: REGEX}");
        CategorySpec spec{item["name"].Scalar(), item["pattern"].Scalar(), optionalNumber(item, "max_mae", where),
                          optionalNumber(item, "min_corr", where)};
        try {
            std::regex check(spec.pattern);
        } catch (const std::regex_error& e) {
            throw std::runtime_error(where + ".pattern: not a valid regular expression \"" + spec.pattern +
                                     "\": " + e.what());
        }
        out.push_back(std::move(spec));
    }
    return out;
}

AuditResult compareTables(std::shared_ptr<const data::NumericTable> baseline,
                          std::shared_ptr<const data::NumericTable> newer, const AuditOptions& options) {
    AuditResult result;
    AuditReport& report = result.report;
    report.thresholds = options.thresholds;
    report.allowed = options.allow;
    report.idColumn = baseline->idName;
    report.baseline.path = baseline->path.string();
    report.newer.path = newer->path.string();
    result.baseline = std::move(baseline);
    result.newer = std::move(newer);
    joinIds(result);
    matchColumns(result);

    const std::size_t columnCount = result.sharedColumns.size();
    std::vector<ColumnTally> tallies(columnCount);
    util::parallelFor(columnCount, 0, [&](std::size_t k) { tallies[k] = tallyColumn(result, k); });

    std::vector<std::string> sharedNames;
    std::vector<Moments> moments;
    Moments all;
    for (std::size_t k = 0; k < columnCount; ++k) {
        const ColumnTally& t = tallies[k];
        sharedNames.push_back(result.baseline->columns[std::size_t(result.sharedColumns[k].first)]);
        Stats s = toStats(sharedNames.back(), {}, t.moments, *result.baseline, options.thresholds);
        s.missingBaseline = t.missingBaseline;
        s.missingNew = t.missingNew;
        report.valuesMissingInBaseline += t.missingBaseline;
        report.valuesMissingInNew += t.missingNew;
        for (const auto& e : t.examples)
            if (report.missingValues.size() < AuditReport::kExamples) report.missingValues.push_back(e);
        report.columns.push_back(std::move(s));
        moments.push_back(t.moments);
        all.merge(t.moments);
    }
    poolCategories(result, moments, sharedNames, options);
    report.overall = toStats("overall", sharedNames, all, *result.baseline, options.thresholds);
    if (!report.overallJudged)
        report.overall.pass =
            std::all_of(report.categories.begin(), report.categories.end(), [](const Stats& c) { return c.pass; });
    return result;
}

AuditResult runAudit(const std::filesystem::path& baselinePath, const std::filesystem::path& newPath,
                     const AuditOptions& options, jobs::JobContext* job) {
    if (job) job->progress(0.0, "reading both tables");
    // The id column is known before either table is read (by default the baseline header's
    // first column, looked up by name in the new file); a baseline error is reported first.
    const std::string idColumn = options.idColumn.empty() ? data::readCsvHeader(baselinePath).at(0) : options.idColumn;
    // Both files are read at once (one thread each) and hashed while they are read.
    util::Sha256 baselineHash, newHash;
    data::CsvReadOptions readB;
    readB.idColumn = idColumn;
    readB.keepMixedColumns = true;
    data::CsvReadOptions readN = readB;
    readB.onBytes = [&](const char* d, std::size_t n) { baselineHash.update(d, n); };
    readN.onBytes = [&](const char* d, std::size_t n) { newHash.update(d, n); };
    auto baselineFuture = std::async(std::launch::async, [&] {
        return std::make_shared<data::NumericTable>(data::readNumericCsv(baselinePath, readB, nullptr));
    });
    std::shared_ptr<data::NumericTable> newer;
    std::exception_ptr newError;
    try {
        newer = std::make_shared<data::NumericTable>(data::readNumericCsv(newPath, readN, job));
    } catch (...) {
        newError = std::current_exception();
    }
    auto baseline = baselineFuture.get();  // a baseline error is reported first
    if (newError) std::rethrow_exception(newError);
    if (job) {
        job->throwIfCancelled();
        job->progress(0.9, "comparing");
    }
    AuditResult result = compareTables(baseline, newer, options);
    result.report.baseline.sha256 = baselineHash.hexDigest();
    result.report.newer.sha256 = newHash.hexDigest();
    if (job) job->progress(1.0, result.report.verdict());
    return result;
}

}  // namespace lumen::audit
