#pragma once
// A hash index from id strings to row numbers (open addressing), built once per table: it
// finds duplicate ids while a table is read and joins tables on their ids afterwards.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lumen::data {

class IdIndex {
public:
    IdIndex() = default;
    /// Indexes `ids`. If an id appears twice, `firstDuplicate` is set to the pair of rows
    /// (first, second) and indexing stops.
    explicit IdIndex(const std::vector<std::string>& ids);

    /// Row of `id`; `ids` must be the vector the index was built from (the index keeps no
    /// pointer to it, so tables holding an index can be moved and copied freely).
    std::optional<std::uint32_t> find(std::string_view id, const std::vector<std::string>& ids) const;
    std::size_t size() const { return count_; }
    /// Rows of the first repeated id, when there was one.
    std::optional<std::pair<std::uint32_t, std::uint32_t>> firstDuplicate() const { return duplicate_; }

private:
    static std::uint64_t hash(std::string_view s);
    std::vector<std::uint32_t> slots_;  ///< row + 1; 0 = empty
    std::uint64_t mask_ = 0;
    std::size_t count_ = 0;
    std::optional<std::pair<std::uint32_t, std::uint32_t>> duplicate_;
};

}  // namespace lumen::data
