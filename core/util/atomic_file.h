#pragma once
// The one way Lumen writes a file (issue 14 §4, "nothing lost"): the content goes to a
// temporary file beside the target, every write and the close are checked, the file is
// fsynced, renamed over the target, and the folder fsynced so the rename survives a crash.
// On any failure the target is untouched and the temporary file is removed.

#include <filesystem>
#include <functional>
#include <string_view>

namespace lumen::util {

/// Throws std::runtime_error naming the file (and what failed) on failure.
void writeFileAtomically(const std::filesystem::path& path, std::string_view content);

/// For writers that must open the file themselves (NIfTI, TorchScript): `produce` writes the
/// temporary path it is given (in the target's folder, ending in the target's file name, so
/// `.nii.gz` stays `.nii.gz`) and throws on failure; the file is then fsynced and renamed
/// over `path` as above. The temporary file is removed when `produce` throws.
void writeFileAtomically(const std::filesystem::path& path,
                         const std::function<void(const std::filesystem::path& tmp)>& produce);

/// True when `a` and `b` name the same file (following links), or would once created.
bool samePath(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace lumen::util
