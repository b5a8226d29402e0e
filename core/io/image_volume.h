#pragma once
// The value every reader returns: an image, a cine, a volume or a 4-D series as one plain
// C-order buffer of shape (time, slices/frames, rows, columns, samples), plus geometry and the
// metadata the viewers and the CLI show.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lumen::io {

/// Element type of stored (pre modality LUT) values, as NumPy names it.
enum class StoredType { None, U8, I8, U16, I16, U32, I32, F32, F64 };

/// NumPy dtype string ("<u2", "|u1", "<f4" ...) of a stored type.
std::string numpyDtype(StoredType t);

/// std::allocator whose resize leaves new elements uninitialised: decoders overwrite every
/// byte, and zero-filling a 25 MB cine first is one more pass over memory per read.
template <typename T>
struct UninitAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
        using other = UninitAllocator<U>;
    };
    UninitAllocator() = default;
    template <typename U>
    UninitAllocator(const UninitAllocator<U>&) noexcept {}
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        if constexpr (sizeof...(Args) == 0) ::new (static_cast<void*>(p)) U;
        else ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

/// Raw little-endian stored elements.
using StoredBytes = std::vector<std::uint8_t, UninitAllocator<std::uint8_t>>;

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

    /// Values in C order [time][depth][rows][columns][samples]: modality LUT applied. Empty
    /// after a stored-first DICOM read (DicomReadOptions::values) until ensureValues().
    std::vector<float> values;
    /// Stored values before the modality LUT, as raw little-endian elements of `storedType`
    /// (empty when the format has no separate stored representation).
    StoredBytes stored;
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

/// Makes `values` from `stored` when a stored-first read left them empty (grey images: the
/// stored samples through the modality rescale, exactly as a full read computes them); no-op
/// otherwise. Returns the values.
std::vector<float>& ensureValues(ImageVolume& v);

/// True when the modality rescale changes values (slope != 1 or intercept != 0).
bool hasRescale(const ImageMetadata& m);

}  // namespace lumen::io
