#pragma once
// NumPy .npy files (format 1.0, little-endian, C order), so researchers load Lumen's arrays
// with numpy.load as they are.

#include "io/image_volume.h"

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::io {

/// The complete .npy bytes for `data` (raw little-endian elements of `dtype`, e.g. "<f4").
std::string npyBytes(const void* data, std::size_t bytes, const std::string& dtype,
                     const std::vector<std::size_t>& shape);

/// Writes the volume's values as float32, or with `stored` its stored values in their own
/// dtype (error when it has none). Written atomically; throws ReadError-free
/// std::runtime_error naming the file on I/O failure.
void writeNpy(const std::filesystem::path& path, const ImageVolume& volume, bool stored = false);

}  // namespace lumen::io
