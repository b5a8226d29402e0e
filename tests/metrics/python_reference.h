#pragma once
// Runs a Python reference script (scikit-learn / scipy / numpy) on JSON input and returns its
// JSON output. A missing interpreter or module is an error that fails the test, never a skip.

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>

#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::testing {

inline nlohmann::json runPythonReference(const std::string& script, const nlohmann::json& input) {
    QTemporaryDir dir;
    if (!dir.isValid()) throw std::runtime_error("cannot create a temporary folder");
    const std::string in = dir.filePath("in.json").toStdString(), out = dir.filePath("out.json").toStdString();
    std::ofstream(in) << input.dump();
    const QString prelude =
        "import sys, json, math\nimport numpy as np\n"
        "inp = json.load(open(sys.argv[1]))\nresult = {}\n";
    const QString epilogue =
        "\ndef clean(o):\n"
        "    if isinstance(o, dict): return {k: clean(v) for k, v in o.items()}\n"
        "    if isinstance(o, (list, tuple)): return [clean(v) for v in o]\n"
        "    if isinstance(o, np.ndarray): return clean(o.tolist())\n"
        "    if isinstance(o, (np.floating, float)):\n"
        "        o = float(o)\n"
        "        return None if math.isnan(o) else (str(o) if math.isinf(o) else o)\n"
        "    if isinstance(o, np.integer): return int(o)\n"
        "    return o\n"
        "json.dump(clean(result), open(sys.argv[2], 'w'))\n";
    QString python = qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3");
    QProcess py;
    py.start(python, {"-c", prelude + QString::fromStdString(script) + epilogue, QString::fromStdString(in),
                      QString::fromStdString(out)});
    if (!py.waitForFinished(300000) || py.exitStatus() != QProcess::NormalExit || py.exitCode() != 0)
        throw std::runtime_error("reference script failed (" + python.toStdString() +
                                 "; needs numpy, scipy, scikit-learn): " + py.readAllStandardError().toStdString() +
                                 py.errorString().toStdString());
    std::ifstream result(out);
    return nlohmann::json::parse(result);
}

/// Deterministic multi-label data: truth[label][row] in {0,1} with prevalence varying per label,
/// probabilities correlated with the truth.
struct SyntheticLabels {
    std::vector<std::vector<double>> truth, score;
};
inline SyntheticLabels syntheticLabels(std::size_t labels, std::size_t rows, std::uint64_t seed, int decimals = -1) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    std::normal_distribution<double> noise(0, 1);
    SyntheticLabels s;
    s.truth.assign(labels, std::vector<double>(rows));
    s.score.assign(labels, std::vector<double>(rows));
    for (std::size_t l = 0; l < labels; ++l) {
        const double prevalence = 0.05 + 0.4 * double(l % 7) / 6.0;
        const double separation = 0.5 + 0.25 * double(l % 5);
        for (std::size_t r = 0; r < rows; ++r) {
            const double y = u(rng) < prevalence ? 1.0 : 0.0;
            const double z = separation * (2 * y - 1) + noise(rng) - 1.0;
            double p = 1.0 / (1.0 + std::exp(-z));
            if (decimals >= 0) {
                const double f = std::pow(10.0, decimals);
                p = std::round(p * f) / f;
            }
            s.truth[l][r] = y;
            s.score[l][r] = p;
        }
    }
    return s;
}

}  // namespace lumen::testing
