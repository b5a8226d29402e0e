#pragma once
// Internal to lumen_core (includes DCMTK): the one way Lumen hands a DICOM file to DCMTK.
// Deflated datasets are inflated here, with a size limit, before DCMTK sees them: DCMTK reads
// a deflate stream without knowing how many bytes remain, so it believes any declared element
// length and allocates it (docs/fuzzing.md). Inflated into a scratch file, the dataset gets
// DCMTK's file checks (lengths against the bytes left, lazy loading of large values).

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace lumen::io::detail {

/// Inflated datasets larger than this are refused (real deflated objects are structured
/// reports and small images; a bigger one is a bomb or corrupt).
inline constexpr std::uint64_t kMaxInflatedBytes = 512ull << 20;

struct LoadedDicom {
    E_TransferSyntax transferSyntax = EXS_Unknown;  ///< as the file declares it (deflate stays deflate)
};

/// Loads `path` into `file`, stopping before Pixel Data when `headerOnly`. Throws ReadError
/// naming the file: not DICOM, truncated, or a deflated dataset that inflates past the limit.
LoadedDicom loadDicomFile(const std::filesystem::path& path, DcmFileFormat& file, bool headerOnly,
                          const std::string& label);

/// Registers DCMTK's decoders (JPEG, JPEG-LS, RLE) and quiets its logger, once per process.
void registerDicomCodecs();

}  // namespace lumen::io::detail
