#pragma once
// The value every reader returns: an image, a cine, a volume or a 4-D series as one plain
// C-order buffer of shape (time, slices/frames, rows, columns, samples), plus geometry and the
// metadata the viewers and the CLI show.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lumen::io {

/// Element type of stored (pre modality LUT) values, as NumPy names it.
enum class StoredType { None, U8, I8, U16, I16, U32, I32, F32, F64 };

/// NumPy dtype string ("<u2", "|u1", "<f4" ...) of a stored type.
std::string numpyDtype(StoredType t);

struct ImageMetadata {
    std::string format;             ///< "DICOM", "NIfTI-1", "NIfTI-2", "PNG", "video" ...
    std::string modality;           ///< DICOM Modality (CT, MR, XA ...), empty if unknown
    std::string photometric;        ///< after decoding: MONOCHROME1/2, RGB, PALETTE COLOR ...
    std::string sourcePhotometric;  ///< as stored in the file (e.g. YBR_FULL_422 before decoding)
    std::string transferSyntax;     ///< DICOM transfer syntax UID
    std::string transferSyntaxName;
    std::string decoder;  ///< what decoded the pixels: "native", "DCMTK RLE", "OpenJPEG" ...
    std::string seriesInstanceUid, studyInstanceUid, sopInstanceUid;
    int bitsAllocated = 0, bitsStored = 0;
    bool pixelSigned = false;
    double rescaleSlope = 1.0, rescaleIntercept = 0.0;
    std::string rescaleType;
    std::optional<double> windowCenter, windowWidth;
    std::optional<double> frameTimeMs;   ///< cines: time between frames
    bool invertForDisplay = false;       ///< MONOCHROME1: high values are dark
    std::optional<long> declaredFrames;  ///< frames the header claims (video: may exceed what decodes)
};

struct ImageVolume {
    /// Shape, outermost first; a 2-D image has time = depth = 1.
    int time = 1;
    int depth = 1;  ///< frames of a cine or slices of a volume
    int rows = 0;
    int columns = 0;
    int samples = 1;        ///< 1 grey, 3 RGB
    bool isVolume = false;  ///< depth is space (slices), not time (frames)

    /// Values in C order [time][depth][rows][columns][samples]: modality LUT applied.
    std::vector<float> values;
    /// Stored values before the modality LUT, as raw little-endian elements of `storedType`
    /// (empty when the format has no separate stored representation).
    std::vector<std::uint8_t> stored;
    StoredType storedType = StoredType::None;

    /// Geometry in DICOM patient coordinates (LPS, mm). spacing = (column, row, slice) step;
    /// direction columns = unit vectors of the column, row and slice axes.
    std::array<double, 3> spacing{1, 1, 1};
    std::array<double, 3> origin{0, 0, 0};
    std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};  ///< row-major 3x3

    ImageMetadata meta;

    std::size_t elementCount() const {
        return std::size_t(time) * std::size_t(depth) * std::size_t(rows) * std::size_t(columns) * std::size_t(samples);
    }
    /// Numpy-style shape: (time,) (depth,) rows, columns (, samples); time/depth only when > 1
    /// (depth is kept for volumes even with one slice).
    std::vector<std::size_t> shape() const;
    std::size_t storedElementSize() const;
};

}  // namespace lumen::io
