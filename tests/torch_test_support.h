#pragma once
// Helpers of the suites that check LibTorch code against a Python reference script: the
// largest element difference, and a temporary folder the script writes its tensors into.
// Include <torch/torch.h> first (before any Qt header), then this.

#include "test_support.h"

#include <QTemporaryDir>

#include <string>

/// max |a - b| in double; 1e30 when the shapes differ.
inline double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
    if (a.sizes() != b.sizes()) return 1e30;
    return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// A temporary folder filled by `LUMEN_PYTHON (default /usr/bin/python3) SCRIPT FOLDER`.
class PythonReference {
public:
    /// Runs tests/<script> (relative to the source tree); "" on success, else why not (its output).
    std::string run(const QString& script) const {
        if (!dir_.isValid()) return "no temporary folder";
        const auto py = runProcess(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
                                   {QStringLiteral(LUMEN_SOURCE_DIR "/tests/") + script, dir_.path()}, 300000);
        return py.code == 0 ? std::string()
                            : script.toStdString() + " exited " + std::to_string(py.code) + ": " + py.out + py.err;
    }
    /// A file the script wrote.
    std::string file(const std::string& name) const {
        return dir_.filePath(QString::fromStdString(name)).toStdString();
    }
    QString path() const { return dir_.path(); }

private:
    QTemporaryDir dir_;
};
