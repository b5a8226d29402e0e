#pragma once
// Whole-file writes that never leave a half-written file behind: the content goes to a
// temporary file beside the target, is flushed to disk, then renamed over the target.

#include <filesystem>
#include <string_view>

namespace lumen::util {

/// Throws std::runtime_error naming the file on failure; the target is then untouched.
void writeFileAtomically(const std::filesystem::path& path, std::string_view content);

/// True when `a` and `b` name the same file (following links), or would once created.
bool samePath(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace lumen::util
