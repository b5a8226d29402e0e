#pragma once
// DICOM files (DCMTK): single- and multi-frame, uncompressed (implicit/explicit little,
// big endian, deflate), RLE, JPEG baseline/extended/lossless, JPEG-LS (DCMTK codecs) and
// JPEG 2000 (OpenJPEG). See docs/io.md for conventions.

#include "io/image_volume.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>
#include <string>

namespace lumen::io {

/// What a read makes of the pixels.
enum class PixelValues {
    StoredAndFloat,  ///< stored samples and float values (modality LUT, colour to RGB)
    /// Grey images: the stored samples only (decoded straight into them when the layout
    /// allows); io::ensureValues makes the floats when a consumer asks. Colour: as above.
    StoredFirst,
};

struct DicomReadOptions {
    bool pixels = true;  ///< false: header, geometry and metadata only (rows/columns/frames set, no values)
    PixelValues values = PixelValues::StoredAndFloat;
    /// Empty: every frame. Otherwise (0-based; those past the end are ignored) a stored-first
    /// read of grey native (also deflated), 8-bit JPEG (libjpeg-turbo) or RLE frames reads or
    /// decodes only these and leaves the others zero, for a consumer that wants a clip of a long
    /// cine (angio_multiview's streamed batches). Every other layout reads all frames.
    std::vector<std::int64_t> onlyFrames;
};

/// Reads one DICOM file. values = stored values through the modality LUT (rescale slope and
/// intercept), colour converted to RGB; stored = the stored values (masked to BitsStored,
/// sign-extended). Throws ReadError naming the file and the reason.
ImageVolume readDicom(const std::filesystem::path& path, const DicomReadOptions& options = {});

/// The same from bytes in memory; `label` stands in for the file name in errors.
ImageVolume readDicomBuffer(const void* data, std::size_t size, const std::string& label,
                            const DicomReadOptions& options = {});

/// Threads that decode the frames of one multi-frame file (JPEG/JPEG-LS/RLE grey frames,
/// JPEG 2000 frames, unpacking); 0 = one per core (the default), 1 = serial. Process-wide:
/// callers that already decode many files in parallel (data loader workers) set 1.
void setDicomDecodeThreads(unsigned threads);
unsigned dicomDecodeThreads();

/// True when the file has the DICM magic at byte 128 (files without a preamble exist, but
/// are not recognised by this quick check).
bool looksLikeDicom(const std::filesystem::path& path);

}  // namespace lumen::io
