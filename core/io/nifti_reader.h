#pragma once
// NIfTI-1 and NIfTI-2 volumes (.nii, .nii.gz, .hdr/.img pairs) through nifti2_io.

#include "io/image_volume.h"

#include <array>
#include <filesystem>

namespace lumen::io {

/// Reads a volume: values = stored * scl_slope + scl_inter (no scaling when scl_slope is 0),
/// laid out (time, slices=k, rows=j, columns=i) — NIfTI's own memory order, which is NumPy's
/// reverse-axes transpose of nibabel's (i, j, k, t). Geometry is converted to LPS; the RAS
/// affine nibabel reports is `rasAffine(volume)`. Throws ReadError naming the file.
ImageVolume readNifti(const std::filesystem::path& path);

/// The 4x4 voxel (i, j, k) to RAS+ world affine (row-major), as nibabel's `img.affine`.
std::array<double, 16> rasAffine(const ImageVolume& volume);

/// True for .nii, .nii.gz, .hdr, .img (and .hdr.gz/.img.gz) names.
bool looksLikeNifti(const std::filesystem::path& path);

}  // namespace lumen::io
