#pragma once
// Running an external command (sbatch, squeue, scontrol, sacct, scancel) and reading what it
// printed. No shell is involved: the arguments go to the program as they are, so paths with
// spaces or quotes need no quoting. Torch- and Qt-free.

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::slurm {

struct ProcessResult {
    int exitCode = -1;  ///< the exit status; 128 + N when signal N ended it
    std::string out;    ///< everything it wrote to stdout
    std::string err;    ///< everything it wrote to stderr
    bool ok() const { return exitCode == 0; }
};

/// The program could not be started (not on PATH, not executable) or ran past its timeout.
/// The message names the command.
class ProcessError : public std::runtime_error {
public:
    ProcessError(const std::string& what, bool notFound) : std::runtime_error(what), notFound_(notFound) {}
    /// True when the program was not found on PATH.
    bool notFound() const { return notFound_; }

private:
    bool notFound_;
};

/// Runs argv[0] (looked up on PATH when it has no '/') with the other elements as its
/// arguments, stdin from /dev/null, and waits for it. A process still running after
/// `timeout` is killed (SIGKILL) and ProcessError is thrown. A non-zero exit is not an
/// error here: the result says so (see failureText).
ProcessResult runProcess(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// "sbatch --parsable FILE exited with 1: <its stderr, trimmed>" (stdout when stderr is empty).
std::string failureText(const std::vector<std::string>& argv, const ProcessResult& result);

/// The command line as a reader would type it (each argument quoted for a POSIX shell only
/// when it needs it): for messages and for the sbatch script.
std::string commandLine(const std::vector<std::string>& argv);

/// `text` quoted for a POSIX shell: as it is when it holds only safe characters
/// ([A-Za-z0-9_@%+=:,./-]), else in single quotes with each ' written as '\''.
std::string shellQuote(const std::string& text);

/// True when `program` names an executable file (with a '/') or one on PATH.
bool programExists(const std::string& program);

}  // namespace lumen::slurm
