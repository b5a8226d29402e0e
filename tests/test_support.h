#pragma once
// Helpers shared by the Qt Test suites: readable QCOMPARE output for our types.

#include <QtTest>

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

namespace lumen::jobs {
inline char* toString(JobState s) { return qstrdup(jobStateName(s).c_str()); }
}  // namespace lumen::jobs

#include "runs/run_store.h"
namespace lumen::runs {
inline char* toString(RunStatus s) { return qstrdup(runStatusName(s).c_str()); }
}  // namespace lumen::runs
