#pragma once
// Sampling one volume on another's grid through their world geometry: a CAM written on a
// model's prepared grid (its own spacing, crop and RAS affine) shown over the original CT,
// or a label mask from another tool. Torch-free.

#include "io/image_volume.h"

#include <array>
#include <vector>

namespace lumen::io {

enum class Interpolation { Linear, Nearest };

/// `source` (single channel, first time point) sampled at the centres of a dims = (columns,
/// rows, slices) grid spanning `target`'s extent in target's voxel order: cell (a, b, c) sits at
/// target voxel ((a + 0.5) * columns / dims[0] - 0.5, ...), mapped to world millimetres with
/// target's geometry and into source voxels with source's. Trilinear (voxel centres at
/// integers) or nearest; 0 outside the source. Returns (slices, rows, columns) row-major.
/// Throws std::invalid_argument for a multi-channel source, a singular direction or bad dims.
std::vector<float> sampleOnGrid(const ImageVolume& source, const ImageVolume& target, std::array<int, 3> dims,
                                Interpolation mode);

}  // namespace lumen::io
