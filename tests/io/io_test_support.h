#pragma once
// Shared by the core/io suites: pydicom's test files, a Python (pydicom/nibabel/numpy)
// reference runner that FAILS (never skips) when a module is missing, and small file helpers.

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QString>
#include <QStringList>

#include "io/read_error.h"
#include "test_support.h"

#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace lumen::iotest {

inline const std::filesystem::path kPydicomFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

inline std::string python() { return qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3").toStdString(); }

/// Runs `script` with sys.argv[1:] = args; the script prints one JSON document on stdout.
inline nlohmann::json runPython(const std::string& script, const QStringList& args = {}) {
    QProcess py;
    QStringList all{"-c", QString::fromStdString("import warnings\nwarnings.simplefilter('ignore')\n" + script)};
    all += args;
    py.start(QString::fromStdString(python()), all);
    if (!py.waitForFinished(300000) || py.exitStatus() != QProcess::NormalExit || py.exitCode() != 0)
        throw std::runtime_error("python reference failed (" + python() + "; needs numpy, pydicom, nibabel): " +
                                 py.readAllStandardError().toStdString() + py.errorString().toStdString());
    return nlohmann::json::parse(py.readAllStandardOutput().toStdString());
}

inline std::string readBytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

inline void writeBytes(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
}

/// Runs a program; returns (exit code, stdout, stderr).
struct ProcessResult {
    int code = -1;
    std::string out, err;
};
inline ProcessResult runProcess(const QString& program, const QStringList& args) {
    QProcess p;
    p.start(program, args);
    ProcessResult r;
    if (!p.waitForFinished(300000)) return r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput().toStdString();
    r.err = p.readAllStandardError().toStdString();
    return r;
}

/// The message of the lumen::io::ReadError `f` throws ("(no error)" if none; other
/// exceptions are marked, so a test expecting a ReadError fails on them).
inline std::string errorOf(const std::function<void()>& f) { return ::errorOf<lumen::io::ReadError>(f); }

}  // namespace lumen::iotest
