#pragma once
// A volume made ready for the viewer, without Qt: value range, the voxel axis behind each
// patient axis, and a box-averaged proxy for the 3-D view. Built on worker threads; the volume
// viewer (widgets/volume_viewer.h) displays it.

#include "io/image_volume.h"

#include <array>
#include <filesystem>
#include <memory>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::view {

/// A volume made ready for display (thread-safe to build: loaders do it on their job).
struct PreparedVolume {
    std::shared_ptr<const io::ImageVolume> volume;
    std::array<int, 3> dims{0, 0, 0};  ///< (columns i, rows j, slices k)
    float minValue = 0, maxValue = 1;
    /// For each LPS world axis (x = L, y = P, z = S): the voxel axis closest to it and whether
    /// that voxel axis runs towards +L / +P / +S.
    std::array<int, 3> axisOfWorld{0, 1, 2};
    std::array<bool, 3> positive{true, true, true};
    /// Box-averaged copy for the 3-D view, at most kMaxProxy voxels per axis.
    static constexpr int kMaxProxy = 256;
    std::array<int, 3> proxyDims{0, 0, 0};
    std::array<int, 3> proxyFactor{1, 1, 1};
    std::vector<float> proxy;

    float value(int i, int j, int k) const;
};

/// Builds a PreparedVolume (first time point and first sample of multi-sample data).
/// Throws std::invalid_argument for an empty volume.
std::shared_ptr<const PreparedVolume> prepareVolume(std::shared_ptr<const io::ImageVolume> volume);

/// Reads what `path` names (a DICOM series folder, or any file io::readMedia reads) and
/// prepares it; reports progress on `job` and stops when it is cancelled. Throws io::ReadError
/// naming the file.
std::shared_ptr<const PreparedVolume> loadPreparedVolume(const std::filesystem::path& path, jobs::JobContext* job);

}  // namespace lumen::view
