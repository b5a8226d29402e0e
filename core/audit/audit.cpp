#include "audit/audit.h"

#include "jobs/job.h"
#include "runs/run_store.h"
#include "util/atomic_file.h"
#include "util/huge_pages.h"
#include "util/sha256.h"

#include <yaml-cpp/yaml.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <cstdio>
#include <future>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace lumen::audit {
namespace {

// Moments of paired values, mergeable (Chan et al.'s pairwise update), so that blocks,
// columns, categories and the overall figure pool exactly.
struct Moments {
    double n = 0, meanX = 0, meanY = 0, m2x = 0, m2y = 0, cxy = 0, sumAbs = 0;
    double maxAbs = -1;
    std::uint32_t maxRow = 0;  // baseline row of maxAbs
    int maxColumn = -1;        // baseline column of maxAbs

    void merge(const Moments& o) {
        if (o.n == 0) return;
        if (n == 0) {
            *this = o;
            return;
        }
        const double total = n + o.n;
        const double dx = o.meanX - meanX, dy = o.meanY - meanY;
        m2x += o.m2x + dx * dx * n * o.n / total;
        m2y += o.m2y + dy * dy * n * o.n / total;
        cxy += o.cxy + dx * dy * n * o.n / total;
        meanX += dx * o.n / total;
        meanY += dy * o.n / total;
        sumAbs += o.sumAbs;
        if (o.maxAbs > maxAbs) {
            maxAbs = o.maxAbs;
            maxRow = o.maxRow;
            maxColumn = o.maxColumn;
        }
        n = total;
    }
};

Stats toStats(const std::string& name, const std::vector<std::string>& columns, const Moments& m,
              const data::NumericTable& baseline, const Thresholds& t) {
    Stats s;
    s.name = name;
    s.columns = columns;
    s.n = std::uint64_t(m.n);
    if (m.n > 0) {
        s.mae = m.sumAbs / m.n;
        s.meanBaseline = m.meanX;
        s.meanNew = m.meanY;
        s.maxDiff = m.maxAbs;
        s.maxDiffId = baseline.ids[m.maxRow];
        s.maxDiffColumn = baseline.columns[std::size_t(m.maxColumn)];
        if (m.m2x > 0 && m.m2y > 0) {
            s.corr = std::clamp(m.cxy / std::sqrt(m.m2x * m.m2y), -1.0, 1.0);
        } else {
            s.corrNote = "undefined: constant values on the " +
                         std::string(m.m2x > 0 ? "new" : m.m2y > 0 ? "baseline" : "both") +
                         " side" + (m.m2x > 0 || m.m2y > 0 ? "" : "s");
        }
    } else {
        s.corrNote = "undefined: no value present on both sides";
    }
    // Identical constant columns reproduce the baseline even though r is undefined.
    const bool corrOk = s.corr ? *s.corr >= t.minCorr : s.n > 0 && s.maxDiff == 0;
    s.pass = s.n > 0 && s.mae < t.maxMae && corrOk;
    return s;
}

std::string fmt(double v, int decimals = 6) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

nlohmann::json statsJson(const Stats& s, bool withColumns, bool withMissing) {
    nlohmann::json j;
    j["name"] = s.name;
    if (withColumns) j["columns"] = s.columns;
    j["n"] = s.n;
    j["mae"] = s.n ? nlohmann::json(s.mae) : nlohmann::json(nullptr);
    j["corr"] = s.corr ? nlohmann::json(*s.corr) : nlohmann::json(nullptr);
    if (!s.corrNote.empty()) j["corr_note"] = s.corrNote;
    j["max_diff"] = s.n ? nlohmann::json(s.maxDiff) : nlohmann::json(nullptr);
    j["max_diff_id"] = s.maxDiffId;
    j["max_diff_column"] = s.maxDiffColumn;
    j["mean_baseline"] = s.n ? nlohmann::json(s.meanBaseline) : nlohmann::json(nullptr);
    j["mean_new"] = s.n ? nlohmann::json(s.meanNew) : nlohmann::json(nullptr);
    if (withMissing) {
        j["missing_baseline"] = s.missingBaseline;
        j["missing_new"] = s.missingNew;
    }
    j["pass"] = s.pass;
    return j;
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
        const std::string where = file.string() + ":" + std::to_string(item.Mark().line + 1) +
                                  ": categories[" + std::to_string(i) + "]";
        if (!item.IsMap() || !item["name"] || !item["pattern"] || !item["name"].IsScalar() ||
            !item["pattern"].IsScalar())
            throw std::runtime_error(where + ": expected {name: TEXT, pattern: REGEX}");
        CategorySpec spec{item["name"].Scalar(), item["pattern"].Scalar()};
        try {
            std::regex check(spec.pattern);
        } catch (const std::regex_error& e) {
            throw std::runtime_error(where + ".pattern: not a valid regular expression \"" +
                                     spec.pattern + "\": " + e.what());
        }
        out.push_back(std::move(spec));
    }
    return out;
}

