#include "runs/run_store.h"

#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <limits>

namespace lumen::runs {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  config_yaml TEXT NOT NULL DEFAULT '',
  config_hash TEXT NOT NULL DEFAULT '',
  environment_json TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT '',
  created_at_ms INTEGER NOT NULL,
  finished_at_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS params (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  step INTEGER NOT NULL,
  value REAL,
  wall_time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_run_key ON metrics(run_id, key, step);
CREATE TABLE IF NOT EXISTS artifacts (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_by_run ON artifacts(run_id);
)sql";

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double nowSeconds() { return double(nowMs()) / 1000.0; }

// A prepared statement that finalises itself.
class Statement {
public:
    Statement(sqlite3* db, const char* sql, const std::function<void(const std::string&)>& fail) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
            fail(std::string("cannot prepare \"") + sql + "\"");
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(stmt_, i, v);
        return *this;
    }
    Statement& bind(int i, double v) {
        sqlite3_bind_double(stmt_, i, v);
        return *this;
    }
    Statement& bind(int i, const std::string& v) {
        sqlite3_bind_text(stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    /// True while a row is available.
    bool step(const std::function<void(const std::string&)>& fail) {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc != SQLITE_DONE) fail("statement failed");
        return false;
    }
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
    /// SQLite stores a NaN as NULL; it reads back as a quiet NaN, never as 0.
    double real(int col) const {
        if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
        return sqlite3_column_double(stmt_, col);
    }
    std::string text(int col) const {
        const auto* p = sqlite3_column_text(stmt_, col);
        return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : std::string();
    }

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

RunRecord readRun(const Statement& s) {
    RunRecord r;
    r.id = s.integer(0);
    r.task = s.text(1);
    r.name = s.text(2);
    r.status = runStatusFromName(s.text(3));
    r.configYaml = s.text(4);
    r.configHash = s.text(5);
    r.environmentJson = s.text(6);
    r.outcome = s.text(7);
    r.createdAtMs = s.integer(8);
    r.finishedAtMs = s.integer(9);
    return r;
}

constexpr const char* kRunColumns =
    "SELECT id, task, name, status, config_yaml, config_hash, environment_json, outcome, "
    "created_at_ms, finished_at_ms FROM runs ";

}  // namespace

std::string runStatusName(RunStatus status) {
    switch (status) {
    case RunStatus::Queued: return "queued";
    case RunStatus::Running: return "running";
    case RunStatus::Finished: return "finished";
    case RunStatus::Failed: return "failed";
    case RunStatus::Cancelled: return "cancelled";
    case RunStatus::Interrupted: return "interrupted";
    }
    return "queued";
}

RunStatus runStatusFromName(const std::string& name) {
    for (auto s : {RunStatus::Queued, RunStatus::Running, RunStatus::Finished, RunStatus::Failed, RunStatus::Cancelled,
                   RunStatus::Interrupted})
        if (runStatusName(s) == name) return s;
    return RunStatus::Failed;
}

bool isTerminal(RunStatus status) {
    return status == RunStatus::Finished || status == RunStatus::Failed || status == RunStatus::Cancelled ||
           status == RunStatus::Interrupted;
}

RunStore::RunStore(const std::filesystem::path& file) : file_(file) {
    const int rc =
        sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw RunStoreError(file.string() + ": cannot open the run database: " + message);
    }
    // Writers from jobs and a reader on the GUI thread wait for each other instead of failing.
    sqlite3_busy_timeout(db_, 10000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
    const int version = schemaVersion();
    if (version > kSchemaVersion)
        throw RunStoreError(file.string() + ": run database schema version " + std::to_string(version) +
                            " is newer than this Lumen understands (" + std::to_string(kSchemaVersion) + ")");
    exec("BEGIN IMMEDIATE");
    exec(kSchema);
    exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
    exec("COMMIT");
}

RunStore::~RunStore() { sqlite3_close(db_); }

void RunStore::fail(const std::string& what) const {
    throw RunStoreError(file_.string() + ": " + what + ": " + sqlite3_errmsg(db_));
}

void RunStore::inTransaction(const std::function<void()>& work) {
    exec("BEGIN IMMEDIATE");
    try {
        work();
        exec("COMMIT");
    } catch (...) {
        exec("ROLLBACK");
        throw;
    }
}

void RunStore::exec(const std::string& sql) const {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
        const std::string message = error ? error : "unknown error";
        sqlite3_free(error);
        throw RunStoreError(file_.string() + ": " + message + " (in: " + sql.substr(0, 60) + ")");
    }
}

bool RunStore::markInterrupted(std::int64_t run, const std::string& outcome) {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "UPDATE runs SET status = ?, outcome = ?, finished_at_ms = ? WHERE id = ? AND status = ?",
                onError);
    s.bind(1, runStatusName(RunStatus::Interrupted))
        .bind(2, outcome)
        .bind(3, nowMs())
        .bind(4, run)
        .bind(5, runStatusName(RunStatus::Running));
    s.step(onError);
    return sqlite3_changes(db_) > 0;
}

