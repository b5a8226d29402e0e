#pragma once
// Runs Python reference scripts (scikit-learn / scipy / numpy / torch) on JSON input and returns
// their JSON output. A missing interpreter or module is an error that fails the test, never a skip.
//
// One interpreter serves every call of a test process: a script runs in a fresh namespace
// holding `inp` (its input), `result` (a dict it fills or rebinds), `np`, `json`, `math` and
// `sys`, and only its `result` comes back. Starting /usr/bin/python3 and importing scikit-learn
// took ~1.3 s per call, which made test_classification_metrics' twelve binary cases 17 s.
// A script's own output goes to stderr (the protocol owns stdout).

#include <nlohmann/json.hpp>

#include <QByteArray>
#include <QString>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <cstdio>
#include <mutex>
#include <poll.h>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace lumen::testing {

namespace detail {

inline const char* kReferenceServer = R"PY(
import sys, os, json, math, traceback
import numpy as np
proto = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
def clean(o):
    if isinstance(o, dict): return {k: clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)): return [clean(v) for v in o]
    if isinstance(o, np.ndarray): return clean(o.tolist())
    if isinstance(o, (np.floating, float)):
        o = float(o)
        return None if math.isnan(o) else (str(o) if math.isinf(o) else o)
    if isinstance(o, np.integer): return int(o)
    return o
for line in sys.stdin:
    request = json.loads(line)
    ns = {"inp": request["input"], "result": {}, "np": np, "json": json, "math": math, "sys": sys}
    try:
        exec(compile(request["script"], "<reference script>", "exec"), ns)
        answer = {"ok": True, "result": clean(ns["result"])}
    except BaseException:
        answer = {"ok": False, "error": traceback.format_exc()}
    proto.write(json.dumps(answer) + "\n")
    proto.flush()
)PY";

/// The interpreter of this test process, started on first use and ended when the process ends.
class ReferenceInterpreter {
public:
    static ReferenceInterpreter& instance() {
        static ReferenceInterpreter interpreter;
        return interpreter;
    }

    nlohmann::json run(const std::string& script, const nlohmann::json& input) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (pid_ <= 0) start();
        const std::string request = nlohmann::json{{"script", script}, {"input", input}}.dump() + "\n";
        for (std::size_t sent = 0; sent < request.size();) {
            const ssize_t n = ::write(toPython_, request.data() + sent, request.size() - sent);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail("could not send the script");
            sent += std::size_t(n);
        }
        const nlohmann::json answer = nlohmann::json::parse(readLine());
        if (!answer.at("ok").get<bool>())
            throw std::runtime_error("reference script failed (" + python_ +
                                     "; needs numpy, scipy, scikit-learn): " + answer.at("error").get<std::string>());
        return answer.at("result");
    }

    ~ReferenceInterpreter() {
        if (pid_ <= 0) return;
        ::close(toPython_);  // end of input: the loop ends and Python exits
        ::close(fromPython_);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }

private:
    ReferenceInterpreter() = default;

    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error("reference interpreter " + python_ + ": " + what +
                                 " (it needs numpy, scipy, scikit-learn; its errors are on stderr)");
    }

    void start() {
        python_ = qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3").toStdString();
        std::signal(SIGPIPE, SIG_IGN);  // a dead interpreter is an error below, not a signal
        int in[2], out[2];
        // Close-on-exec: a process a test starts later must not hold the interpreter's stdin open.
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) fail("cannot create pipes");
        pid_ = ::fork();
        if (pid_ < 0) fail("cannot fork");
        if (pid_ == 0) {
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
            ::execl(python_.c_str(), python_.c_str(), "-c", kReferenceServer, static_cast<char*>(nullptr));
            std::perror(python_.c_str());
            ::_exit(127);
        }
        ::close(in[0]), ::close(out[1]);
        toPython_ = in[1];
        fromPython_ = out[0];
    }

    std::string readLine() {
        std::string line;
        for (;;) {
            const auto newline = buffer_.find('\n');
            if (newline != std::string::npos) {
                line = buffer_.substr(0, newline);
                buffer_.erase(0, newline + 1);
                return line;
            }
            pollfd p{fromPython_, POLLIN, 0};
            const int ready = ::poll(&p, 1, 300000);
            if (ready < 0 && errno == EINTR) continue;
            if (ready == 0) fail("no answer within 300 s");
            char chunk[65536];
            const ssize_t n = ::read(fromPython_, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail("exited");
            buffer_.append(chunk, std::size_t(n));
        }
    }

    std::mutex mutex_;
    std::string python_, buffer_;
    pid_t pid_ = 0;
    int toPython_ = -1, fromPython_ = -1;
};

}  // namespace detail

inline nlohmann::json runPythonReference(const std::string& script, const nlohmann::json& input) {
    return detail::ReferenceInterpreter::instance().run(script, input);
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
