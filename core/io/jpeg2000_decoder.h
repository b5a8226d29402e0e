#pragma once
// Internal: one JPEG 2000 codestream (J2K or JP2) decoded with OpenJPEG. DCMTK 3.6.7 has no
// JPEG 2000 codec, so the DICOM reader hands its fragments here.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lumen::io {

struct Jpeg2000Image {
    int width = 0, height = 0, components = 0;
    int precision = 0;
    bool isSigned = false;
    std::vector<std::int32_t> samples;  ///< interleaved [row][column][component]
};

/// "OpenJPEG 2.5.0".
std::string jpeg2000DecoderName();

/// The image a caller expects (from the DICOM header).
struct Jpeg2000Shape {
    int width = 0, height = 0, components = 0;
};

/// Throws std::runtime_error with OpenJPEG's reason on failure. With `expected`, the
/// codestream's size (from its SIZ marker) must match before anything is decoded: OpenJPEG
/// allocates what the codestream declares (a fuzzed 1.5 KB frame asked for 17 GB).
/// `threads` > 1 lets OpenJPEG decode the code-blocks of this one image on that many threads
/// (where its build has thread support): how a single-frame file uses more than one core.
Jpeg2000Image decodeJpeg2000(const std::uint8_t* data, std::size_t size, const Jpeg2000Shape* expected = nullptr,
                             int threads = 1);

}  // namespace lumen::io
