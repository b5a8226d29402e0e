#include "io/image_reader.h"

#include "io/codecs.h"
#include "io/read_error.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

namespace lumen::io {

namespace {

std::string signatureFormat(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    unsigned char h[8] = {};
    in.read(reinterpret_cast<char*>(h), 8);
    const auto n = in.gcount();
    if (n >= 8 && std::memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) return "JPEG";
    if (n >= 2 && h[0] == 'B' && h[1] == 'M') return "BMP";
    if (n >= 4 && ((h[0] == 'I' && h[1] == 'I' && h[2] == 42 && h[3] == 0) ||
                   (h[0] == 'M' && h[1] == 'M' && h[2] == 0 && h[3] == 42)))
        return "TIFF";
    return "";
}

}  // namespace

bool looksLikeImage(const std::filesystem::path& path) { return !signatureFormat(path).empty(); }

ImageVolume readImage(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw ReadError(path, "no such file");
    if (std::filesystem::file_size(path, ec) == 0) throw ReadError(path, "empty file");
    const std::string format = signatureFormat(path);
    // OpenCV guesses from content too, but we only claim the formats we test.
    if (format.empty()) throw ReadError(path, "not a PNG, JPEG, BMP or TIFF file (unknown signature)");
    cv::Mat m;
    try {
        m = codecs().imread(path.string(), cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
        throw ReadError(path, "cannot decode " + format + ": " + e.what());
    }
    if (m.empty()) throw ReadError(path, "cannot decode " + format + " (truncated or corrupt)");
    if (m.dims != 2) throw ReadError(path, "unsupported image layout");
    const int channels = m.channels();
    if (channels == 4) cv::cvtColor(m, m, cv::COLOR_BGRA2RGB);
    else if (channels == 3) cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
    else if (channels == 2) cv::extractChannel(m, m, 0);  // grey + alpha
    else if (channels != 1) throw ReadError(path, "unsupported channel count " + std::to_string(channels));

    ImageVolume v;
    v.rows = m.rows;
    v.columns = m.cols;
    v.samples = m.channels();
    v.meta.format = format;
    v.meta.photometric = v.samples == 3 ? "RGB" : "MONOCHROME2";
    v.meta.sourcePhotometric = v.meta.photometric;
    v.meta.decoder = "OpenCV";
    // OpenCV's pixel depth -> Lumen's stored type and its bits.
    static constexpr struct {
        int depth;
        StoredType type;
        int bits;
    } kDepths[] = {{CV_8U, StoredType::U8, 8},    {CV_8S, StoredType::I8, 8},    {CV_16U, StoredType::U16, 16},
                   {CV_16S, StoredType::I16, 16}, {CV_32S, StoredType::I32, 32}, {CV_32F, StoredType::F32, 32},
                   {CV_64F, StoredType::F64, 64}};
    const auto known =
        std::find_if(std::begin(kDepths), std::end(kDepths), [&](const auto& d) { return d.depth == m.depth(); });
    if (known == std::end(kDepths)) throw ReadError(path, "unsupported pixel depth");
    v.storedType = known->type;
    v.meta.bitsAllocated = known->bits;
    v.meta.bitsStored = v.meta.bitsAllocated;
    v.meta.pixelSigned = m.depth() == CV_8S || m.depth() == CV_16S || m.depth() == CV_32S;
    if (!m.isContinuous()) m = m.clone();
    const std::size_t bytes = m.total() * m.elemSize();
    v.stored.assign(m.data, m.data + bytes);
    cv::Mat f;
    m.convertTo(f, CV_MAKETYPE(CV_32F, m.channels()));
    v.values.assign(reinterpret_cast<const float*>(f.data),
                    reinterpret_cast<const float*>(f.data) + f.total() * f.channels());
    return v;
}

}  // namespace lumen::io
