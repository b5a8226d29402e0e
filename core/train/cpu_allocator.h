#pragma once
// A caching allocator for LibTorch's CPU tensors (training and inference jobs).
//
// Why: a training step frees and re-allocates the same few hundred large activation buffers
// every iteration. With glibc's defaults each large buffer is a fresh mmap (or a trimmed heap
// top) that the kernel zero-fills and page-faults again in 4 KiB pages, then unmaps on free.
// On the 2-core VM this cost up to a third of a ConvNeXt step in system time, and the faults
// serialise the two OpenMP threads (docs/benchmarks.md, "Allocator"). Like PyTorch's CUDA
// caching allocator, this one keeps freed large blocks for reuse (exact size classes: a
// training loop asks for the same sizes every step) and backs them with transparent huge
// pages (madvise), so the rare fresh block faults in 2 MiB pages.
//
// Small requests (< 256 KiB) go to LibTorch's default allocator. The cache is bounded; blocks
// beyond the bound are freed at once. Thread-safe: tensors may die on any thread.

#include <cstddef>

namespace lumen::train {

struct CpuCacheStats {
    std::size_t allocations = 0;  ///< large requests served
    std::size_t reused = 0;       ///< ... of which from the cache
    std::size_t cachedBytes = 0;  ///< held now for reuse
    std::size_t liveBytes = 0;    ///< large blocks in use now
    std::size_t peakBytes = 0;    ///< max of cached + live
};

/// Makes the caching allocator LibTorch's CPU allocator for the rest of the process (idempotent;
/// tensors allocated before keep their own deleter). `maxCachedBytes` bounds what is kept.
void installCachingCpuAllocator(std::size_t maxCachedBytes = std::size_t(4) << 30);
bool cachingCpuAllocatorInstalled();

/// Returns every cached (unused) block to the system, e.g. when a training job ends in the
/// long-lived GUI process. Blocks in use are unaffected.
void releaseCachedCpuMemory();

CpuCacheStats cpuCacheStats();

}  // namespace lumen::train
