// liblumen_codecs.so: OpenCV's image and video codecs behind a table of plain functions
// (see io/codecs.h for why they are loaded on demand).
#include "io/codecs.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

namespace {

cv::Mat imread(const std::string& path, int flags) { return cv::imread(path, flags); }

bool imencode(const std::string& extension, const cv::Mat& image, std::vector<unsigned char>& out,
              const std::vector<int>& params) {
    return cv::imencode(extension, image, out, params);
}

void* videoOpen(const std::string& path, int apiPreference) {
    auto* capture = new cv::VideoCapture;
    try {
        if (capture->open(path, apiPreference)) return capture;
    } catch (...) {
        delete capture;
        throw;
    }
    delete capture;
    return nullptr;
}

bool videoRead(void* video, cv::Mat& frame) { return static_cast<cv::VideoCapture*>(video)->read(frame); }
double videoGet(void* video, int property) { return static_cast<cv::VideoCapture*>(video)->get(property); }
void videoClose(void* video) { delete static_cast<cv::VideoCapture*>(video); }

const lumen::io::CodecTable kTable = {imread, imencode, videoOpen, videoRead, videoGet, videoClose};

}  // namespace

extern "C" __attribute__((visibility("default"))) const lumen::io::CodecTable* lumen_codec_table() { return &kTable; }
