#include "cli_launch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace lumen::cli {

int freeLoopbackPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("cannot open a socket to find a free port");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot bind a socket on 127.0.0.1 to find a free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

namespace {

std::atomic<bool> gInterrupt{false};

pid_t startRank(const std::vector<std::string>& arguments, int rank, int n, int port) {
    return startChild(arguments, {"RANK=" + std::to_string(rank), "WORLD_SIZE=" + std::to_string(n),
                                  "LOCAL_RANK=" + std::to_string(rank), "LOCAL_WORLD_SIZE=" + std::to_string(n),
                                  "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)});
}

}  // namespace

std::string selfExecutable() {
    char buf[PATH_MAX];
    const auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) throw std::runtime_error("cannot find this executable (/proc/self/exe)");
    return std::string(buf, static_cast<std::size_t>(n));
}

pid_t startChild(const std::vector<std::string>& arguments, const std::vector<std::string>& environment,
                 const std::string& logFile, bool ownProcessGroup) {
    const std::string exe = selfExecutable();
    int log = -1;
    if (!logFile.empty()) {
        log = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log < 0) throw std::runtime_error(logFile + ": cannot open the log file");
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        if (log >= 0) ::close(log);
        throw std::runtime_error("cannot start " + exe + " (fork failed)");
    }
    if (pid > 0) {
        if (log >= 0) ::close(log);
        return pid;
    }
    if (ownProcessGroup) ::setpgid(0, 0);
    for (const auto& e : environment) ::putenv(const_cast<char*>(e.c_str()));
    if (log >= 0) {
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const auto& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    ::execv(exe.c_str(), argv.data());
    std::fprintf(stderr, "lumen-cli: cannot run %s\n", exe.c_str());
    ::_exit(127);
}

int exitCodeOf(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 2;
}

int runLocalRanks(int n, const std::vector<std::string>& arguments, double graceSeconds) {
    const int port = freeLoopbackPort();
    std::fprintf(stderr, "lumen-cli: starting %d ranks on this machine (store 127.0.0.1:%d)\n", n, port);
    // A SIGINT to this process (the GUI's Cancel; a terminal's Ctrl-C reaches the ranks too)
    // is passed on to every rank: they agree to stop at the next step boundary.
    gInterrupt = false;
    auto previous = std::signal(SIGINT, [](int) { gInterrupt = true; });
    auto previousTerm = std::signal(SIGTERM, [](int) { gInterrupt = true; });  // scancel, kill
    bool forwarded = false;
    std::vector<pid_t> pids;
    for (int r = 0; r < n; ++r) pids.push_back(startRank(arguments, r, n, port));
    std::vector<int> codes(static_cast<std::size_t>(n), -1);
    int running = n, firstFailure = 0;
    std::chrono::steady_clock::time_point killAt{};
    bool terminated = false;
    while (running > 0) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            for (int r = 0; r < n; ++r) {
                if (pids[static_cast<std::size_t>(r)] != pid) continue;
                const int code = exitCodeOf(status);
                codes[static_cast<std::size_t>(r)] = code;
                --running;
                if (code != 0) {
                    std::fprintf(stderr, "lumen-cli: rank %d exited with code %d\n", r, code);
                    if (firstFailure == 0) {
                        firstFailure = code;
                        killAt = std::chrono::steady_clock::now() +
                                 std::chrono::milliseconds(static_cast<long long>(graceSeconds * 1000));
                    }
                }
            }
            continue;
        }
        if (gInterrupt && !forwarded) {
            for (int r = 0; r < n; ++r)  // each rank cancels as after Ctrl-C (a SIGTERM does the same there)
                if (codes[static_cast<std::size_t>(r)] < 0) ::kill(pids[static_cast<std::size_t>(r)], SIGINT);
            forwarded = true;
        }
        if (firstFailure != 0 && !terminated && std::chrono::steady_clock::now() > killAt) {
            for (int r = 0; r < n; ++r)
                if (codes[static_cast<std::size_t>(r)] < 0) {
                    std::fprintf(stderr, "lumen-cli: terminating rank %d (still running %.0f s after a rank failed)\n",
                                 r, graceSeconds);
                    ::kill(pids[static_cast<std::size_t>(r)], SIGKILL);
                }
            terminated = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::signal(SIGINT, previous);
    std::signal(SIGTERM, previousTerm);
    return firstFailure;
}

}  // namespace lumen::cli
