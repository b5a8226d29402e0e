#pragma once
// Finding a study's images by its id: an index of every media file and folder under a root
// (the Study page's media folder), looked up by file name, by stem ("ct_0001" for
// ct_0001.nii.gz) or by a folder named like the id (a study's views, or one series' slices).

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace lumen::data {

struct MediaIndex {
    std::unordered_map<std::string, std::vector<std::filesystem::path>> byName, byStem;  ///< lower-case keys
    std::unordered_map<std::string, std::filesystem::path> folders;
    /// The files for `id`: an exact file name, else every file with its stem, else a folder
    /// named id, "s" + id or its stem: its few media files (a study's views), or the folder
    /// itself when it holds many DICOM slices or files without a media extension (a series).
    std::vector<std::filesystem::path> lookup(const std::string& id) const;
};

/// "ct_0001.nii.gz" -> "ct_0001", "00000001_000.png" -> "00000001_000".
std::string mediaStem(const std::string& name);

/// Indexes `root` recursively (hidden entries skipped, at most 500,000 entries); an empty or
/// missing root gives an empty index.
std::shared_ptr<const MediaIndex> scanMedia(const std::filesystem::path& root);

}  // namespace lumen::data
