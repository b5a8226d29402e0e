#include "io/dicom_reader.h"
#include "util/parallel.h"

#include "io/dicom_load.h"
#include "io/jpeg2000_decoder.h"
#include "io/jpeg_turbo_decoder.h"
#include "io/read_error.h"
#include "io/rle_decoder.h"
#include "util/huge_pages.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <bit>
#include <span>
#include <cmath>
#include <type_traits>
#include <cstring>
#include <fstream>
#include <mutex>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>
#include <unistd.h>

namespace lumen::io {

namespace {

// Decoding 4 GiB of stored pixels is beyond any file this tool is for; a header declaring
// more is treated as corrupt rather than allowed to exhaust memory.
constexpr std::uint64_t kMaxPixelBytes = 4ull << 30;

std::atomic<unsigned> g_decodeThreads{0};

// Frames are independent: [0, frames) is cut into one contiguous range per thread. Small
// images stay on the calling thread (starting threads costs more than they save), as does
// work already running on many threads (the loader's workers set 1). The first exception
// wins and is rethrown here.
template <typename F>
void forEachFrameRange(long frames, std::uint64_t samples, const F& work) {
    const unsigned threads = std::min<unsigned>(dicomDecodeThreads(), unsigned(std::max(1L, frames)));
    if (threads <= 1 || samples < (1u << 18)) {
        work(0L, frames);
        return;
    }
    const long chunk = (frames + long(threads) - 1) / long(threads);
    const auto ranges = std::size_t((frames + chunk - 1) / chunk);
    util::parallelFor(ranges, threads, [&](std::size_t t) {
        const long begin = long(t) * chunk;
        work(begin, std::min(frames, begin + chunk));
    });
}

std::string getString(DcmItem* ds, const DcmTagKey& tag) {
    OFString s;
    if (ds->findAndGetOFString(tag, s).good()) {
        std::string out = s.c_str();
        while (!out.empty() && out.back() == ' ') out.pop_back();
        return out;
    }
    return {};
}

std::optional<double> getDouble(DcmItem* ds, const DcmTagKey& tag, unsigned long pos = 0) {
    Float64 v = 0;
    if (ds->findAndGetFloat64(tag, v, pos).good() && std::isfinite(v)) return v;
    return std::nullopt;
}

long getInt(DcmItem* ds, const DcmTagKey& tag, long fallback) {
    Uint16 u = 0;
    if (ds->findAndGetUint16(tag, u).good()) return u;
    Sint32 s = 0;
    if (ds->findAndGetSint32(tag, s).good()) return s;
    return fallback;
}

struct PixelLayout {
    long rows = 0, columns = 0, frames = 1, samples = 1;
    long bitsAllocated = 0, bitsStored = 0, highBit = 0;
    bool isSigned = false;
    long planar = 0;
    std::string photometric;
};

StoredType storedTypeFor(long bitsAllocated, bool isSigned) {
    if (bitsAllocated <= 8) return isSigned ? StoredType::I8 : StoredType::U8;
    if (bitsAllocated == 16) return isSigned ? StoredType::I16 : StoredType::U16;
    return isSigned ? StoredType::I32 : StoredType::U32;
}

// Stored value of sample i from raw little-endian bytes, masked to BitsStored and sign-extended.
struct SampleDecoder {
    const std::uint8_t* data;
    long bitsAllocated, bitsStored, shift;
    bool isSigned;
    std::int64_t get(std::size_t i) const {
        std::uint32_t raw = 0;
        switch (bitsAllocated) {
        case 1: raw = (data[i / 8] >> (i % 8)) & 1u; break;
        case 8: raw = data[i]; break;
        case 16: raw = std::uint32_t(data[2 * i]) | std::uint32_t(data[2 * i + 1]) << 8; break;
        default:
            raw = std::uint32_t(data[4 * i]) | std::uint32_t(data[4 * i + 1]) << 8 |
                  std::uint32_t(data[4 * i + 2]) << 16 | std::uint32_t(data[4 * i + 3]) << 24;
        }
        raw >>= shift;
        if (bitsStored < 32) raw &= (std::uint32_t(1) << bitsStored) - 1;
        if (isSigned && bitsStored < 64) {
            const std::int64_t v = raw;
            const std::int64_t sign = std::int64_t(1) << (bitsStored - 1);
            return (v ^ sign) - sign;
        }
        return raw;
    }
};

// Samples [begin, end) of little-endian elements of type Raw: shifted to the stored bits,
// masked, sign-extended; written as stored elements of the same width and (WithValues) as floats.
template <typename Raw, bool WithValues>
void unpackSamples(const std::uint8_t* raw, std::size_t begin, std::size_t end, long shift, long bitsStored,
                   bool isSigned, std::uint8_t* storedOut, float* values) {
    static_assert(std::endian::native == std::endian::little, "stored values are little-endian");
    using Wide = std::uint64_t;
    const Wide mask = bitsStored >= 64 ? ~Wide(0) : (Wide(1) << bitsStored) - 1;
    const Wide sign = Wide(1) << (bitsStored - 1);
    const bool plain = shift == 0 && bitsStored == long(8 * sizeof(Raw));
    for (std::size_t i = begin; i < end; ++i) {
        Raw r;
        std::memcpy(&r, raw + i * sizeof(Raw), sizeof(Raw));
        std::int64_t value;
        if (plain) {
            value = isSigned ? std::int64_t(std::make_signed_t<Raw>(r)) : std::int64_t(r);
        } else {
            const Wide u = (Wide(r) >> shift) & mask;
            value = isSigned ? std::int64_t((u ^ sign) - sign) : std::int64_t(u);
        }
        const Raw out = Raw(value);
        std::memcpy(storedOut + i * sizeof(Raw), &out, sizeof(Raw));
        if constexpr (WithValues) values[i] = float(value);
    }
}

void putStored(StoredBytes& out, std::size_t i, std::int64_t v, std::size_t size) {
    const auto u = std::uint64_t(v);
    for (std::size_t b = 0; b < size; ++b) out[i * size + b] = std::uint8_t(u >> (8 * b));
}

// pydicom's YBR_FULL -> RGB (PS3.3 C.7.6.3.1.2), so both give the same bytes.
void ybrToRgb(std::vector<float>& values) {
    for (std::size_t i = 0; i + 2 < values.size(); i += 3) {
        const double y = values[i], cb = values[i + 1] - 128.0, cr = values[i + 2] - 128.0;
        const double r = y + 1.402 * cr;
        const double g = y - 0.114 * 1.772 / 0.587 * cb - 0.299 * 1.402 / 0.587 * cr;
        const double b = y + 1.772 * cb;
        auto clip = [](double x) { return float(std::clamp(std::floor(x + 0.5), 0.0, 255.0)); };
        values[i] = clip(r);
        values[i + 1] = clip(g);
        values[i + 2] = clip(b);
    }
}

// Compressed pixel data expands, but not without bound: even blank frames stay above a few
// hundred bytes per megabyte. A header declaring more than kMaxExpansion times the fragments'
// bytes (and more than kMinDecodedBudget) is corrupt: without this check a 3 KB fuzzed file
// declaring 30000 x 60000 pixels made the reader allocate 14 GB before decoding anything.
constexpr std::uint64_t kMaxExpansion = 10000;
constexpr std::uint64_t kMinDecodedBudget = 64ull << 20;

std::uint64_t encapsulatedBytes(DcmPixelData* pixelData, E_TransferSyntax xfer) {
    DcmPixelSequence* seq = nullptr;
    if (pixelData->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || !seq) return 0;
    std::uint64_t total = 0;
    for (unsigned long i = 0; i < seq->card(); ++i) {
        DcmPixelItem* item = nullptr;
        if (seq->getItem(item, i).good() && item) total += item->getLength();
    }
    return total;
}

// DCMTK's JPEG (IJG) decoder first scans a frame's header for its bit depth
// (DJCodecDecoder::scanJpegDataForBitDepth), and a malformed fragment made that scan loop
// forever (found by fuzz_dicom: a fragment starting FF 01 00 00). A JPEG frame's header is
// SOI, then length-carrying segments up to a start-of-frame marker: each fragment that starts
// a frame must read so, or the file is refused before DCMTK sees it.
bool isIjgJpeg(const std::string& xferUid) {
    static const std::string jpeg = "1.2.840.10008.1.2.4.";
    if (xferUid.rfind(jpeg, 0) != 0) return false;
    const std::string rest = xferUid.substr(jpeg.size());
    return (rest.size() == 2 && (rest[0] == '5' || rest[0] == '6')) || rest == "70";
}

std::string jpegHeaderProblem(const Uint8* p, std::size_t n) {
    if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) return "does not start with a JPEG SOI marker";
    std::size_t off = 2;
    while (off + 4 <= n) {
        if (p[off] != 0xFF) return "no JPEG marker at byte " + std::to_string(off);
        const Uint8 m = p[off + 1];
        const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof) return {};
        if (m < 0xC0 || (m >= 0xD0 && m <= 0xDA) || m == 0xFF)
            return "JPEG marker FF " + std::to_string(int(m)) + " before the start of frame at byte " +
                   std::to_string(off);
        const std::size_t len = (std::size_t(p[off + 2]) << 8) | p[off + 3];
        if (len < 2) return "JPEG segment of length " + std::to_string(len) + " at byte " + std::to_string(off);
        off += 2 + len;
    }
    return "no JPEG start-of-frame marker";
}

