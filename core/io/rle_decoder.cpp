#include "io/rle_decoder.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lumen::io {

namespace {

std::uint32_t le32(const std::uint8_t* p) {
    return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}

// PackBits (PS3.5 G.3.1) of src[0, n) into out[0], out[stride], ... at most `count` bytes: a
// header byte h in 0..127 copies the next h + 1 bytes, -127..-1 repeats the next byte 1 - h
// times, -128 does nothing. Returns the bytes written.
template <std::size_t Stride>
std::size_t unpackSegment(const std::uint8_t* src, std::size_t n, std::uint8_t* out, std::size_t count) {
    std::size_t i = 0, o = 0;
    while (i < n && o < count) {
        const auto h = std::int8_t(src[i++]);
        if (h >= 0) {
            const std::size_t len = std::min({std::size_t(h) + 1, n - i, count - o});
            if constexpr (Stride == 1) std::memcpy(out + o, src + i, len);
            else
                for (std::size_t k = 0; k < len; ++k) out[(o + k) * Stride] = src[i + k];
            i += std::size_t(h) + 1;
            o += len;
        } else if (h != -128) {
            if (i >= n) break;
            const std::size_t len = std::min(std::size_t(1 - h), count - o);
            const std::uint8_t b = src[i++];
            if constexpr (Stride == 1) std::memset(out + o, b, len);
            else
                for (std::size_t k = 0; k < len; ++k) out[(o + k) * Stride] = b;
            o += len;
        }
    }
    return o;
}

}  // namespace

const char* rleDecoderName() { return "Lumen RLE"; }

void decodeRleGreyFrame(const std::uint8_t* data, std::size_t size, std::size_t pixels, int bytesPerSample,
                        std::uint8_t* out) {
    if (bytesPerSample != 1 && bytesPerSample != 2)
        throw std::runtime_error("RLE: " + std::to_string(8 * bytesPerSample) + "-bit samples are not handled here");
    if (size < 64) throw std::runtime_error("RLE frame of " + std::to_string(size) + " bytes has no 64-byte header");
    const std::uint32_t segments = le32(data);
    if (segments != std::uint32_t(bytesPerSample))
        throw std::runtime_error("RLE header declares " + std::to_string(segments) + " segments, grey " +
                                 std::to_string(8 * bytesPerSample) + "-bit samples need " +
                                 std::to_string(bytesPerSample));
    for (std::uint32_t s = 0; s < segments; ++s) {
        const std::size_t begin = le32(data + 4 + 4 * s);
        const std::size_t end = s + 1 < segments ? le32(data + 8 + 4 * s) : size;
        if (begin < 64 || begin > end || end > size)
            throw std::runtime_error("RLE segment " + std::to_string(s + 1) + " spans bytes " + std::to_string(begin) +
                                     ".." + std::to_string(end) + " of a " + std::to_string(size) + "-byte frame");
        // Segment 1 holds the most significant bytes; out is little-endian.
        std::uint8_t* dst = out + (std::size_t(bytesPerSample) - 1 - s);
        const std::size_t got = bytesPerSample == 1 ? unpackSegment<1>(data + begin, end - begin, dst, pixels)
                                                    : unpackSegment<2>(data + begin, end - begin, dst, pixels);
        if (got < pixels)
            throw std::runtime_error("RLE segment " + std::to_string(s + 1) + " decodes to " + std::to_string(got) +
                                     " of " + std::to_string(pixels) + " bytes (truncated or corrupt)");
    }
}

}  // namespace lumen::io