std::int64_t RunStore::dataVersion() const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "PRAGMA data_version", onError);
    return s.step(onError) ? s.integer(0) : 0;
}

int RunStore::schemaVersion() const {
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "PRAGMA user_version", onError);
    return s.step(onError) ? int(s.integer(0)) : 0;
}

std::int64_t RunStore::createRun(const std::string& task, const std::string& name, const std::string& configYaml,
                                 const std::string& configHash, const std::string& environmentJson) {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_,
                "INSERT INTO runs (task, name, status, config_yaml, config_hash, "
                "environment_json, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                onError);
    s.bind(1, task)
        .bind(2, name)
        .bind(3, runStatusName(RunStatus::Queued))
        .bind(4, configYaml)
        .bind(5, configHash)
        .bind(6, environmentJson)
        .bind(7, nowMs());
    s.step(onError);
    return sqlite3_last_insert_rowid(db_);
}

void RunStore::setStatus(std::int64_t run, RunStatus status, const std::string& outcome) {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    const bool terminal = isTerminal(status);
    Statement s(db_, "UPDATE runs SET status = ?, outcome = ?, finished_at_ms = ? WHERE id = ?", onError);
    s.bind(1, runStatusName(status)).bind(2, outcome).bind(3, terminal ? nowMs() : 0).bind(4, run);
    s.step(onError);
    if (sqlite3_changes(db_) == 0) throw RunStoreError(file_.string() + ": no run " + std::to_string(run));
}

void RunStore::removeRun(std::int64_t run) {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "DELETE FROM runs WHERE id = ?", onError);  // params, metrics, artifacts cascade
    s.bind(1, run);
    s.step(onError);
    if (sqlite3_changes(db_) == 0) throw RunStoreError(file_.string() + ": no run " + std::to_string(run));
}

void RunStore::setParams(std::int64_t run, const std::vector<std::pair<std::string, std::string>>& params) {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    inTransaction([&] {
        Statement s(db_, "INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)", onError);
        for (const auto& [key, value] : params) {
            s.bind(1, run).bind(2, key).bind(3, value);
            s.step(onError);
            s.reset();
        }
    });
}

void RunStore::logMetric(std::int64_t run, const std::string& key, std::int64_t step, double value) {
    logMetrics(run, {{key, step, value, 0}});
}

void RunStore::logMetrics(std::int64_t run, const std::vector<MetricPoint>& points) {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    inTransaction([&] {
        Statement s(db_,
                    "INSERT INTO metrics (run_id, key, step, value, wall_time) "
                    "VALUES (?, ?, ?, ?, ?)",
                    onError);
        const double now = nowSeconds();
        for (const auto& p : points) {
            s.bind(1, run).bind(2, p.key).bind(3, p.step).bind(4, p.value).bind(5, p.wallTime > 0 ? p.wallTime : now);
            s.step(onError);
            s.reset();
        }
    });
}

void RunStore::addArtifact(std::int64_t run, const std::string& kind, const std::string& path) {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "INSERT INTO artifacts (run_id, kind, path) VALUES (?, ?, ?)", onError);
    s.bind(1, run).bind(2, kind).bind(3, path);
    s.step(onError);
}

std::vector<RunRecord> RunStore::runs(std::optional<RunStatus> only) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, (std::string(kRunColumns) + (only ? "WHERE status = ? " : "") + "ORDER BY id DESC").c_str(),
                onError);
    if (only) s.bind(1, runStatusName(*only));
    std::vector<RunRecord> out;
    while (s.step(onError)) out.push_back(readRun(s));
    return out;
}

