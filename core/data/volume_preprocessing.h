#pragma once
// Preparing a CT volume for a 3-D network (ct_multilabel, docs/ct-multilabel.md): reorient to
// RAS+ index order, resample to a target spacing (trilinear, half-voxel centres), centre crop
// or pad to a target size, clip HU to a window and scale the window to [-1, 1] — once per
// channel when more HU windows are asked for (lung, mediastinum, ... as input channels).
// Torch-free, so the viewer and the CLI can reproduce exactly what a model saw.

#include "io/image_volume.h"

#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::data {

/// A named CT window (centre/width in HU), as radiologists use them (docs/ct-multilabel.md).
struct CtWindowPreset {
    std::string name;
    double centre = 0, width = 0;
};
/// lung (-600/1500), mediastinum (40/400), bone (400/1800), brain (40/80).
const std::vector<CtWindowPreset>& ctWindowPresets();
/// "lung" / "mediastinum" / "bone" / "brain", or "LO:HI" in HU (e.g. "-1000:-500") -> {lo, hi};
/// throws std::invalid_argument naming `text` when it is neither or LO >= HI.
std::array<double, 2> parseHuWindow(const std::string& text);

/// What is done to every volume; recorded with each prediction (toJson) so it can be redone.
/// Axes are (x = i, y = j, z = k) of the RAS+-oriented grid.
struct VolumePreprocessing {
    std::array<double, 3> spacing{0, 0, 0};  ///< target mm per voxel; 0 keeps an axis' spacing
    std::array<int, 3> size{0, 0, 0};        ///< target voxels after resampling (centre crop/pad); 0 keeps
    double huMin = -1000, huMax = 1000;      ///< clipping window; [huMin, huMax] -> [-1, 1]
    /// More windows, each one more channel after the first ([lo, hi] -> [-1, 1]).
    std::vector<std::array<double, 2>> extraWindows;

    int channels() const { return 1 + static_cast<int>(extraWindows.size()); }

    /// {"orientation":"RAS","spacing":[..],"size":[..],"hu_window":[min,max],"scale":"[-1,1]",
    ///  "interpolation":"trilinear, half-voxel centres","pad_hu":huMin} as compact JSON text,
    ///  plus "extra_windows":[[lo,hi],..] when there are any.
    std::string toJson() const;
};

/// A prepared volume: values (channel, z, y, x) C order, already clipped and scaled, plus the grid.
struct PreparedVolume {
    int nx = 0, ny = 0, nz = 0;
    int channels = 1;                        ///< one per HU window
    std::vector<float> values;               ///< channels * nz * ny * nx
    std::array<double, 3> spacing{1, 1, 1};  ///< mm of the output grid (x, y, z)
    /// RAS+ world position (mm) of output voxel (0, 0, 0); axes are +x = R, +y = A, +z = S.
    std::array<double, 3> originRas{0, 0, 0};
    /// Output voxel (x, y, z) of source RAS-oriented voxel position p is (p - offset) / scale:
    /// for mapping lesion coordinates given in the source's RAS index space.
    std::array<double, 3> scale{1, 1, 1}, offset{0, 0, 0};
    /// The source axis (0 column, 1 row, 2 slice) and flip behind each RAS output axis.
    std::array<int, 3> sourceAxis{0, 1, 2};
    std::array<bool, 3> flipped{false, false, false};

    /// Output voxel coordinates of a source voxel given in the source's own (column, row, slice) indices.
    std::array<double, 3> fromSourceIndex(const std::array<double, 3>& ijk, const std::array<int, 3>& sourceDims) const;
    /// As an io::ImageVolume (values in [-1, 1] or whatever `values` holds), RAS geometry in LPS
    /// form as the readers give it, for writing with io::writeNifti.
    io::ImageVolume toImageVolume(const std::vector<float>& values) const;
};

/// How readCtVolume treats a DICOM folder that is not one regular series.
struct CtSeriesPolicy {
    /// false (the default): several series in the folder, a gap (a step > 1.5 x the median) or
    /// non-uniform slice spacing is an io::ReadError naming the folder, the series and the slice.
    /// true: the series with the most slices is stacked at the median spacing and every such
    /// finding is appended to `warnings` instead (config key data.allow_irregular_series).
    bool allowIrregular = false;
};

/// Reads a CT volume: a NIfTI file (.nii/.nii.gz) or a folder holding one DICOM series.
/// Throws io::ReadError naming the file or folder. Findings that `policy` lets through (several
/// series, gaps) are appended to `warnings` when given, each naming the folder.
io::ImageVolume readCtVolume(const std::filesystem::path& path, const CtSeriesPolicy& policy = {},
                             std::vector<std::string>* warnings = nullptr);

/// Applies `p` to a single-channel volume (the HU are resampled once, then windowed per channel) (time 1, samples 1); throws std::invalid_argument
/// naming `what` (usually the file) when the volume is not one.
PreparedVolume prepareVolume(const io::ImageVolume& volume, const VolumePreprocessing& p, const std::string& what = {});

}  // namespace lumen::data