bool AuditReport::pass() const {
    if (!overall.pass) return false;
    for (const auto& c : categories)
        if (!c.pass) return false;
    return true;
}

nlohmann::json AuditReport::toJson() const {
    nlohmann::json j;
    j["thresholds"] = {{"max_mae", thresholds.maxMae}, {"min_corr", thresholds.minCorr}};
    j["id_column"] = idColumn;
    j["shared_ids"] = sharedIds;
    j["pass"] = pass();
    nlohmann::json o = statsJson(overall, false, false);
    o.erase("name");
    j["overall"] = o;
    j["categories"] = nlohmann::json::array();
    for (const auto& c : categories) j["categories"].push_back(statsJson(c, true, false));
    j["columns"] = nlohmann::json::array();
    for (const auto& c : columns) j["columns"].push_back(statsJson(c, false, true));
    j["ids_only_in_baseline"] = idsOnlyInBaseline;
    j["ids_only_in_new"] = idsOnlyInNew;
    j["columns_only_in_baseline"] = columnsOnlyInBaseline;
    j["columns_only_in_new"] = columnsOnlyInNew;
    j["baseline"] = {{"path", baseline.path}, {"sha256", baseline.sha256}};
    j["new"] = {{"path", newer.path}, {"sha256", newer.sha256}};
    return j;
}

std::string AuditReport::toMarkdown() const {
    std::ostringstream md;
    auto row = [&](const Stats& s, const std::string& label, bool bold) {
        const std::string b = bold ? "**" : "";
        const std::string corr = s.corr ? fmt(*s.corr) : "n/a";
        md << "| " << b << label << b << " | " << b << (s.n ? fmt(s.mae) : "n/a") << b << " | " << b
           << corr << b << " | " << b << (s.n ? fmt(s.maxDiff, 3) : "n/a") << b << " | " << b
           << (s.pass ? "PASS" : "FAIL") << b << " |\n";
    };
    md << "# Reproducibility audit: " << (pass() ? "PASS" : "FAIL") << "\n\n";
    md << "- Baseline: `" << baseline.path << "` (sha256 `" << baseline.sha256 << "`)\n";
    md << "- New: `" << newer.path << "` (sha256 `" << newer.sha256 << "`)\n";
    md << "- Joined on `" << idColumn << "`: " << sharedIds << " shared ids, " << columns.size()
       << " shared columns, " << overall.n << " value pairs\n";
    md << "- Thresholds: correlation ≥ " << thresholds.minCorr << ", MAE < " << thresholds.maxMae
       << "\n\n";
    md << "| Category | MAE | Correlation | Max Diff | Status |\n";
    md << "|----------|-----|-------------|----------|--------|\n";
    for (const auto& c : categories)
        row(c, c.name + " (" + std::to_string(c.columns.size()) + " col)", false);
    row(overall, "OVERALL", true);
    md << "\nLargest difference: " << (overall.n ? fmt(overall.maxDiff) : "n/a") << " at id `"
       << overall.maxDiffId << "`, column `" << overall.maxDiffColumn << "`.\n";
    auto list = [&](const char* title, const std::vector<std::string>& items) {
        md << "- " << title << " (" << items.size() << ")";
        if (!items.empty()) {
            md << ": ";
            for (std::size_t i = 0; i < items.size() && i < 20; ++i)
                md << (i ? ", " : "") << "`" << items[i] << "`";
            if (items.size() > 20) md << ", … (" << items.size() - 20 << " more, see the JSON report)";
        }
        md << "\n";
    };
    md << "\n## Missing\n\n";
    list("ids only in baseline", idsOnlyInBaseline);
    list("ids only in new", idsOnlyInNew);
    list("columns only in baseline", columnsOnlyInBaseline);
    list("columns only in new", columnsOnlyInNew);
    std::uint64_t missingB = 0, missingN = 0;
    for (const auto& c : columns) {
        missingB += c.missingBaseline;
        missingN += c.missingNew;
    }
    md << "- values missing on one side only: " << missingB << " in baseline, " << missingN
       << " in new\n";
    return md.str();
}

