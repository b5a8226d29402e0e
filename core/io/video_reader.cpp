#include "io/video_reader.h"

#include "io/codecs.h"
#include "io/read_error.h"

#include <memory>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <cmath>

namespace lumen::io {

ImageVolume readVideo(const std::filesystem::path& path, const VideoReadOptions& options) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw ReadError(path, "no such file");
    if (std::filesystem::file_size(path, ec) == 0) throw ReadError(path, "empty file");
    const CodecTable& codec = codecs();
    void* opened = nullptr;
    try {
        opened = codec.videoOpen(path.string(), cv::CAP_FFMPEG);
    } catch (const cv::Exception& e) {
        throw ReadError(path, std::string("cannot open video: ") + e.what());
    }
    if (!opened) throw ReadError(path, "not a video OpenCV/FFmpeg can open");
    const std::unique_ptr<void, void (*)(void*)> video(opened, codec.videoClose);
    struct {
        const CodecTable& codec;
        void* handle;
        double get(int property) const { return codec.videoGet(handle, property); }
        bool read(cv::Mat& frame) const { return codec.videoRead(handle, frame); }
    } cap{codec, video.get()};
    ImageVolume v;
    v.meta.format = "video";
    v.meta.decoder = "OpenCV " CV_VERSION " (FFMPEG)";
    const double declared = cap.get(cv::CAP_PROP_FRAME_COUNT);
    if (declared > 0 && std::isfinite(declared)) v.meta.declaredFrames = long(declared);
    const double fps = cap.get(cv::CAP_PROP_FPS);
    if (fps > 0 && std::isfinite(fps)) v.meta.frameTimeMs = 1000.0 / fps;
    const double fourcc = cap.get(cv::CAP_PROP_FOURCC);
    if (fourcc > 0) {
        const auto f = static_cast<unsigned>(fourcc);
        for (int i = 0; i < 4; ++i) v.meta.transferSyntax += char((f >> (8 * i)) & 0xff);
    }
    v.samples = options.grey ? 1 : 3;
    v.meta.photometric = options.grey ? "MONOCHROME2" : "RGB";
    v.meta.sourcePhotometric = v.meta.photometric;
    v.meta.bitsAllocated = v.meta.bitsStored = 8;
    v.storedType = StoredType::U8;
    cv::Mat frame, converted;
    int frames = 0;
    while (options.maxFrames <= 0 || frames < options.maxFrames) {
        bool ok = false;
        try {
            ok = cap.read(frame);
        } catch (const cv::Exception&) {
            ok = false;
        }
        if (!ok || frame.empty()) break;
        if (frames == 0) {
            v.rows = frame.rows;
            v.columns = frame.cols;
        } else if (frame.rows != v.rows || frame.cols != v.columns) {
            break;  // a resolution change mid-stream: keep the consistent prefix
        }
        if (frame.channels() == 1 && options.grey) frame.copyTo(converted);
        else if (frame.channels() == 1) cv::cvtColor(frame, converted, cv::COLOR_GRAY2RGB);
        else cv::cvtColor(frame, converted, options.grey ? cv::COLOR_BGR2GRAY : cv::COLOR_BGR2RGB);
        if (converted.depth() != CV_8U) converted.convertTo(converted, CV_8U);
        if (!converted.isContinuous()) converted = converted.clone();
        v.stored.insert(v.stored.end(), converted.data, converted.data + converted.total() * converted.elemSize());
        ++frames;
    }
    if (frames == 0) throw ReadError(path, "no frame could be decoded");
    v.depth = frames;
    v.values.assign(v.stored.begin(), v.stored.end());
    return v;
}

}  // namespace lumen::io
