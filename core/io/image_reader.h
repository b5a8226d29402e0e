#pragma once
// 2-D images (PNG, JPEG, BMP, TIFF; 8- and 16-bit; grey or colour) through OpenCV.

#include "io/image_volume.h"

#include <filesystem>

namespace lumen::io {

/// Reads an image; colour comes back as RGB (samples = 3; alpha is dropped), grey as one
/// sample. values = stored values as float. Throws ReadError naming the file.
ImageVolume readImage(const std::filesystem::path& path);

/// True when the file starts with the signature of a format readImage handles.
bool looksLikeImage(const std::filesystem::path& path);

}  // namespace lumen::io
