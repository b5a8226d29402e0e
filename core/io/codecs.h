#pragma once
// OpenCV's image and video codecs, loaded on first use. Debian's libopencv-imgcodecs pulls in
// GDAL, and libopencv-videoio GStreamer and FFmpeg: ~0.35 s of start-up (measured) for every
// process that links them, tools that never decode an image included. So they live in
// liblumen_codecs.so, loaded from beside liblumen_core.so when an image or video is read or
// a PNG written.

#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace lumen::io {

struct CodecTable {
    cv::Mat (*imread)(const std::string& path, int flags);
    bool (*imencode)(const std::string& extension, const cv::Mat& image, std::vector<unsigned char>& out,
                     const std::vector<int>& params);
    void* (*videoOpen)(const std::string& path, int apiPreference);  ///< null if it cannot be opened
    bool (*videoRead)(void* video, cv::Mat& frame);
    double (*videoGet)(void* video, int property);
    void (*videoClose)(void* video);
};

/// The codec table; throws std::runtime_error naming liblumen_codecs.so if it cannot be loaded.
const CodecTable& codecs();

}  // namespace lumen::io

/// The entry point liblumen_codecs.so exports.
extern "C" const lumen::io::CodecTable* lumen_codec_table();
