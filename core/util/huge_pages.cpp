#include "util/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

namespace lumen::util {

void adviseHugePages(void* data, std::size_t bytes) {
    constexpr std::uintptr_t kHuge = 2u << 20;
    if (!data || bytes < kHuge) return;
    const auto begin = (reinterpret_cast<std::uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHuge - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace lumen::util
