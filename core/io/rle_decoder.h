#pragma once
// Internal: one DICOM RLE Lossless frame (PS3.5 Annex G) of grey 8- or 16-bit samples, decoded
// straight into little-endian stored samples. The DICOM reader decodes a grey RLE cine's frames
// with it in parallel; DCMTK's RLE codec decodes them one after another (docs/io.md). Colour
// RLE stays with DCMTK.

#include <cstddef>
#include <cstdint>

namespace lumen::io {

/// "Lumen RLE".
const char* rleDecoderName();

/// Decodes the frame `data` (its 64-byte segment header, then one PackBits segment per byte of
/// a sample, most significant first) into `out`: `pixels` samples of `bytesPerSample` (1 or 2)
/// bytes, little-endian. Throws std::runtime_error saying what is wrong: a header that does
/// not hold `bytesPerSample` segments, an offset outside the frame, a segment that decodes to
/// fewer than `pixels` bytes. Bytes a segment decodes past `pixels` (the encoder's padding)
/// are ignored.
void decodeRleGreyFrame(const std::uint8_t* data, std::size_t size, std::size_t pixels, int bytesPerSample,
                        std::uint8_t* out);

}  // namespace lumen::io
