#include "io/nifti_reader.h"

#include "io/read_error.h"

#include <nifti2_io.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

namespace lumen::io {

namespace {

// gzip (deflate) cannot expand data by more than ~1032:1; a header declaring more than that
// for a compressed file is corrupt, and refusing it avoids allocating its declared size.
constexpr std::uint64_t kMaxDeflateRatio = 1100;
constexpr std::uint64_t kMaxVolumeBytes = 8ull << 30;

struct NiftiFree {
    void operator()(nifti_image* n) const { nifti_image_free(n); }
};

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

template <typename T>
T readRaw(const unsigned char* p, bool swap) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, p, sizeof(T));
    if (swap) std::reverse(b, b + sizeof(T));
    T v;
    std::memcpy(&v, b, sizeof(T));
    return v;
}

// nifti2_io trusts dim[0] and the dimensions before checking them (a fuzzed NIfTI-2 header
// with dim[0] ~ 7e17 overflowed its stack), so the header is checked here first.
// Returns an empty string when it is sane, else the reason.
std::string checkHeader(const std::filesystem::path& path) {
    std::filesystem::path header = path;
    const std::string name = lower(path.filename().string());
    if (endsWith(name, ".img") || endsWith(name, ".img.gz")) {
        const std::string s = path.string();
        const std::size_t at = s.size() - (endsWith(name, ".gz") ? 6 : 3);
        for (const char* ext : {"hdr", "HDR"}) {
            const std::filesystem::path candidate =
                s.substr(0, at) + ext + (endsWith(name, ".gz") ? s.substr(s.size() - 3) : "");
            std::error_code ec;
            if (std::filesystem::exists(candidate, ec)) header = candidate;
        }
    }
    gzFile f = gzopen(header.c_str(), "rb");  // reads plain files as they are, too
    if (!f) return "cannot open the header " + header.string();
    unsigned char h[540] = {};
    const int n = gzread(f, h, sizeof h);
    gzclose(f);
    if (n < 348) return "header is too short (" + std::to_string(std::max(n, 0)) + " bytes; NIfTI needs 348 or 540)";
    const std::int32_t size = readRaw<std::int32_t>(h, false);
    bool swap = false;
    int version = 0;
    if (size == 348 || size == 540) version = size == 348 ? 1 : 2;
    else if (readRaw<std::int32_t>(h, true) == 348 || readRaw<std::int32_t>(h, true) == 540) {
        swap = true;
        version = readRaw<std::int32_t>(h, true) == 348 ? 1 : 2;
    } else {
        return "not a NIfTI/ANALYZE header (sizeof_hdr is " + std::to_string(size) + ", expected 348 or 540)";
    }
    if (version == 2 && n < 540) return "NIfTI-2 header is truncated";
    std::int64_t dim[8];
    for (int i = 0; i < 8; ++i)
        dim[i] =
            version == 1 ? readRaw<std::int16_t>(h + 40 + 2 * i, swap) : readRaw<std::int64_t>(h + 16 + 8 * i, swap);
    if (dim[0] < 1 || dim[0] > 7) return "dim[0] is " + std::to_string(dim[0]) + ", not 1..7";
    for (int i = 1; i <= dim[0]; ++i)
        if (dim[i] < 1 || dim[i] > (std::int64_t(1) << 31))
            return "dim[" + std::to_string(i) + "] is " + std::to_string(dim[i]);
    return {};
}

}  // namespace

bool looksLikeNifti(const std::filesystem::path& path) {
    const std::string s = lower(path.filename().string());
    for (const char* e : {".nii", ".nii.gz", ".hdr", ".img", ".hdr.gz", ".img.gz"})
        if (endsWith(s, e)) return true;
    return false;
}

struct NiftiSize {
    std::int64_t dims[8] = {0, 1, 1, 1, 1, 1, 1, 1};
    std::uint64_t nvox = 1, bytes = 0;
};

