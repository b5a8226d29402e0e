#include "io/jpeg_turbo_decoder.h"

#include <turbojpeg.h>

#include <stdexcept>

namespace lumen::io {

std::string turboJpegDecoderName() { return "libjpeg-turbo (TurboJPEG)"; }

bool turboJpegHandles(const std::string& uid) {
    return uid == "1.2.840.10008.1.2.4.50" || uid == "1.2.840.10008.1.2.4.51";
}

TurboJpegDecoder::TurboJpegDecoder() : handle_(tjInitDecompress()) {
    if (!handle_) throw std::runtime_error("cannot start a TurboJPEG decompressor");
}

TurboJpegDecoder::~TurboJpegDecoder() { tjDestroy(handle_); }

void TurboJpegDecoder::decodeGrey(const std::uint8_t* data, std::size_t size, int width, int height,
                                  std::uint8_t* out) {
    int w = 0, h = 0, subsampling = 0, colourspace = 0;
    auto* buffer = const_cast<unsigned char*>(data);  // TurboJPEG 2.1 takes a non-const pointer and only reads it
    if (tjDecompressHeader3(handle_, buffer, static_cast<unsigned long>(size), &w, &h, &subsampling, &colourspace) != 0)
        throw std::runtime_error(std::string("JPEG header: ") + tjGetErrorStr2(handle_));
    if (w != width || h != height)
        throw std::runtime_error("JPEG image is " + std::to_string(w) + "x" + std::to_string(h) + ", the header says " +
                                 std::to_string(width) + "x" + std::to_string(height));
    if (colourspace != TJCS_GRAY) throw std::runtime_error("JPEG image is not greyscale");
    // Accurate (integer, islow) IDCT, the IJG default, so values equal DCMTK's and pydicom's.
    // A warning (a truncated frame: "Premature end of JPEG file") is an error too: the rest of
    // such a frame would be made-up grey.
    if (tjDecompress2(handle_, buffer, static_cast<unsigned long>(size), out, width, width, height, TJPF_GRAY,
                      TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0)
        throw std::runtime_error(std::string("JPEG data: ") + tjGetErrorStr2(handle_));
}

}  // namespace lumen::io
