#include "cli_progress.h"

#include <atomic>
#include <csignal>
#include <cstdio>

namespace lumen::cli {
namespace {

std::atomic<bool> gInterrupted{false};

class StderrProgress : public jobs::JobObserver {
public:
    explicit StderrProgress(bool quiet) : quiet_(quiet) {}
    void onProgress(jobs::JobId, const jobs::Progress& p) override {
        if (quiet_) return;
        std::fprintf(stderr, "\r[%3.0f%%] %-48.48s", p.fraction * 100, p.message.c_str());
        if (p.etaSeconds) std::fprintf(stderr, " ETA %4.0f s", *p.etaSeconds);
        std::fflush(stderr);
        shown_ = true;
    }
    void onLog(jobs::JobId, jobs::LogLevel level, const std::string& m) override {
        if (quiet_ && level == jobs::LogLevel::Info) return;
        std::fprintf(stderr, "%s%s: %s\n", shown_ ? "\n" : "", jobs::logLevelName(level).c_str(), m.c_str());
        shown_ = false;
    }
    void end() {
        if (shown_) std::fprintf(stderr, "\n");
    }

private:
    bool quiet_;
    std::atomic<bool> shown_{false};
};

}  // namespace

jobs::JobInfo runWithProgress(const std::string& kind, const std::string& title, jobs::JobFunction work, bool quiet) {
    auto observer = std::make_shared<StderrProgress>(quiet);
    jobs::JobPool pool(1);
    const auto id = pool.submit(kind, title, std::move(work), observer);
    gInterrupted = false;
    // SIGTERM too: what `scancel`, a Slurm time limit and `kill` send (docs/slurm.md); the job
    // then ends as after Ctrl-C (a training saves last.pt) before the SIGKILL that follows.
    const auto onSignal = [](int) { gInterrupted = true; };
    auto previousInt = std::signal(SIGINT, onSignal);
    auto previousTerm = std::signal(SIGTERM, onSignal);
    while (!pool.wait(id, std::chrono::milliseconds(100)))
        if (gInterrupted) pool.cancel(id);
    std::signal(SIGINT, previousInt);
    std::signal(SIGTERM, previousTerm);
    observer->end();
    return *pool.info(id);
}

}  // namespace lumen::cli