void checkJpegFragments(DcmPixelData* pixelData, E_TransferSyntax xfer, long frames, const std::string& label) {
    DcmPixelSequence* seq = nullptr;
    if (pixelData->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || !seq) return;
    const unsigned long items = seq->card();
    for (unsigned long i = 1; i < items; ++i) {
        DcmPixelItem* item = nullptr;
        Uint8* p = nullptr;
        if (seq->getItem(item, i).bad() || !item || item->getLength() == 0) continue;
        if (item->getUint8Array(p).bad() || !p) continue;
        // The first fragment starts a frame; with one fragment per frame, every one does.
        const bool startsFrame =
            i == 1 || long(items - 1) == frames || (p[0] == 0xFF && item->getLength() > 1 && p[1] == 0xD8);
        if (!startsFrame) continue;
        if (const auto problem = jpegHeaderProblem(p, item->getLength()); !problem.empty())
            throw ReadError(label, "pixel data fragment " + std::to_string(i) + " " + problem + " (corrupt JPEG data)");
    }
}

// One frame's compressed bytes: a view of DCMTK's fragment when the frame is one fragment (no
// copy of a 25 MB cine), else the fragments joined.
struct FrameBytes {
    const std::uint8_t* begin = nullptr;
    std::size_t length = 0;
    std::vector<std::uint8_t> joined;
    const std::uint8_t* data() const { return joined.empty() ? begin : joined.data(); }
    std::size_t size() const { return joined.empty() ? length : joined.size(); }
};

std::vector<FrameBytes> splitEncapsulatedFrames(DcmPixelSequence* seq, long frames, std::uint8_t startMarker,
                                                const std::string& label) {
    const unsigned long items = seq->card();
    if (items < 2) throw ReadError(label, "encapsulated pixel data has no fragments");
    std::vector<std::pair<const std::uint8_t*, std::size_t>> fragments;
    for (unsigned long i = 1; i < items; ++i) {
        DcmPixelItem* item = nullptr;
        Uint8* p = nullptr;
        if (seq->getItem(item, i).bad() || !item) throw ReadError(label, "unreadable pixel data fragment");
        const std::size_t len = item->getLength();
        if (len > 0 && (item->getUint8Array(p).bad() || !p)) throw ReadError(label, "unreadable pixel data fragment");
        fragments.emplace_back(p, len);
    }
    std::vector<FrameBytes> out;
    if (long(fragments.size()) == frames || (frames == 1 && fragments.size() == 1)) {
        for (auto& [p, n] : fragments) out.push_back({p, n, {}});
    } else if (frames == 1) {
        out.emplace_back();
        for (auto& [p, n] : fragments) out.back().joined.insert(out.back().joined.end(), p, p + n);
    } else {
        // Several fragments per frame: a frame starts with a fragment beginning with its
        // codestream's start marker (JPEG 2000 SOC FF 4F, JPEG SOI FF D8).
        for (auto& [p, n] : fragments) {
            if (out.empty() || (n >= 2 && p[0] == 0xFF && p[1] == startMarker)) out.emplace_back();
            out.back().joined.insert(out.back().joined.end(), p, p + n);
        }
    }
    if (long(out.size()) < frames)
        throw ReadError(label, "encapsulated pixel data holds " + std::to_string(out.size()) +
                                   " frames, NumberOfFrames says " + std::to_string(frames));
    out.resize(std::size_t(frames));
    return out;
}

