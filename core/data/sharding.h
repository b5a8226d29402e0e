#pragma once
// A rank's share of an epoch in data-parallel training (docs/distributed.md); free of OpenCV
// and LibTorch so that every loader and task can use it.

#include <cstddef>
#include <vector>

namespace lumen::data {

/// Rank `rank`'s share of an epoch's `order` among `worldSize` ranks, as PyTorch's
/// DistributedSampler deals it: the order padded (by repeating its start) to a multiple of
/// worldSize, then every worldSize-th entry from position `rank`. All ranks get equally many.
/// Throws std::invalid_argument unless 0 <= rank < worldSize.
std::vector<std::size_t> shardOrder(const std::vector<std::size_t>& order, int rank, int worldSize);

}  // namespace lumen::data
