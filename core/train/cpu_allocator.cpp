#include "train/cpu_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

#include <sys/mman.h>

namespace lumen::train {
namespace {

constexpr std::size_t kLargeBytes = std::size_t(256) << 10;  // below: the default allocator
constexpr std::size_t kHugePage = std::size_t(2) << 20;

/// Size class of a large request: multiples of 64 KiB up to 2 MiB, then of 2 MiB (so a block
/// is a whole number of huge pages and at most 1/32 or 2 MiB is wasted).
std::size_t roundUp(std::size_t n) {
    const std::size_t step = n < kHugePage ? (std::size_t(64) << 10) : kHugePage;
    return (n + step - 1) / step * step;
}

void freeBlock(void* p);

class CachingCpuAllocator final : public c10::Allocator {
public:
    CachingCpuAllocator(c10::Allocator* fallback, std::size_t maxCached) : fallback_(fallback), maxCached_(maxCached) {}

    c10::DataPtr allocate(std::size_t n) const override {
        if (n < kLargeBytes) return fallback_->allocate(n);
        void* p = allocateLarge(n);
        return {p, p, &freeBlock, c10::Device(c10::DeviceType::CPU)};
    }
    // raw_allocate()/raw_deallocate() pair through this: it frees small blocks too.
    c10::DeleterFnPtr raw_deleter() const override { return &freeBlock; }
    c10::Allocator* fallback() const { return fallback_; }

    void* allocateLarge(std::size_t n) const {
        const std::size_t size = roundUp(n);
        std::lock_guard<std::mutex> lock(mutex_);
        ++stats_.allocations;
        void* p = nullptr;
        if (auto it = free_.find(size); it != free_.end()) {
            p = it->second;
            free_.erase(it);
            stats_.cachedBytes -= size;
            ++stats_.reused;
        } else {
            p = std::aligned_alloc(size >= kHugePage ? kHugePage : 4096, size);
            if (!p) {
                releaseLocked();  // give the cache back and try once more before failing
                p = std::aligned_alloc(size >= kHugePage ? kHugePage : 4096, size);
                if (!p) throw std::bad_alloc();
            }
            if (size >= kHugePage) madvise(p, size, MADV_HUGEPAGE);
        }
        live_.emplace(p, size);
        stats_.liveBytes += size;
        stats_.peakBytes = std::max(stats_.peakBytes, stats_.liveBytes + stats_.cachedBytes);
        return p;
    }

    /// False when `p` is not a large block of ours (a small one from the fallback).
    bool release(void* p) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = live_.find(p);
        if (it == live_.end()) return false;
        const std::size_t size = it->second;
        live_.erase(it);
        stats_.liveBytes -= size;
        if (stats_.cachedBytes + size <= maxCached_) {
            free_.emplace(size, p);
            stats_.cachedBytes += size;
        } else {
            std::free(p);
        }
        return true;
    }

    void releaseLocked() const {
        for (auto& [size, p] : free_) std::free(p);
        free_.clear();
        stats_.cachedBytes = 0;
    }
    void releaseAll() const {
        std::lock_guard<std::mutex> lock(mutex_);
        releaseLocked();
    }
    CpuCacheStats stats() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return stats_;
    }

private:
    c10::Allocator* fallback_;
    std::size_t maxCached_;
    mutable std::mutex mutex_;
    mutable std::multimap<std::size_t, void*> free_;
    mutable std::unordered_map<void*, std::size_t> live_;
    mutable CpuCacheStats stats_;
};

// Never destroyed: tensors may be freed during static destruction, after main returns.
std::atomic<CachingCpuAllocator*> gAllocator{nullptr};
std::mutex gInstallMutex;

// The DataPtr's deleter. c10 calls it with the context, which is the block itself.
void freeBlock(void* p) {
    auto* a = gAllocator.load();
    if (a->release(p)) return;
    if (auto del = a->fallback()->raw_deleter()) del(p);
}

}  // namespace

void installCachingCpuAllocator(std::size_t maxCachedBytes) {
    std::lock_guard<std::mutex> lock(gInstallMutex);
    if (gAllocator.load()) return;
    // Wraps what LibTorch uses now; small requests keep going there.
    auto* a = new CachingCpuAllocator(c10::GetCPUAllocator(), maxCachedBytes);
    gAllocator.store(a);
    c10::SetCPUAllocator(a, /*priority=*/10);
}

bool cachingCpuAllocatorInstalled() { return gAllocator.load() != nullptr; }

void releaseCachedCpuMemory() {
    if (auto* a = gAllocator.load()) a->releaseAll();
}

CpuCacheStats cpuCacheStats() {
    if (auto* a = gAllocator.load()) return a->stats();
    return {};
}

}  // namespace lumen::train