// Rows, Columns, frames, samples and bit depths from the dataset, checked: each refusal names
// the attribute and its value.
PixelLayout readLayout(DcmItem* ds, const std::string& label) {
    PixelLayout L;
    L.rows = getInt(ds, DCM_Rows, 0);
    L.columns = getInt(ds, DCM_Columns, 0);
    L.frames = getInt(ds, DCM_NumberOfFrames, 1);
    L.samples = getInt(ds, DCM_SamplesPerPixel, 1);
    L.bitsAllocated = getInt(ds, DCM_BitsAllocated, 0);
    L.bitsStored = getInt(ds, DCM_BitsStored, L.bitsAllocated);
    L.highBit = getInt(ds, DCM_HighBit, L.bitsStored - 1);
    L.isSigned = getInt(ds, DCM_PixelRepresentation, 0) == 1;
    L.planar = getInt(ds, DCM_PlanarConfiguration, 0);
    L.photometric = getString(ds, DCM_PhotometricInterpretation);
    if (L.rows <= 0 || L.columns <= 0) throw ReadError(label, "missing or zero Rows/Columns");
    if (L.frames <= 0) throw ReadError(label, "NumberOfFrames " + std::to_string(L.frames) + " is not positive");
    if (L.samples != 1 && L.samples != 3)
        throw ReadError(label, "SamplesPerPixel " + std::to_string(L.samples) + " is not 1 or 3");
    if (L.bitsAllocated != 1 && L.bitsAllocated != 8 && L.bitsAllocated != 16 && L.bitsAllocated != 32)
        throw ReadError(label, "BitsAllocated " + std::to_string(L.bitsAllocated) + " is not supported (1, 8, 16, 32)");
    if (L.bitsStored < 1 || L.bitsStored > L.bitsAllocated)
        throw ReadError(label, "BitsStored " + std::to_string(L.bitsStored) + " does not fit BitsAllocated");
    if (L.highBit < L.bitsStored - 1 || L.highBit >= L.bitsAllocated) L.highBit = L.bitsStored - 1;
    return L;
}

// Identity, pixel representation, rescale, window and cine timing into the metadata.
void readMeta(DcmItem* ds, const PixelLayout& L, const DcmXfer& xf, ImageMetadata& m) {
    m.format = "DICOM";
    m.transferSyntax = xf.getXferID();
    m.transferSyntaxName = xf.getXferName();
    m.modality = getString(ds, DCM_Modality);
    m.seriesInstanceUid = getString(ds, DCM_SeriesInstanceUID);
    m.studyInstanceUid = getString(ds, DCM_StudyInstanceUID);
    m.sopInstanceUid = getString(ds, DCM_SOPInstanceUID);
    m.sourcePhotometric = L.photometric;
    m.photometric = L.photometric;
    m.bitsAllocated = int(L.bitsAllocated);
    m.bitsStored = int(L.bitsStored);
    m.pixelSigned = L.isSigned;
    m.declaredFrames = L.frames;
    if (auto s = getDouble(ds, DCM_RescaleSlope)) m.rescaleSlope = *s;
    if (auto i = getDouble(ds, DCM_RescaleIntercept)) m.rescaleIntercept = *i;
    m.rescaleType = getString(ds, DCM_RescaleType);
    m.windowCenter = getDouble(ds, DCM_WindowCenter);
    m.windowWidth = getDouble(ds, DCM_WindowWidth);
    if (auto ft = getDouble(ds, DCM_FrameTime); ft && *ft > 0) m.frameTimeMs = ft;
    else if (auto rate = getDouble(ds, DCM_CineRate); rate && *rate > 0) m.frameTimeMs = 1000.0 / *rate;
    else if (auto r2 = getDouble(ds, DCM_RecommendedDisplayFrameRate); r2 && *r2 > 0) m.frameTimeMs = 1000.0 / *r2;
    m.invertForDisplay = L.photometric == "MONOCHROME1";
}

// Spacing, origin and direction (LPS): IOP gives the column (x along a row) and row directions.
void readGeometry(DcmItem* ds, ImageVolume& v) {
    if (auto ps = getDouble(ds, DCM_PixelSpacing, 0)) {
        v.spacing[1] = *ps;
        v.spacing[0] = getDouble(ds, DCM_PixelSpacing, 1).value_or(*ps);
    }
    if (auto sb = getDouble(ds, DCM_SpacingBetweenSlices)) v.spacing[2] = *sb;
    else if (auto st = getDouble(ds, DCM_SliceThickness)) v.spacing[2] = *st;
    for (unsigned long i = 0; i < 3; ++i)
        if (auto p = getDouble(ds, DCM_ImagePositionPatient, i)) v.origin[i] = *p;
    std::array<double, 6> iop{};
    for (unsigned long i = 0; i < 6; ++i) {
        auto o = getDouble(ds, DCM_ImageOrientationPatient, i);
        if (!o) return;
        iop[i] = *o;
    }
    const double n0 = iop[1] * iop[5] - iop[2] * iop[4], n1 = iop[2] * iop[3] - iop[0] * iop[5],
                 n2 = iop[0] * iop[4] - iop[1] * iop[3];
    v.direction = {iop[0], iop[3], n0, iop[1], iop[4], n1, iop[2], iop[5], n2};
}