/// The header's dimensions and sizes, every product checked, against the data file's size.
NiftiSize checkedSize(const nifti_image& nimRef, const std::filesystem::path& path) {
    const nifti_image* nim = &nimRef;
    NiftiSize size;
    auto& dims = size.dims;
    std::error_code ec;
    // Dimensions past dim[0] do not exist (nifti2_io may leave them 0): they count as 1.
    for (int d = 1; d <= nim->dim[0]; ++d) {
        if (nim->dim[d] < 1)
            throw ReadError(path, "dimension " + std::to_string(d) + " is " + std::to_string(nim->dim[d]));
        dims[d] = nim->dim[d];
    }
    if (dims[5] > 1 || dims[6] > 1 || dims[7] > 1) throw ReadError(path, "more than 4 dimensions are not supported");
    for (int d = 1; d <= 4; ++d)
        if (dims[d] > (1 << 30)) throw ReadError(path, "dimension " + std::to_string(d) + " is implausibly large");
    if (nim->nbyper <= 0) throw ReadError(path, "unsupported datatype " + std::to_string(nim->datatype));
    // Checked products: four NIfTI-2 dimensions of 2^16 multiply to 2^64, which wrapped to 0.
    std::uint64_t& nvox = size.nvox;
    std::uint64_t& bytes = size.bytes;
    bool overflow = false;
    for (int d = 1; d <= 4; ++d) overflow = overflow || __builtin_mul_overflow(nvox, std::uint64_t(dims[d]), &nvox);
    overflow = overflow || __builtin_mul_overflow(nvox, std::uint64_t(nim->nbyper), &bytes);
    if (overflow || nvox > kMaxVolumeBytes || bytes > kMaxVolumeBytes)
        throw ReadError(path, "declared size " + std::to_string(dims[1]) + "x" + std::to_string(dims[2]) + "x" +
                                  std::to_string(dims[3]) + "x" + std::to_string(dims[4]) + " is implausibly large");
    const std::filesystem::path dataFile = nim->iname ? std::filesystem::path(nim->iname) : path;
    const std::uint64_t dataFileSize = std::filesystem::file_size(dataFile, ec);
    if (ec) throw ReadError(path, "image data file " + dataFile.string() + " is missing");
    if (nifti_is_gzfile(dataFile.c_str())) {
        if (bytes > dataFileSize * kMaxDeflateRatio + 65536)
            throw ReadError(path, "declares " + std::to_string(bytes) + " bytes of voxels, more than " +
                                      std::to_string(dataFileSize) + " compressed bytes can hold");
    } else if (std::uint64_t(std::max<int64_t>(nim->iname_offset, 0)) + bytes > dataFileSize) {
        throw ReadError(path, "declares " + std::to_string(bytes) + " bytes of voxels but the data file has only " +
                                  std::to_string(dataFileSize) + " (truncated?)");
    }
    return size;
}

/// Format, photometric, bits, rescale, frame time and window from the header.
/// Returns whether scl_slope / scl_inter apply.
bool fillMeta(const nifti_image& nimRef, const std::filesystem::path& path, const NiftiSize& size, ImageVolume& v) {
    const nifti_image* nim = &nimRef;
    const auto& dims = size.dims;
    auto& m = v.meta;
    int version = 0;
    std::free(nifti_read_header(path.c_str(), &version, 0));  // nifti_type does not tell 1 from 2
    m.format = nim->nifti_type == NIFTI_FTYPE_ANALYZE ? "ANALYZE-7.5" : version == 2 ? "NIfTI-2" : "NIfTI-1";
    m.photometric = v.samples == 3 ? "RGB" : "MONOCHROME2";
    m.sourcePhotometric = m.photometric;
    m.decoder = "nifti2_io";
    m.bitsAllocated = int(v.storedElementSize() * 8);
    m.bitsStored = m.bitsAllocated;
    m.pixelSigned =
        v.storedType == StoredType::I8 || v.storedType == StoredType::I16 || v.storedType == StoredType::I32;
    const bool scaled = nim->scl_slope != 0.0 && std::isfinite(nim->scl_slope) && std::isfinite(nim->scl_inter);
    m.rescaleSlope = scaled ? nim->scl_slope : 1.0;
    m.rescaleIntercept = scaled ? nim->scl_inter : 0.0;
    if (dims[4] > 1 && nim->dt > 0)
        m.frameTimeMs = nim->dt * (nim->time_units == NIFTI_UNITS_SEC    ? 1000.0
                                   : nim->time_units == NIFTI_UNITS_USEC ? 0.001
                                                                         : 1.0);
    if (nim->cal_max > nim->cal_min) {
        m.windowCenter = (double(nim->cal_max) + nim->cal_min) / 2;
        m.windowWidth = double(nim->cal_max) - nim->cal_min;
    }
    return scaled;
}

/// nibabel's choice of affine (sform, else qform, else pixdim) as LPS spacing, direction, origin.
void fillGeometry(const nifti_image& nimRef, ImageVolume& v) {
    const nifti_image* nim = &nimRef;
    // nibabel's choice: sform when its code is set, else qform, else pixdim scaling.
    double a[4][4] = {
        {std::fabs(nim->dx), 0, 0, 0}, {0, std::fabs(nim->dy), 0, 0}, {0, 0, std::fabs(nim->dz), 0}, {0, 0, 0, 1}};
    if (nim->sform_code > 0) std::memcpy(a, nim->sto_xyz.m, sizeof a);
    else if (nim->qform_code > 0) std::memcpy(a, nim->qto_xyz.m, sizeof a);
    for (int c = 0; c < 3; ++c) {
        double len = 0;
        for (int r = 0; r < 3; ++r) len += a[r][c] * a[r][c];
        len = std::sqrt(len);
        v.spacing[std::size_t(c)] = len > 0 ? len : 1.0;
        for (int r = 0; r < 3; ++r) {
            const double lps = (r < 2 ? -1.0 : 1.0) * a[r][c];
            v.direction[std::size_t(r * 3 + c)] = len > 0 ? lps / len : (r == c ? 1.0 : 0.0);
        }
    }
    for (int r = 0; r < 3; ++r) v.origin[std::size_t(r)] = (r < 2 ? -1.0 : 1.0) * a[r][3];
}

