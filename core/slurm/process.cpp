#include "slurm/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace lumen::slurm {
namespace {

/// Closes both ends of the pipes it owns when it goes out of scope.
struct Pipes {
    std::array<int, 2> out{-1, -1}, err{-1, -1};
    ~Pipes() {
        for (int fd : {out[0], out[1], err[0], err[1]})
            if (fd >= 0) ::close(fd);
    }
    static void closeEnd(int& fd) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

std::string trimmed(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

/// Reads both pipes until both are closed or the deadline passes; false on timeout.
bool drain(Pipes& pipes, ProcessResult& result, std::chrono::steady_clock::time_point deadline) {
    char buffer[8192];
    while (pipes.out[0] >= 0 || pipes.err[0] >= 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd fds[2] = {{pipes.out[0], POLLIN, 0}, {pipes.err[0], POLLIN, 0}};
        const int n = ::poll(fds, 2, int(std::min<long long>(left.count(), 1000)));
        if (n < 0 && errno != EINTR) return false;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
            if (got > 0) (i == 0 ? result.out : result.err).append(buffer, std::size_t(got));
            else if (got == 0 || errno != EINTR) Pipes::closeEnd(i == 0 ? pipes.out[0] : pipes.err[0]);
        }
    }
    return true;
}

}  // namespace

ProcessResult runProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    if (argv.empty()) throw ProcessError("runProcess: no command given", false);
    const std::string shown = commandLine(argv);
    Pipes pipes;
    if (::pipe2(pipes.out.data(), O_CLOEXEC) != 0 || ::pipe2(pipes.err.data(), O_CLOEXEC) != 0)
        throw ProcessError(shown + ": cannot create pipes: " + std::strerror(errno), false);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipes.out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipes.err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = ::posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        const bool notFound = spawned == ENOENT;
        throw ProcessError(argv[0] + (notFound ? ": command not found (not on PATH)" : ": cannot run: ") +
                               (notFound ? "" : std::strerror(spawned)),
                           notFound);
    }
    Pipes::closeEnd(pipes.out[1]);
    Pipes::closeEnd(pipes.err[1]);
    ProcessResult result;
    const bool finished = drain(pipes, result, std::chrono::steady_clock::now() + timeout);
    if (!finished) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!finished)
        throw ProcessError(shown + ": no answer within " + std::to_string(timeout.count() / 1000) + " s (killed)",
                           false);
    result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

std::string failureText(const std::vector<std::string>& argv, const ProcessResult& result) {
    std::string said = trimmed(result.err);
    if (said.empty()) said = trimmed(result.out);
    std::string text = commandLine(argv) + " exited with " + std::to_string(result.exitCode);
    return said.empty() ? text : text + ": " + said;
}

std::string shellQuote(const std::string& text) {
    if (!text.empty() &&
        text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-") ==
            std::string::npos)
        return text;
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string commandLine(const std::vector<std::string>& argv) {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + shellQuote(a);
    return line;
}

bool programExists(const std::string& program) {
    if (program.empty()) return false;
    if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const auto end = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
        struct stat info {};
        const std::string candidate = dir + "/" + program;
        if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
            return true;
        start = end + 1;
    }
    return false;
}

}  // namespace lumen::slurm