// What one decode needs to know about sizes, computed once from the layout.
struct DecodePlan {
    bool ybr422 = false, isJ2k = false;
    std::uint64_t pixelsPerFrame = 0, samplesTotal = 0, bytesNeeded = 0;
    std::size_t perFrame() const { return std::size_t(pixelsPerFrame) * std::size_t(samples); }
    long samples = 1;
};

std::string declaredSize(const PixelLayout& L) {
    return std::to_string(L.rows) + "x" + std::to_string(L.columns) + "x" + std::to_string(L.frames);
}

// The sizes the header declares, refused when implausible for any file, or (encapsulated)
// more than the compressed bytes can hold.
DecodePlan planDecode(const PixelLayout& L, E_TransferSyntax xfer, DcmPixelData* pixelData, const std::string& label) {
    const DcmXfer xf(xfer);
    DecodePlan p;
    p.samples = L.samples;
    p.ybr422 = L.photometric == "YBR_FULL_422" && !xf.isEncapsulated();
    p.isJ2k = xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000 ||
              xfer == EXS_JPEG2000MulticomponentLosslessOnly || xfer == EXS_JPEG2000Multicomponent;
    p.pixelsPerFrame = std::uint64_t(L.rows) * std::uint64_t(L.columns);
    p.samplesTotal = p.pixelsPerFrame * std::uint64_t(L.samples) * std::uint64_t(L.frames);
    p.bytesNeeded = L.bitsAllocated == 1
                        ? (p.samplesTotal + 7) / 8
                        : (p.ybr422 ? p.pixelsPerFrame * 2 * std::uint64_t(L.frames) : p.samplesTotal) *
                              std::uint64_t(L.bitsAllocated / 8);
    if (p.bytesNeeded > kMaxPixelBytes || p.samplesTotal * 4 > kMaxPixelBytes * 2)
        throw ReadError(label, "declared image size " + declaredSize(L) + " is implausibly large");
    if (xf.isEncapsulated() && isIjgJpeg(xf.getXferID())) checkJpegFragments(pixelData, xfer, long(L.frames), label);
    if (xf.isEncapsulated()) {
        const std::uint64_t compressed = encapsulatedBytes(pixelData, xfer);
        if (p.bytesNeeded > std::max(kMinDecodedBudget, compressed * kMaxExpansion))
            throw ReadError(label, "declared image size " + declaredSize(L) + " needs " +
                                       std::to_string(p.bytesNeeded) + " bytes, more than " +
                                       std::to_string(compressed) + " compressed bytes can hold (corrupt header?)");
    }
    return p;
}

// The codestream's signedness can disagree with PixelRepresentation (seen in the wild): the
// dataset wins, the codestream's precision says where the sign bit is.
std::int64_t j2kSample(std::int64_t s, bool datasetSigned, const Jpeg2000Image& img) {
    const int prec = std::clamp(img.precision, 1, 32);
    if (datasetSigned && !img.isSigned && prec < 32) {
        s &= (std::int64_t(1) << prec) - 1;
        const std::int64_t sign = std::int64_t(1) << (prec - 1);
        return (s ^ sign) - sign;
    }
    if (!datasetSigned && img.isSigned && s < 0) return s & ((std::int64_t(1) << prec) - 1);
    return s;
}

// A compressed JPEG 2000 frame at least this big also decodes on the threads its frames leave idle.
constexpr std::size_t kJ2kThreadedBytes = 64 * 1024;

// JPEG 2000 frames through OpenJPEG, in parallel; every frame must match the header's shape.
std::vector<std::int64_t> decodeJ2k(DcmPixelData* pixelData, E_TransferSyntax xfer, const PixelLayout& L,
                                    const DecodePlan& p, const std::string& label) {
    DcmPixelSequence* seq = nullptr;
    if (pixelData->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || !seq)
        throw ReadError(label, "JPEG 2000 pixel data is not encapsulated");
    const auto frames = splitEncapsulatedFrames(seq, L.frames, 0x4F, label);
    std::vector<std::int64_t> values(std::size_t(p.samplesTotal));
    // Threads the frames leave idle (one frame, two cores) go into each frame's code-blocks, for
    // codestreams big enough to pay for OpenJPEG's thread pool: measured on AMD EPYC, a 138 KB
    // lossless 512² frame 25 -> 15 ms on two threads, a 30 KB 400² RGB one 9 -> 25 ms, a 3.5 KB
    // lossy 512² one 2.4 -> 3.2 ms (docs/benchmarks.md).
    const unsigned threads = dicomDecodeThreads();
    std::size_t smallest = frames.empty() ? 0 : frames.front().size();
    for (const auto& f : frames) smallest = std::min(smallest, f.size());
    const int blockThreads =
        frames.size() < threads && smallest >= kJ2kThreadedBytes ? int(threads / frames.size()) : 1;
    forEachFrameRange(long(frames.size()), p.samplesTotal, [&](long first, long last) {
        for (std::size_t f = std::size_t(first); f < std::size_t(last); ++f) {
            Jpeg2000Image img;
            try {
                const Jpeg2000Shape shape{int(L.columns), int(L.rows), int(L.samples)};
                img = decodeJpeg2000(frames[f].data(), frames[f].size(), &shape, blockThreads);
            } catch (const std::exception& e) {
                throw ReadError(label, "frame " + std::to_string(f + 1) + ": " + e.what());
            }
            if (img.width != L.columns || img.height != L.rows || img.components != L.samples)
                throw ReadError(label, "frame " + std::to_string(f + 1) + ": JPEG 2000 image is " +
                                           std::to_string(img.width) + "x" + std::to_string(img.height) + "x" +
                                           std::to_string(img.components) + ", the header says " +
                                           std::to_string(L.columns) + "x" + std::to_string(L.rows) + "x" +
                                           std::to_string(L.samples));
            const std::size_t base = f * p.perFrame();
            for (std::size_t i = 0; i < img.samples.size(); ++i)
                values[base + i] = j2kSample(img.samples[i], L.isSigned, img);
        }
    });
    return values;
}