ImageVolume readNifti(const std::filesystem::path& path) {
    static std::once_flag quiet;
    std::call_once(quiet, [] { nifti_set_debug_level(0); });
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw ReadError(path, "no such file");
    if (std::filesystem::file_size(path, ec) == 0) throw ReadError(path, "empty file");
    if (const std::string problem = checkHeader(path); !problem.empty()) throw ReadError(path, problem);
    std::unique_ptr<nifti_image, NiftiFree> nim(nifti_image_read(path.c_str(), 0));
    if (!nim) throw ReadError(path, "not a readable NIfTI-1/NIfTI-2 header (wrong magic, size or dimensions)");
    if (nim->nifti_type == NIFTI_FTYPE_ASCII) throw ReadError(path, "ASCII NIfTI is not supported");
    if (nim->dim[0] < 1 || nim->dim[0] > 7)
        throw ReadError(path, "dim[0] = " + std::to_string(nim->dim[0]) + " is not 1..7");
    const NiftiSize size = checkedSize(*nim, path);
    const auto& dims = size.dims;
    const std::uint64_t nvox = size.nvox, bytes = size.bytes;

    ImageVolume v;
    v.storedType = StoredType::None;
    v.samples = 1;
    switch (nim->datatype) {
    case DT_UINT8: v.storedType = StoredType::U8; break;
    case DT_INT8: v.storedType = StoredType::I8; break;
    case DT_INT16: v.storedType = StoredType::I16; break;
    case DT_UINT16: v.storedType = StoredType::U16; break;
    case DT_INT32: v.storedType = StoredType::I32; break;
    case DT_UINT32: v.storedType = StoredType::U32; break;
    case DT_FLOAT32: v.storedType = StoredType::F32; break;
    case DT_FLOAT64: v.storedType = StoredType::F64; break;
    case DT_RGB24:
        v.storedType = StoredType::U8;
        v.samples = 3;
        break;
    default: throw ReadError(path, std::string("unsupported NIfTI datatype ") + nifti_datatype_string(nim->datatype));
    }

    if (nifti_image_load(nim.get()) != 0 || !nim->data)
        throw ReadError(path, "cannot read the voxel data (truncated or corrupt)");

    v.columns = int(dims[1]);
    v.rows = int(dims[2]);
    v.depth = int(dims[3]);
    v.time = int(dims[4]);
    v.isVolume = true;
    const bool scaled = fillMeta(*nim, path, size, v);

    const std::size_t n = std::size_t(nvox) * std::size_t(v.samples);
    const auto* src = static_cast<const std::uint8_t*>(nim->data);
    v.stored.assign(src, src + std::size_t(bytes));  // nifti2_io already swapped to host (little-endian) order
    v.values.resize(n);
    auto convert = [&](auto tag) {
        using T = decltype(tag);
        for (std::size_t i = 0; i < n; ++i) {
            T x;
            std::memcpy(&x, src + i * sizeof(T), sizeof(T));
            v.values[i] = scaled ? float(double(x) * nim->scl_slope + nim->scl_inter) : float(x);
        }
    };
    switch (v.storedType) {
    case StoredType::U8: convert(std::uint8_t{}); break;
    case StoredType::I8: convert(std::int8_t{}); break;
    case StoredType::U16: convert(std::uint16_t{}); break;
    case StoredType::I16: convert(std::int16_t{}); break;
    case StoredType::U32: convert(std::uint32_t{}); break;
    case StoredType::I32: convert(std::int32_t{}); break;
    case StoredType::F32: convert(float{}); break;
    case StoredType::F64: convert(double{}); break;
    case StoredType::None: break;
    }

    fillGeometry(*nim, v);
    return v;
}

std::array<double, 16> rasAffine(const ImageVolume& v) {
    std::array<double, 16> a{};
    for (int r = 0; r < 3; ++r) {
        const double flip = r < 2 ? -1.0 : 1.0;
        for (int c = 0; c < 3; ++c)
            a[std::size_t(r * 4 + c)] = flip * v.direction[std::size_t(r * 3 + c)] * v.spacing[std::size_t(c)];
        a[std::size_t(r * 4 + 3)] = flip * v.origin[std::size_t(r)];
    }
    a[15] = 1;
    return a;
}

}  // namespace lumen::io
