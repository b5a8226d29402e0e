#pragma once
// One model input from a file, as the tasks' evaluation prepares it: images (PNG, JPEG, DICOM,
// ...) scaled to [0, 1], shorter side resized to the size and centre-cropped, mean/std per
// channel; `.npy` arrays taken as they are (optionally HU-windowed), only resized. Used by the
// explain job and the torchscript task. Torch-only header (lumen_ml).

#include <torch/types.h>

#include <filesystem>
#include <vector>

namespace lumen::explain {

/// (C, H, W) for `shape` (H, W), (C, D, H, W) for (D, H, W). `huWindow` [centre, width], when
/// given, maps an array's values to [0, 1] first (CT volumes stored in HU); mean/std then apply
/// to arrays too. Throws io::ReadError naming the file for unreadable files and wrong shapes.
torch::Tensor loadModelInput(const std::filesystem::path& file, const std::vector<std::size_t>& shape, int channels,
                             const std::vector<float>& mean, const std::vector<float>& stdev,
                             const std::vector<float>& huWindow = {});

}  // namespace lumen::explain
