#pragma once
// The one parallel loop of the engine: items [0, n) spread over threads, the calling thread one
// of them, the first error stopping the rest and rethrown once all have finished.

#include <cstddef>
#include <functional>

namespace lumen::util {

/// `requested` when it is positive, else the environment's LUMEN_THREADS when that is a positive
/// integer, else one thread per core (at least 1).
unsigned resolveThreads(long long requested);

struct ParallelOptions {
    /// Called on the calling thread only (observers expect one thread), with the number of
    /// items finished so far, after each item that thread finishes and once more at the end
    /// (the total, when it was not reported yet); it may throw (e.g. jobs::Cancelled) to stop
    /// the loop.
    std::function<void(std::size_t done)> progress;
    /// Checked before every item on every thread; true stops the loop without an error.
    std::function<bool()> stopRequested;
};

/// Runs body(i) for every i in [0, n) on up to `threads` threads (0 = one per core). Items are
/// handed out one at a time, in order. The first exception (from a body or from progress)
/// stops the other threads from starting new items and is rethrown once all have finished. A
/// thread that cannot be started only makes the loop slower.
void parallelFor(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& body,
                 const ParallelOptions& options = {});

}  // namespace lumen::util