AuditResult compareTables(std::shared_ptr<const data::NumericTable> baseline,
                          std::shared_ptr<const data::NumericTable> newer, const AuditOptions& options) {
    AuditResult result;
    AuditReport& report = result.report;
    report.thresholds = options.thresholds;
    report.idColumn = baseline->idName;
    report.baseline.path = baseline->path.string();
    report.newer.path = newer->path.string();

    // Join on the id, in baseline order; the look-ups are spread over the cores.
    const std::size_t baselineRows = baseline->ids.size();
    std::vector<std::int64_t> match;
    match.reserve(baselineRows);
    util::adviseHugePages(match.data(), baselineRows * sizeof(std::int64_t));
    match.assign(baselineRows, -1);
    {
        const std::size_t workers = std::max(1u, std::thread::hardware_concurrency());
        const std::size_t step = (baselineRows + workers - 1) / workers;
        std::vector<std::future<void>> parts;
        for (std::size_t begin = 0; begin < baselineRows; begin += step)
            parts.push_back(std::async(std::launch::async, [&, begin] {
                const std::size_t end = std::min(baselineRows, begin + step);
                for (std::size_t r = begin; r < end; ++r)
                    if (const auto other = newer->findRow(baseline->ids[r])) match[r] = *other;
            }));
        for (auto& p : parts) p.get();
    }
    std::vector<char> matched(newer->ids.size(), 0);
    result.joinedRows.reserve(std::min(baselineRows, newer->ids.size()));
    util::adviseHugePages(result.joinedRows.data(), result.joinedRows.capacity() * sizeof(result.joinedRows[0]));
    for (std::uint32_t r = 0; r < baselineRows; ++r) {
        if (match[r] < 0) {
            report.idsOnlyInBaseline.push_back(baseline->ids[r]);
            continue;
        }
        result.joinedRows.emplace_back(r, std::uint32_t(match[r]));
        matched[std::size_t(match[r])] = 1;
    }
    for (std::uint32_t r = 0; r < newer->ids.size(); ++r)
        if (!matched[r]) report.idsOnlyInNew.push_back(newer->ids[r]);
    report.sharedIds = result.joinedRows.size();

    for (std::size_t c = 0; c < baseline->columns.size(); ++c) {
        const int other = newer->columnIndex(baseline->columns[c]);
        if (other < 0) report.columnsOnlyInBaseline.push_back(baseline->columns[c]);
        else result.sharedColumns.emplace_back(int(c), other);
    }
    for (const auto& name : newer->columns)
        if (baseline->columnIndex(name) < 0) report.columnsOnlyInNew.push_back(name);
    if (result.sharedColumns.empty())
        throw std::runtime_error(report.baseline.path + " and " + report.newer.path +
                                 " share no numeric column besides the id \"" + report.idColumn + "\"");

    // Per-column moments, columns spread over the cores.
    const std::size_t columnCount = result.sharedColumns.size();
    std::vector<Moments> moments(columnCount);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> missing(columnCount);
    // Blocks of pairs are gathered into small local arrays (prefetching the new table's rows,
    // which come in the baseline's order), then summarised exactly in two passes and merged:
    // as stable as Welford's update without a division per value.
    auto accumulate = [&](std::size_t k) {
        constexpr std::size_t kBlock = 2048;
        const auto [cb, cn] = result.sharedColumns[k];
        const double* xb = baseline->values[std::size_t(cb)].data();
        const double* yn = newer->values[std::size_t(cn)].data();
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
                    missing[k].first += nx && !ny;
                    missing[k].second += ny && !nx;
                    continue;
                }
                const double d = std::abs(y - x);
                block.sumAbs += d;
                if (d > block.maxAbs) {
                    block.maxAbs = d;
                    block.maxRow = rb;
                    block.maxColumn = cb;
                }
                xs[count] = x;
                ys[count] = y;
                ++count;
                sumX += x;
                sumY += y;
            }
            if (count == 0) continue;
            block.n = double(count);
            block.meanX = sumX / block.n;
            block.meanY = sumY / block.n;
            for (std::size_t i = 0; i < count; ++i) {
                const double dx = xs[i] - block.meanX, dy = ys[i] - block.meanY;
                block.m2x += dx * dx;
                block.m2y += dy * dy;
                block.cxy += dx * dy;
            }
            moments[k].merge(block);
        }
    };
    const std::size_t workers =
        std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), columnCount);
    std::atomic<std::size_t> nextColumn{0};
    std::vector<std::future<void>> running;
    for (std::size_t w = 1; w < workers; ++w)
        running.push_back(std::async(std::launch::async, [&] {
            for (std::size_t k; (k = nextColumn++) < columnCount;) accumulate(k);
        }));
    for (std::size_t k; (k = nextColumn++) < columnCount;) accumulate(k);
    for (auto& f : running) f.get();

    std::vector<std::string> sharedNames;
    for (std::size_t k = 0; k < columnCount; ++k) {
        const int cb = result.sharedColumns[k].first;
        sharedNames.push_back(baseline->columns[std::size_t(cb)]);
        Stats s = toStats(sharedNames.back(), {sharedNames.back()}, moments[k], *baseline, options.thresholds);
        s.columns.clear();
        s.missingBaseline = missing[k].first;
        s.missingNew = missing[k].second;
        report.columns.push_back(std::move(s));
    }

    // Categories pool their columns; without a categories file each column is one.
    if (options.categories.empty()) {
        for (const auto& c : report.columns) {
            Stats s = c;
            s.columns = {c.name};
            report.categories.push_back(std::move(s));
        }
    } else {
        for (const auto& spec : options.categories) {
            const std::regex re(spec.pattern);
            Moments pooled;
            std::vector<std::string> names;
            for (std::size_t k = 0; k < sharedNames.size(); ++k) {
                if (!std::regex_search(sharedNames[k], re)) continue;
                pooled.merge(moments[k]);
                names.push_back(sharedNames[k]);
            }
            Stats s = toStats(spec.name, names, pooled, *baseline, options.thresholds);
            if (names.empty()) s.corrNote = "no shared column matches \"" + spec.pattern + "\"";
            report.categories.push_back(std::move(s));
        }
    }
    Moments all;
    for (const auto& m : moments) all.merge(m);
    report.overall = toStats("overall", sharedNames, all, *baseline, options.thresholds);
    result.baseline = std::move(baseline);
    result.newer = std::move(newer);
    return result;
}