std::optional<RunRecord> RunStore::run(std::int64_t id) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, (std::string(kRunColumns) + "WHERE id = ?").c_str(), onError);
    s.bind(1, id);
    if (!s.step(onError)) return std::nullopt;
    return readRun(s);
}

std::vector<std::pair<std::string, std::string>> RunStore::params(std::int64_t run) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", onError);
    s.bind(1, run);
    std::vector<std::pair<std::string, std::string>> out;
    while (s.step(onError)) out.emplace_back(s.text(0), s.text(1));
    return out;
}

std::vector<std::pair<std::int64_t, std::string>> RunStore::paramOfRuns(const std::string& key) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "SELECT run_id, value FROM params WHERE key = ? ORDER BY run_id", onError);
    s.bind(1, key);
    std::vector<std::pair<std::int64_t, std::string>> out;
    while (s.step(onError)) out.emplace_back(s.integer(0), s.text(1));
    return out;
}

std::vector<MetricPoint> RunStore::metrics(std::int64_t run, const std::string& key) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_,
                key.empty() ? "SELECT key, step, value, wall_time FROM metrics WHERE run_id = ? "
                              "ORDER BY key, step, rowid"
                            : "SELECT key, step, value, wall_time FROM metrics WHERE run_id = ? "
                              "AND key = ? ORDER BY step, rowid",
                onError);
    s.bind(1, run);
    if (!key.empty()) s.bind(2, key);
    std::vector<MetricPoint> out;
    while (s.step(onError)) out.push_back({s.text(0), s.integer(1), s.real(2), s.real(3)});
    return out;
}

std::vector<MetricPoint> RunStore::metricsAfter(std::int64_t run, std::int64_t afterRow, std::int64_t& lastRow) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_,
                "SELECT key, step, value, wall_time, rowid FROM metrics WHERE run_id = ? AND rowid > ? "
                "ORDER BY rowid",
                onError);
    s.bind(1, run).bind(2, afterRow);
    std::vector<MetricPoint> out;
    while (s.step(onError)) {
        out.push_back({s.text(0), s.integer(1), s.real(2), s.real(3)});
        lastRow = s.integer(4);
    }
    return out;
}

std::vector<std::string> RunStore::metricKeys(std::int64_t run) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "SELECT DISTINCT key FROM metrics WHERE run_id = ? ORDER BY key", onError);
    s.bind(1, run);
    std::vector<std::string> out;
    while (s.step(onError)) out.push_back(s.text(0));
    return out;
}

std::vector<MetricSummary> RunStore::metricSummaries(std::int64_t run) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    // The last value comes from the (run, key, step) index, one probe per key.
    Statement s(db_,
                "SELECT m.key, COUNT(*), MIN(m.value), MAX(m.value), MAX(m.step), "
                "(SELECT l.value FROM metrics l WHERE l.run_id = m.run_id AND l.key = m.key "
                "ORDER BY l.step DESC LIMIT 1) "
                "FROM metrics m WHERE m.run_id = ? GROUP BY m.key ORDER BY m.key",
                onError);
    s.bind(1, run);
    std::vector<MetricSummary> out;
    while (s.step(onError)) out.push_back({s.text(0), s.integer(1), s.real(2), s.real(3), s.integer(4), s.real(5)});
    return out;
}

std::vector<Artifact> RunStore::artifacts(std::int64_t run) const {
    std::lock_guard lock(mutex_);
    const auto onError = [this](const std::string& w) { fail(w); };
    Statement s(db_, "SELECT kind, path FROM artifacts WHERE run_id = ? ORDER BY rowid", onError);
    s.bind(1, run);
    std::vector<Artifact> out;
    while (s.step(onError)) out.push_back({s.text(0), s.text(1)});
    return out;
}

Workspace Workspace::open(const std::filesystem::path& root) {
    std::error_code ec;
    std::filesystem::create_directories(root / "runs", ec);
    if (ec) throw RunStoreError(root.string() + ": cannot create the workspace folder: " + ec.message());
    Workspace ws{std::filesystem::absolute(root).lexically_normal()};
    RunStore store(ws.database());  // creates the schema
    return ws;
}

bool Workspace::isWorkspace(const std::filesystem::path& root) {
    return std::filesystem::is_regular_file(root / "lumen.db");
}

}  // namespace lumen::runs
