#pragma once
// Checkpoint retention (`keep_checkpoints`): which epoch checkpoints of a run's folder go.
// Torch-free.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::train {

/// Deletes the epoch checkpoints of (task, seed) in `dir` (`{task}_epoch{E}_…_seed{S}.pt`)
/// except the `keep` of the highest epochs and `best`; last.pt and other files are never
/// touched. Returns the files removed. Throws std::runtime_error naming a file it cannot
/// remove.
std::vector<std::filesystem::path> pruneEpochCheckpoints(const std::filesystem::path& dir, const std::string& task,
                                                         std::uint64_t seed, std::int64_t keep,
                                                         const std::filesystem::path& best);

}  // namespace lumen::train