// The fragments of encapsulated pixel data, all loaded into memory; `what` names the codec in
// the error.
DcmPixelSequence* loadedFragments(DcmPixelData* pixelData, E_TransferSyntax xfer, const std::string& what,
                                  const std::string& label) {
    DcmPixelSequence* seq = nullptr;
    if (pixelData->loadAllDataIntoMemory().bad() ||
        pixelData->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || !seq)
        throw ReadError(label, what + " pixel data is not encapsulated (or truncated)");
    return seq;
}

// Grey 8-bit JPEG baseline/extended frames through libjpeg-turbo, in parallel (one
// decompressor per thread), into `raw` as the stored bytes. Faster than DCMTK's IJG 6b, which
// must also run serially (docs/io.md, docs/benchmarks.md).
bool turboJpegEligible(E_TransferSyntax xfer, const PixelLayout& L) {
    return DcmXfer(xfer).isEncapsulated() && turboJpegHandles(DcmXfer(xfer).getXferID()) && L.samples == 1 &&
           L.bitsAllocated == 8 && L.bitsStored <= 8;
}

// The frames to decode of `frames`: all, or those of `only` that exist (DicomReadOptions::onlyFrames).
std::vector<std::size_t> framesToDecode(std::size_t frames, const std::vector<std::int64_t>& only) {
    std::vector<std::size_t> out;
    for (std::size_t f = 0; f < frames && only.empty(); ++f) out.push_back(f);
    for (const auto f : only)
        if (f >= 0 && std::size_t(f) < frames) out.push_back(std::size_t(f));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// Zeroes the frames of `out` (`frameBytes` each) that `which` (sorted) leaves out: the stored
// buffer is not initialised.
void zeroFramesNotIn(const std::vector<std::size_t>& which, std::size_t frames, std::size_t frameBytes,
                     std::uint8_t* out) {
    for (std::size_t f = 0, k = 0; f < frames; ++f) {
        if (k < which.size() && which[k] == f) ++k;
        else std::memset(out + f * frameBytes, 0, frameBytes);
    }
}

// `out` holds plan.samplesTotal bytes, zero where a frame is not decoded.
void decodeTurboJpeg(DcmPixelData* pixelData, E_TransferSyntax xfer, const PixelLayout& L, const DecodePlan& p,
                     const std::string& label, std::uint8_t* out, const std::vector<std::int64_t>& only = {}) {
    DcmPixelSequence* seq = loadedFragments(pixelData, xfer, "JPEG", label);
    const auto frames = splitEncapsulatedFrames(seq, L.frames, 0xD8, label);
    const auto which = framesToDecode(frames.size(), only);
    zeroFramesNotIn(which, frames.size(), p.perFrame(), out);
    forEachFrameRange(long(which.size()), p.perFrame() * which.size(), [&](long first, long last) {
        TurboJpegDecoder decoder;
        for (const std::size_t f : std::span(which).subspan(std::size_t(first), std::size_t(last - first))) {
            try {
                decoder.decodeGrey(frames[f].data(), frames[f].size(), int(L.columns), int(L.rows),
                                   out + f * p.perFrame());
            } catch (const std::exception& e) {
                throw ReadError(label, "frame " + std::to_string(f + 1) + ": " + e.what());
            }
        }
    });
}

// Grey 8/16-bit RLE frames, one fragment each (PS3.5 G.2), through our decoder in parallel:
// their fragments, or none when the layout is another (DCMTK then decodes).
std::vector<FrameBytes> rleFrames(DcmPixelData* pixelData, E_TransferSyntax xfer, const PixelLayout& L,
                                  const std::string& label) {
    if (xfer != EXS_RLELossless || L.samples != 1 || (L.bitsAllocated != 8 && L.bitsAllocated != 16)) return {};
    DcmPixelSequence* seq = loadedFragments(pixelData, xfer, "RLE", label);
    if (seq->card() != std::size_t(L.frames) + 1) return {};
    return splitEncapsulatedFrames(seq, L.frames, 0, label);
}

// `out` holds plan.bytesNeeded bytes, zero where a frame is not decoded.
void decodeRleFrames(const std::vector<FrameBytes>& frames, const PixelLayout& L, const DecodePlan& p,
                     const std::string& label, std::uint8_t* out, const std::vector<std::int64_t>& only = {}) {
    const int bytes = int(L.bitsAllocated / 8);
    const auto which = framesToDecode(frames.size(), only);
    zeroFramesNotIn(which, frames.size(), std::size_t(p.pixelsPerFrame) * std::size_t(bytes), out);
    forEachFrameRange(long(which.size()), std::uint64_t(p.pixelsPerFrame) * which.size(), [&](long first, long last) {
        for (const std::size_t f : std::span(which).subspan(std::size_t(first), std::size_t(last - first))) {
            try {
                decodeRleGreyFrame(frames[f].data(), frames[f].size(), std::size_t(p.pixelsPerFrame), bytes,
                                   out + f * std::size_t(p.pixelsPerFrame) * std::size_t(bytes));
            } catch (const std::exception& e) {
                throw ReadError(label, "frame " + std::to_string(f + 1) + ": " + e.what());
            }
        }
    });
}

std::string dcmtkDecoderName(E_TransferSyntax xfer) {
    if (xfer == EXS_RLELossless) return "DCMTK RLE";
    if (xfer == EXS_JPEGLSLossless || xfer == EXS_JPEGLSLossy) return "DCMTK JPEG-LS (CharLS)";
    return "DCMTK JPEG (IJG)";
}

// Grey encapsulated frames decoded one DCMTK decodeFrame at a time into `raw`
// (chooseRepresentation decodes them one after the other too). Colour frames come back in
// codec-specific colour models and planar layouts that the whole-dataset path handles.
// DCMTK's getUncompressedFrame is not safe to call from several threads on one dataset
// (about one read in three failed a frame with 4 threads), so the frames are decoded on the
// calling thread; JPEG 2000 (our OpenJPEG path) and unpacking stay parallel.
void decodeFramesOneByOne(DcmItem* ds, DcmPixelData* pixelData, const PixelLayout& L, const DecodePlan& p,
                          const std::string& xferName, const std::string& label, std::vector<std::uint8_t>& raw) {
    if (pixelData->loadAllDataIntoMemory().bad())
        throw ReadError(label, "cannot load the pixel data (truncated file?)");
    Uint32 frameSize = 0;
    if (pixelData->getUncompressedFrameSize(ds, frameSize).bad() || frameSize == 0)
        throw ReadError(label, "cannot size a decoded frame");
    const std::size_t frameBytes = std::size_t(p.pixelsPerFrame) * std::size_t(L.bitsAllocated / 8);
    if (frameSize < frameBytes) throw ReadError(label, "decoded frame size disagrees with Rows x Columns");
    raw.assign(frameBytes * std::size_t(L.frames), 0);
    std::vector<std::uint8_t> buffer(frameSize);
    for (long f = 0; f < L.frames; ++f) {
        Uint32 startFragment = 0;
        OFString colourModel;
        const OFCondition c = pixelData->getUncompressedFrame(ds, Uint32(f), startFragment, buffer.data(), frameSize,
                                                              colourModel, nullptr);
        if (c.bad())
            throw ReadError(label, "cannot decode frame " + std::to_string(f + 1) + " of the " + xferName +
                                       " pixel data: " + c.text());
        std::memcpy(raw.data() + std::size_t(f) * frameBytes, buffer.data(), frameBytes);
    }
}

// The stored bytes of a native (or DCMTK-decoded) PixelData element: DCMTK's own buffer read
// in place (no second copy of a cine), or a copy in `raw` when 32-bit words need swapping.
std::pair<const std::uint8_t*, std::size_t> nativeBytes(DcmElement* pixelElement, E_TransferSyntax xfer,
                                                        const PixelLayout& L, const std::string& label,
                                                        std::vector<std::uint8_t>& raw) {
    const Uint32 length = pixelElement->getLength();
    if (length == 0) return {raw.data(), raw.size()};
    // Word-wise loaded OW data is in host order; OB data is bytes as stored.
    Uint8* bytes = nullptr;
    if (pixelElement->getUint8Array(bytes).bad() || !bytes) {
        Uint16* words = nullptr;
        if (pixelElement->getUint16Array(words).bad() || !words)
            throw ReadError(label, "cannot access the pixel data (truncated file?)");
        bytes = reinterpret_cast<Uint8*>(words);
    }
    const bool swap32 = xfer == EXS_BigEndianExplicit && L.bitsAllocated == 32 && pixelElement->getVR() == EVR_OW;
    if (!swap32) return {bytes, length};
    // Big endian OW with 32-bit samples: DCMTK swapped 16-bit words, not 32-bit ones.
    raw.assign(bytes, bytes + length);
    for (std::size_t i = 0; i + 3 < raw.size(); i += 4) {
        std::swap(raw[i], raw[i + 2]);
        std::swap(raw[i + 1], raw[i + 3]);
    }
    return {raw.data(), raw.size()};
}

// Everything but JPEG 2000: the stored bytes, little-endian, interleaved or planar as in the
// file, after DCMTK decoded them when encapsulated. `raw` owns them when DCMTK does not.
const std::uint8_t* storedBytes(DcmDataset* ds, DcmPixelData* pixelData, E_TransferSyntax xfer, PixelLayout& L,
                                const DecodePlan& p, ImageMetadata& m, const std::string& label,
                                std::vector<std::uint8_t>& raw) {
    const DcmXfer xf(xfer);
    std::pair<const std::uint8_t*, std::size_t> bytes{nullptr, 0};
    const bool oneByOne = xf.isEncapsulated() && L.samples == 1 && L.frames > 1 &&
                          (L.bitsAllocated == 8 || L.bitsAllocated == 16) && dicomDecodeThreads() > 1 &&
                          p.samplesTotal >= (1u << 18);
    if (oneByOne) {
        decodeFramesOneByOne(ds, pixelData, L, p, m.transferSyntaxName, label, raw);
        m.decoder = dcmtkDecoderName(xfer);
        bytes = {raw.data(), raw.size()};
    } else {
        DcmElement* pixelElement = pixelData;
        if (xf.isEncapsulated()) {
            const OFCondition c = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
            if (c.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
                throw ReadError(label, "cannot decode " + m.transferSyntaxName + " pixel data: " + c.text());
            m.decoder = dcmtkDecoderName(xfer);
            // The codecs update these when they convert (e.g. YBR_FULL_422 JPEG -> RGB).
            L.photometric = getString(ds, DCM_PhotometricInterpretation);
            L.planar = getInt(ds, DCM_PlanarConfiguration, 0);
            m.photometric = L.photometric;
            if (ds->findAndGetElement(DCM_PixelData, pixelElement).bad() || !pixelElement)
                throw ReadError(label, "pixel data vanished while decoding");
        } else {
            m.decoder = "native";
        }
        bytes = nativeBytes(pixelElement, xfer, L, label, raw);
    }
    if (bytes.second < p.bytesNeeded)
        throw ReadError(label, "pixel data holds " + std::to_string(bytes.second) + " bytes but " + declaredSize(L) +
                                   " frames need " + std::to_string(p.bytesNeeded) + " (truncated file?)");
    return bytes.first;
}

// `v.stored` sized for `bytes`, not zero-filled; a cine is 100s of MB: huge pages make its
// first touch ~500x fewer faults.
std::uint8_t* sizeStored(ImageVolume& v, std::size_t bytes) {
    v.stored.reserve(bytes);
    util::adviseHugePages(v.stored.data(), bytes);
    v.stored.resize(bytes);
    return v.stored.data();
}

// Grey whole 8/16-bit samples with every bit stored: the stored values are the bytes as
// decoded, no masking or sign extension.
bool plainGrey(const PixelLayout& L) {
    return L.samples == 1 && (L.bitsAllocated == 8 || L.bitsAllocated == 16) && L.bitsStored == L.bitsAllocated &&
           L.highBit == L.bitsAllocated - 1;
}

// Native little-endian samples read from the file straight into `v.stored` (DCMTK leaves
// values over DCM_MaxReadLength on disk until asked): one copy, as pydicom's read; with `only`,
// those frames (the others zeroed). False when this path does not apply; the general path then
// reads (and names what is wrong).
bool readNativeStored(DcmPixelData* pixelData, E_TransferSyntax xfer, const DecodePlan& p, long frames, ImageVolume& v,
                      const std::string& label, const std::vector<std::int64_t>& only) {
    // A deflated dataset was inflated and loaded into memory (io/dicom_load.h): little endian too.
    if (xfer != EXS_LittleEndianExplicit && xfer != EXS_LittleEndianImplicit &&
        xfer != EXS_DeflatedLittleEndianExplicit)
        return false;
    if (pixelData->getLength() < p.bytesNeeded) return false;
    DcmFileCache cache;
    std::uint8_t* out = sizeStored(v, std::size_t(p.bytesNeeded));
    const auto frameBytes = std::size_t(p.bytesNeeded) / std::size_t(frames);
    const auto which = only.empty() ? std::vector<std::size_t>{} : framesToDecode(std::size_t(frames), only);
    if (!only.empty()) zeroFramesNotIn(which, std::size_t(frames), frameBytes, out);
    const auto read = [&](std::size_t offset, std::size_t bytes) {
        const OFCondition c =
            pixelData->getPartialValue(out + offset, Uint32(offset), Uint32(bytes), &cache, EBO_LittleEndian);
        if (c.bad()) throw ReadError(label, std::string("cannot read the pixel data (truncated file?): ") + c.text());
    };
    if (only.empty()) read(0, std::size_t(p.bytesNeeded));
    for (const std::size_t f : which) read(f * frameBytes, frameBytes);
    v.meta.decoder = "native";
    return true;
}

// Stored samples and (withValues) float values from the decoded bytes (or JPEG 2000 values):
// typed loops for whole-byte interleaved data, the general per-sample decoder for the rest.
void unpackInto(ImageVolume& v, const PixelLayout& L, const DecodePlan& p, const std::uint8_t* rawData,
                const std::vector<std::int64_t>& j2kValues, bool withValues) {
    const std::size_t n = std::size_t(p.samplesTotal);
    const std::size_t elementSize = v.storedElementSize();
    sizeStored(v, n * elementSize);
    if (withValues) {
        v.values.reserve(n);
        util::adviseHugePages(v.values.data(), n * sizeof(float));
        v.values.resize(n);
    }
    const long shift = L.bitsAllocated == 1 ? 0 : L.highBit + 1 - L.bitsStored;
    const SampleDecoder dec{rawData, L.bitsAllocated, L.bitsStored, shift, L.isSigned};
    const std::size_t perFrame = p.perFrame(), ppf = std::size_t(p.pixelsPerFrame), samples = std::size_t(L.samples);
    const bool interleaved = !p.isJ2k && !p.ybr422 && (L.samples == 1 || L.planar == 0);
    if (interleaved && L.bitsAllocated != 1) {
        forEachFrameRange(L.frames, p.samplesTotal, [&](long first, long last) {
            const std::size_t b = std::size_t(first) * perFrame, e = std::size_t(last) * perFrame;
            auto unpack = [&]<typename Raw>(Raw) {
                if (withValues)
                    unpackSamples<Raw, true>(rawData, b, e, shift, L.bitsStored, L.isSigned, v.stored.data(),
                                             v.values.data());
                else
                    unpackSamples<Raw, false>(rawData, b, e, shift, L.bitsStored, L.isSigned, v.stored.data(), nullptr);
            };
            if (L.bitsAllocated == 8) unpack(std::uint8_t{});
            else if (L.bitsAllocated == 16) unpack(std::uint16_t{});
            else unpack(std::uint32_t{});
        });
        return;
    }
    forEachFrameRange(L.frames, p.samplesTotal, [&](long first, long last) {
        for (std::size_t f = std::size_t(first); f < std::size_t(last); ++f)
            for (std::size_t px = 0; px < ppf; ++px)
                for (std::size_t s = 0; s < samples; ++s) {
                    const std::size_t dst = f * perFrame + px * samples + s;
                    std::size_t src = dst;
                    if (p.ybr422) {
                        // Two pixels share Cb and Cr: Y0 Y1 Cb Cr.
                        const std::size_t base = f * ppf * 2 + (px / 2) * 4;
                        src = s == 0 ? base + (px % 2) : base + 1 + s;
                    } else if (L.planar == 1 && samples > 1) {
                        src = f * perFrame + s * ppf + px;
                    }
                    const std::int64_t value = p.isJ2k ? j2kValues[dst] : dec.get(src);
                    putStored(v.stored, dst, value, elementSize);
                    if (withValues) v.values[dst] = float(value);
                }
    });
}

// Colour to RGB and grey through the modality rescale, after unpacking.
void finishValues(ImageVolume& v, const PixelLayout& L, const DecodePlan& p) {
    auto& m = v.meta;
    if (p.ybr422) m.photometric = "YBR_FULL";  // now expanded to one Cb, Cr per pixel
    if (L.samples == 3 && m.photometric == "YBR_FULL") {
        ybrToRgb(v.values);
        m.photometric = "RGB";
    }
    if (L.samples == 1 && (m.rescaleSlope != 1.0 || m.rescaleIntercept != 0.0)) {
        const double slope = m.rescaleSlope, intercept = m.rescaleIntercept;
        for (float& value : v.values) value = float(double(value) * slope + intercept);
    }
}

// The phases of reading one DICOM file: layout and metadata from the header, geometry, the
// size plan (refusing what cannot be), the stored bytes (decoded when encapsulated), then
// unpacking to stored samples and floats.
ImageVolume decode(DcmFileFormat& file, E_TransferSyntax xfer, const std::string& label,
                   const DicomReadOptions& options) {
    DcmDataset* ds = file.getDataset();
    DcmElement* pixelElement = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, pixelElement).bad() || !pixelElement)
        throw ReadError(label, "no Pixel Data (7FE0,0010): not an image");
    PixelLayout L = readLayout(ds, label);
    ImageVolume v;
    readMeta(ds, L, DcmXfer(xfer), v.meta);
    readGeometry(ds, v);
    v.rows = int(L.rows);
    v.columns = int(L.columns);
    v.samples = int(L.samples);
    v.depth = int(L.frames);
    v.storedType = storedTypeFor(L.bitsAllocated, L.isSigned);
    if (!options.pixels) return v;

    // A damaged file can give (7FE0,0010) another VR, and DCMTK then makes it another element
    // class: a static cast to DcmPixelData was undefined behaviour (UBSan, found by fuzz_dicom).
    auto* pixelData = dynamic_cast<DcmPixelData*>(pixelElement);
    if (!pixelData)
        throw ReadError(label, std::string("PixelData has VR ") + DcmVR(pixelElement->getVR()).getVRName() +
                                   ", not OB/OW (damaged file?)");
    const DecodePlan plan = planDecode(L, xfer, pixelData, label);
    // Stored-first grey pixels go straight into v.stored where the layout allows.
    const bool storedFirst = options.values == PixelValues::StoredFirst && L.samples == 1;
    if (storedFirst && plainGrey(L) && !plan.isJ2k) {
        if (turboJpegEligible(xfer, L)) {
            decodeTurboJpeg(pixelData, xfer, L, plan, label, sizeStored(v, std::size_t(plan.samplesTotal)),
                            options.onlyFrames);
            v.meta.decoder = turboJpegDecoderName();
            return v;
        }
        if (readNativeStored(pixelData, xfer, plan, L.frames, v, label, options.onlyFrames)) return v;
    }
    auto rle = plan.isJ2k ? std::vector<FrameBytes>{} : rleFrames(pixelData, xfer, L, label);
    if (storedFirst && plainGrey(L) && !rle.empty()) {
        decodeRleFrames(rle, L, plan, label, sizeStored(v, std::size_t(plan.bytesNeeded)), options.onlyFrames);
        v.meta.decoder = rleDecoderName();
        return v;
    }
    std::vector<std::uint8_t> raw;
    std::vector<std::int64_t> j2kValues;
    const std::uint8_t* rawData = nullptr;
    if (plan.isJ2k) {
        j2kValues = decodeJ2k(pixelData, xfer, L, plan, label);
        v.meta.decoder = jpeg2000DecoderName();
        if (L.samples == 3) v.meta.photometric = "RGB";  // OpenJPEG undoes the RCT/ICT
        L.planar = 0;
    } else if (turboJpegEligible(xfer, L)) {
        raw.resize(std::size_t(plan.samplesTotal));
        decodeTurboJpeg(pixelData, xfer, L, plan, label, raw.data());
        rawData = raw.data();
        v.meta.decoder = turboJpegDecoderName();
    } else if (!rle.empty()) {
        raw.resize(std::size_t(plan.bytesNeeded));
        decodeRleFrames(rle, L, plan, label, raw.data());
        rawData = raw.data();
        v.meta.decoder = rleDecoderName();
    } else {
        rawData = storedBytes(ds, pixelData, xfer, L, plan, v.meta, label, raw);
    }
    unpackInto(v, L, plan, rawData, j2kValues, !storedFirst);
    finishValues(v, L, plan);
    return v;
}

