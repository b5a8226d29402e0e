#include "cli_progress.h"

#include <atomic>
#include <csignal>
#include <cstdio>

namespace lumen::cli {
namespace {

std::atomic<bool> gInterrupted{false};

class StderrProgress : public jobs::JobObserver {
public:
    void onProgress(jobs::JobId, const jobs::Progress& p) override {
        std::fprintf(stderr, "\r[%3.0f%%] %-48.48s", p.fraction * 100, p.message.c_str());
        if (p.etaSeconds) std::fprintf(stderr, " ETA %4.0f s", *p.etaSeconds);
        std::fflush(stderr);
        shown_ = true;
    }
    void onLog(jobs::JobId, jobs::LogLevel level, const std::string& m) override {
        std::fprintf(stderr, "%s%s: %s\n", shown_ ? "\n" : "", jobs::logLevelName(level).c_str(), m.c_str());
        shown_ = false;
    }
    void end() {
        if (shown_) std::fprintf(stderr, "\n");
    }

private:
    std::atomic<bool> shown_{false};
};

}  // namespace

jobs::JobInfo runWithProgress(const std::string& kind, const std::string& title, jobs::JobFunction work) {
    auto observer = std::make_shared<StderrProgress>();
    jobs::JobPool pool(1);
    const auto id = pool.submit(kind, title, std::move(work), observer);
    gInterrupted = false;
    auto previous = std::signal(SIGINT, [](int) { gInterrupted = true; });
    while (!pool.wait(id, std::chrono::milliseconds(100)))
        if (gInterrupted) pool.cancel(id);
    std::signal(SIGINT, previous);
    observer->end();
    return *pool.info(id);
}

}  // namespace lumen::cli
