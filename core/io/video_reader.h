#pragma once
// Videos (AVI, MP4 ...) through OpenCV's FFmpeg backend.

#include "io/image_volume.h"

#include <filesystem>

namespace lumen::io {

struct VideoReadOptions {
    bool grey = false;  ///< one sample (luma) instead of RGB
    int maxFrames = 0;  ///< 0: all
};

/// Decodes every frame that actually decodes (a damaged file can hold fewer frames than its
/// header says: meta.declaredFrames keeps the header's count). Shape (frames, rows, columns,
/// samples), values 0..255, frameTimeMs from the frame rate. Throws ReadError naming the file.
ImageVolume readVideo(const std::filesystem::path& path, const VideoReadOptions& options = {});

}  // namespace lumen::io
