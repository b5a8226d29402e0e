#pragma once
// Helpers shared by the Qt Test suites: readable QCOMPARE output for our types.

#include <QtTest>

#include <QTemporaryDir>

#include <fstream>
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

namespace lumen::jobs {
inline char* toString(JobState s) { return qstrdup(jobStateName(s).c_str()); }
}  // namespace lumen::jobs

#include "runs/run_store.h"
namespace lumen::runs {
inline char* toString(RunStatus s) { return qstrdup(runStatusName(s).c_str()); }
}  // namespace lumen::runs
