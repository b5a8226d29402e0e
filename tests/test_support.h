#pragma once
// Helpers shared by the Qt Test suites: readable QCOMPARE output for our types.

#include <QtTest>

#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "jobs/job.h"

namespace QTest {
template <>
inline char* toString(const std::string& s) {
    return qstrdup(("\"" + s + "\"").c_str());
}
template <>
inline char* toString(const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + v[i] + "\"";
    return qstrdup((out + "]").c_str());
}
}  // namespace QTest

/// Writes `text` to `name` inside `dir` (binary, as given) and returns the file's path.
inline std::string writeTextFile(const QTemporaryDir& dir, const std::string& name, const std::string& text) {
    const std::string path = dir.filePath(QString::fromStdString(name)).toStdString();
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

/// What a lumen-cli run (the build's bin/lumen-cli) returned: exit code (-1 when it crashed
/// or timed out), stdout and stderr.
struct CliOutcome {
    int code = -1;
    std::string out, err;
};

inline CliOutcome runLumenCli(const QStringList& args, int timeoutMs = 240000) {
    QProcess p;
    p.start(QStringLiteral(LUMEN_BINARY_DIR "/bin/lumen-cli"), args);
    p.waitForFinished(timeoutMs);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput().toStdString(),
            p.readAllStandardError().toStdString()};
}

/// The whole file as text ("" when it cannot be read).
inline std::string readTextFile(const std::filesystem::path& f) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The message of the `Expected` exception that `f` throws; "OTHER EXCEPTION: …" for any
/// other exception and "(no error)" when it throws none.
template <typename Expected>
std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const Expected& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("OTHER EXCEPTION: ") + e.what();
    }
    return "(no error)";
}

/// Where a test saves a screenshot named `name`: docs/screenshots/ when the environment sets
/// LUMEN_WRITE_SCREENSHOTS=1 (scripts/screenshots.sh does), otherwise the temp folder, so a
/// plain test run never rewrites files under version control.
inline QString screenshotPath(const QString& name) {
    const QString folder = qEnvironmentVariableIsSet("LUMEN_WRITE_SCREENSHOTS")
                               ? QStringLiteral(LUMEN_SOURCE_DIR "/docs/screenshots")
                               : QDir::tempPath();
    QDir().mkpath(folder);
    return folder + "/" + name;
}

/// Opens `db` from another process (Python's sqlite3), reads it and closes it. A process
/// that holds a WAL connection to `db` keeps lumen.db-wal and -shm alive through this only
/// while it still holds its SQLite locks: if it lost them (by closing some other descriptor of
/// the file, see core/util/database_files.h), the other process's close believes it was the
/// last connection and deletes both. Returns "" when both files survived, else what went wrong.
inline QString anotherProcessOpensAndCloses(const QString& db) {
    QProcess p;
    p.start("/usr/bin/python3", {"-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                                       "c.execute('select count(*) from sqlite_master').fetchone(); c.close()",
                                 db});
    if (!p.waitForFinished(30000) || p.exitCode() != 0)
        return "python3 sqlite3 failed: " + QString::fromUtf8(p.readAllStandardError());
    for (const char* suffix : {"-wal", "-shm"})
        if (!QFileInfo::exists(db + suffix)) return db + suffix + " was deleted under the open connection";
    return {};
}

namespace lumen::jobs {
inline char* toString(JobState s) { return qstrdup(jobStateName(s).c_str()); }
}  // namespace lumen::jobs

#include "runs/run_store.h"
namespace lumen::runs {
inline char* toString(RunStatus s) { return qstrdup(runStatusName(s).c_str()); }
}  // namespace lumen::runs