std::string readHead(const std::filesystem::path& path, std::size_t n) {
    std::ifstream in(path, std::ios::binary);
    std::string s(n, '\0');
    in.read(s.data(), std::streamsize(n));
    s.resize(std::size_t(in.gcount()));
    return s;
}

}  // namespace

void setDicomDecodeThreads(unsigned threads) { g_decodeThreads = threads; }

unsigned dicomDecodeThreads() {
    const unsigned t = g_decodeThreads.load();
    return util::resolveThreads(t);
}

bool looksLikeDicom(const std::filesystem::path& path) {
    const std::string h = readHead(path, 132);
    return h.size() == 132 && h.compare(128, 4, "DICM") == 0;
}

ImageVolume readDicom(const std::filesystem::path& path, const DicomReadOptions& options) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw ReadError(path, "no such file");
    if (std::filesystem::file_size(path, ec) == 0) throw ReadError(path, "empty file");
    DcmFileFormat file;
    const auto loaded = detail::loadDicomFile(path, file, false, path.string());
    return decode(file, loaded.transferSyntax, path.string(), options);
}

ImageVolume readDicomBuffer(const void* data, std::size_t size, const std::string& label,
                            const DicomReadOptions& options) {
    if (size == 0) throw ReadError(label, "empty file");
    // Through a scratch file, not DcmInputBufferStream: DCMTK checks declared element lengths
    // against the bytes left in a file ("larger than remaining bytes in file") and defers
    // large values. A deflated dataset is inflated by us first, with a size limit
    // (io/dicom_load.h; docs/fuzzing.md).
    static std::atomic<unsigned> counter{0};
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec)
                                    ? std::filesystem::path("/dev/shm")
                                    : std::filesystem::temp_directory_path(ec);
    const std::filesystem::path scratch =
        dir / ("lumen-dicom-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".dcm");
    {
        std::ofstream out(scratch, std::ios::binary);
        out.write(static_cast<const char*>(data), std::streamsize(size));
        if (!out) {
            std::filesystem::remove(scratch, ec);
            throw ReadError(label, "cannot stage the bytes in " + scratch.string());
        }
    }
    struct Remove {
        std::filesystem::path p;
        ~Remove() {
            std::error_code e;
            std::filesystem::remove(p, e);
        }
    } cleanup{scratch};
    DcmFileFormat file;
    const auto loaded = detail::loadDicomFile(scratch, file, false, label);
    return decode(file, loaded.transferSyntax, label, options);
}

}  // namespace lumen::io
