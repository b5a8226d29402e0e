#pragma once
// Internal: one 8-bit greyscale JPEG frame (baseline or extended, process 1/2/4) decoded with
// libjpeg-turbo's TurboJPEG API. The DICOM reader hands its grey 8-bit JPEG cines here, one
// decompressor per thread and frames in parallel: DCMTK's bundled IJG 6b decodes serially
// (its getUncompressedFrame is not thread-safe on one dataset) and ~5x slower (docs/io.md).

#include <cstddef>
#include <cstdint>
#include <string>

namespace lumen::io {

/// "libjpeg-turbo (TurboJPEG)".
std::string turboJpegDecoderName();

/// Whether a transfer syntax is one this path may take (JPEG baseline 1.2.840.10008.1.2.4.50 or
/// extended .51); the caller also requires 8 bits allocated and one sample per pixel.
bool turboJpegHandles(const std::string& transferSyntaxUid);

/// A decoder that keeps its TurboJPEG handle: one per thread.
class TurboJpegDecoder {
public:
    TurboJpegDecoder();
    ~TurboJpegDecoder();
    TurboJpegDecoder(const TurboJpegDecoder&) = delete;
    TurboJpegDecoder& operator=(const TurboJpegDecoder&) = delete;
    /// Decodes `data` into `out` (width * height bytes, rows top-down). The codestream's size
    /// must be width x height (checked from its header before decoding); throws
    /// std::runtime_error with TurboJPEG's reason otherwise or when the data is corrupt or not
    /// 8-bit (12-bit extended JPEG: the caller falls back to DCMTK).
    void decodeGrey(const std::uint8_t* data, std::size_t size, int width, int height, std::uint8_t* out);

private:
    void* handle_ = nullptr;
};

}  // namespace lumen::io
