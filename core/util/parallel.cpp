#include "util/parallel.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace lumen::util {

unsigned resolveThreads(long long requested) {
    if (requested > 0) return static_cast<unsigned>(std::min<long long>(requested, 1 << 16));
    // LUMEN_THREADS caps "all cores" (the test suite runs two suites at a time with 1 each).
    if (const char* env = std::getenv("LUMEN_THREADS")) {
        char* end = nullptr;
        const long long n = std::strtoll(env, &end, 10);
        if (end != env && *end == '\0' && n > 0) return static_cast<unsigned>(std::min<long long>(n, 1 << 16));
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

void parallelFor(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& body,
                 const ParallelOptions& options) {
    std::atomic<std::size_t> next{0}, done{0};
    std::atomic<bool> stop{false};
    std::exception_ptr error;
    std::mutex errorMutex;
    const auto fail = [&] {
        std::lock_guard lock(errorMutex);
        if (!error) error = std::current_exception();
        stop = true;
    };
    std::size_t reported = 0;  // by the calling thread only
    const auto report = [&] {
        const std::size_t now = done.load();
        if (now == reported) return;
        reported = now;
        options.progress(now);
    };
    const auto work = [&](bool reports) {
        while (!stop) {
            if (options.stopRequested && options.stopRequested()) {
                stop = true;
                break;
            }
            const std::size_t i = next++;
            if (i >= n) break;
            try {
                body(i);
                ++done;
                if (reports && options.progress) report();
            } catch (...) {
                fail();
                break;
            }
        }
    };
    const std::size_t wanted = threads > 0 ? threads : resolveThreads(0);
    const std::size_t extra = std::min<std::size_t>(wanted - 1, n > 0 ? n - 1 : 0);
    std::vector<std::thread> pool;
    pool.reserve(extra);
    for (std::size_t t = 0; t < extra; ++t) {
        try {
            pool.emplace_back(work, false);
        } catch (const std::system_error&) {
            break;  // fewer threads is only slower
        }
    }
    work(true);
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    // Items the other threads finished after the calling thread's last one: one final report,
    // so an observer always sees the total even when the calling thread ran no item at all.
    if (options.progress) report();
}

}  // namespace lumen::util