AuditResult runAudit(const std::filesystem::path& baselinePath, const std::filesystem::path& newPath,
                     const AuditOptions& options, jobs::JobContext* job) {
    if (job) job->progress(0.0, "reading both tables");
    // Both files are read at once (one thread each) and hashed while they are read.
    util::Sha256 baselineHash, newHash;
    data::CsvReadOptions readB;
    readB.idColumn = options.idColumn;
    readB.onBytes = [&](const char* d, std::size_t n) { baselineHash.update(d, n); };
    auto baselineFuture = std::async(std::launch::async, [&] {
        return std::make_shared<data::NumericTable>(data::readNumericCsv(baselinePath, readB, nullptr));
    });
    data::CsvReadOptions readN;
    readN.idColumn = options.idColumn;
    readN.onBytes = [&](const char* d, std::size_t n) { newHash.update(d, n); };
    std::shared_ptr<data::NumericTable> newer;
    std::exception_ptr newError;
    try {
        newer = std::make_shared<data::NumericTable>(data::readNumericCsv(newPath, readN, job));
    } catch (...) {
        newError = std::current_exception();
    }
    auto baseline = baselineFuture.get();  // a baseline error is reported first
    if (newError) std::rethrow_exception(newError);
    if (options.idColumn.empty() && newer->idName != baseline->idName) {
        // The id is the baseline's first column: the new file must have it too, wherever.
        readN.idColumn = baseline->idName;
        newHash = util::Sha256();
        newer = std::make_shared<data::NumericTable>(data::readNumericCsv(newPath, readN, job));
    }
    if (job) {
        job->throwIfCancelled();
        job->progress(0.9, "comparing");
    }
    AuditResult result = compareTables(baseline, newer, options);
    result.report.baseline.sha256 = baselineHash.hexDigest();
    result.report.newer.sha256 = newHash.hexDigest();
    if (job) job->progress(1.0, result.report.pass() ? "PASS" : "FAIL");
    return result;
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
           << "\nmin_corr: " << report.thresholds.minCorr << "\n";
    const std::string hash = util::sha256Hex(config.str() + report.baseline.sha256 + report.newer.sha256);
    const auto run = store.createRun("audit", stage, config.str(), hash, "");
    store.setParams(run, {{"stage", stage},
                          {"baseline", report.baseline.path},
                          {"baseline_sha256", report.baseline.sha256},
                          {"new", report.newer.path},
                          {"new_sha256", report.newer.sha256}});
    std::vector<runs::MetricPoint> points = {
        {"overall.mae", 0, report.overall.mae},
        {"overall.n", 0, double(report.overall.n)},
        {"overall.max_diff", 0, report.overall.maxDiff},
        {"overall.pass", 0, report.pass() ? 1.0 : 0.0},
        {"shared_ids", 0, double(report.sharedIds)}};
    if (report.overall.corr) points.push_back({"overall.corr", 0, *report.overall.corr});
    for (const auto& c : report.categories) {
        points.push_back({"category." + c.name + ".mae", 0, c.mae});
        if (c.corr) points.push_back({"category." + c.name + ".corr", 0, *c.corr});
    }
    store.logMetrics(run, points);
    for (const auto& f : reportFiles) store.addArtifact(run, "report", f);
    store.setStatus(run, runs::RunStatus::Finished,
                    std::string(report.pass() ? "PASS" : "FAIL") + ": MAE " + fmt(report.overall.mae) +
                        ", r " + (report.overall.corr ? fmt(*report.overall.corr) : "n/a") + ", n " +
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
        }
        rows.push_back(h);
    }
    std::reverse(rows.begin(), rows.end());
    return rows;
}

}  // namespace lumen::audit
