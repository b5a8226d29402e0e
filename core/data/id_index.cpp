#include "data/id_index.h"

#include "util/huge_pages.h"

#include <cstring>

namespace lumen::data {

std::uint64_t IdIndex::hash(std::string_view s) {
    // 8 bytes at a time, mixed with a multiply and an xor-shift: ids are short and ASCII.
    std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ s.size();
    const char* p = s.data();
    std::size_t n = s.size();
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    // splitmix64's finaliser: every input bit reaches the low bits the table is indexed by.
    h ^= w;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

IdIndex::IdIndex(const std::vector<std::string>& ids) {
    std::size_t capacity = 16;
    while (capacity < ids.size() * 2) capacity <<= 1;
    slots_.reserve(capacity);
    util::adviseHugePages(slots_.data(), capacity * sizeof(std::uint32_t));
    slots_.assign(capacity, 0);
    mask_ = capacity - 1;
    for (std::uint32_t row = 0; row < ids.size(); ++row) {
        std::uint64_t slot = hash(ids[row]) & mask_;
        while (slots_[slot] != 0) {
            const std::uint32_t other = slots_[slot] - 1;
            if (ids[other] == ids[row]) {
                duplicate_ = std::make_pair(other, row);
                return;
            }
            slot = (slot + 1) & mask_;
        }
        slots_[slot] = row + 1;
        ++count_;
    }
}

std::optional<std::uint32_t> IdIndex::find(std::string_view id, const std::vector<std::string>& ids) const {
    if (slots_.empty()) return std::nullopt;
    std::uint64_t slot = hash(id) & mask_;
    while (slots_[slot] != 0) {
        const std::uint32_t row = slots_[slot] - 1;
        if (ids[row] == id) return row;
        slot = (slot + 1) & mask_;
    }
    return std::nullopt;
}

}  // namespace lumen::data
