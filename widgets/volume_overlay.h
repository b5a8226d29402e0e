#pragma once
// A 3-D overlay on a volume: a heatmap (e.g. a 3-D Grad-CAM on its feature grid) or a label
// mask, given on its own grid that spans the same extent as the volume, in the volume's voxel
// order (slices, rows, columns). It is sampled on the volume's grid on the fly, so a 7x7x7
// CAM on a 512x512x300 CT costs no full-size copy.

#include <QColor>
#include <QString>

#include <array>
#include <cstddef>
#include <vector>

namespace lumen::widgets {

struct VolumeOverlay {
    std::vector<std::size_t> shape;  ///< (depth, rows, columns); 2-D (rows, columns) = one slice
    std::vector<float> values;       ///< row-major, shape's product
    bool labelMask = false;          ///< true: integer labels (0 = none), nearest-neighbour sampling
};

/// Samples an overlay at continuous voxel coordinates of a volume of `volumeDims`
/// (columns, rows, slices). Heatmaps: trilinear with half-voxel centres, i.e. the values of
/// torch.nn.functional.interpolate(mode='trilinear', align_corners=False) at the voxel centres,
/// after min-max normalisation to [0, 1] (a constant map is all zeros). Masks: nearest
/// neighbour (interpolate mode='nearest'), the label values as given.
class OverlaySampler {
public:
    OverlaySampler() = default;
    /// Throws std::invalid_argument naming what is wrong (shape rank, value count).
    OverlaySampler(const VolumeOverlay& overlay, std::array<int, 3> volumeDims);

    bool empty() const { return values_.empty(); }
    bool labelMask() const { return mask_; }
    /// x = column, y = row, z = slice of the volume (voxel centres at integers).
    float sample(double x, double y, double z) const;
    float atVoxel(int i, int j, int k) const { return sample(i, j, k); }
    /// The overlay resampled to the whole volume grid, (slices, rows, columns) row-major.
    std::vector<float> resampled() const;
    std::array<int, 3> gridDims() const { return grid_; }  ///< (columns, rows, slices)
    std::array<int, 3> volumeDims() const { return volume_; }

private:
    std::vector<float> values_;
    std::array<int, 3> grid_{0, 0, 0};
    std::array<int, 3> volume_{0, 0, 0};
    bool mask_ = false;
};

/// 256-entry colour tables for overlays: "jet", "hot", "viridis"; masks use "labels".
std::vector<QRgb> overlayColormap(const QString& name);
QStringList overlayColormapNames();

}  // namespace lumen::widgets
