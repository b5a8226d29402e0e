#include "io/dicom_load.h"

#include "io/read_error.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <unistd.h>
#include <vector>

namespace lumen::io::detail {

namespace {

constexpr const char* kDeflatedUid = "1.2.840.10008.1.2.1.99";

struct MetaHeader {
    bool found = false;
    std::string transferSyntax;
    std::uint64_t datasetOffset = 0;  ///< first byte after the group 0002 elements
};

bool longLengthVr(char a, char b) {
    static const char* kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
    for (const char* v : kLong)
        if (v[0] == a && v[1] == b) return true;
    return false;
}

// Walks the explicit little-endian group 0002 elements at the head of the file. Only the
// transfer syntax and where the dataset starts matter here; anything odd leaves the file to
// DCMTK, which reports it properly.
MetaHeader readMetaHeader(std::ifstream& in) {
    MetaHeader meta;
    std::vector<unsigned char> head(1 << 16);
    in.read(reinterpret_cast<char*>(head.data()), std::streamsize(head.size()));
    head.resize(std::size_t(in.gcount()));
    std::size_t pos = 0;
    if (head.size() >= 132 && std::string(head.begin() + 128, head.begin() + 132) == "DICM") pos = 132;
    else if (!(head.size() >= 2 && head[0] == 0x02 && head[1] == 0x00)) return meta;
    auto u16 = [&](std::size_t p) { return unsigned(head[p]) | unsigned(head[p + 1]) << 8; };
    while (pos + 8 <= head.size() && u16(pos) == 0x0002) {
        const unsigned element = u16(pos + 2);
        const char v0 = char(head[pos + 4]), v1 = char(head[pos + 5]);
        std::uint64_t length, valueAt;
        if (longLengthVr(v0, v1)) {
            if (pos + 12 > head.size()) return meta;
            length = std::uint64_t(u16(pos + 8)) | std::uint64_t(u16(pos + 10)) << 16;
            valueAt = pos + 12;
        } else {
            length = u16(pos + 6);
            valueAt = pos + 8;
        }
        if (valueAt + length > head.size()) return meta;
        if (element == 0x0010) {
            std::string uid(head.begin() + std::ptrdiff_t(valueAt), head.begin() + std::ptrdiff_t(valueAt + length));
            while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
            meta.transferSyntax = uid;
        }
        pos = std::size_t(valueAt + length);
    }
    meta.found = !meta.transferSyntax.empty();
    meta.datasetOffset = pos;
    return meta;
}

std::filesystem::path scratchPath() {
    static std::atomic<unsigned> counter{0};
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec)
                                          ? std::filesystem::path("/dev/shm")
                                          : std::filesystem::temp_directory_path(ec);
    return dir / ("lumen-inflated-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".dcm");
}

struct RemoveOnExit {
    std::filesystem::path p;
    ~RemoveOnExit() {
        std::error_code e;
        std::filesystem::remove(p, e);
    }
};

// Inflates the rest of `in` into `out`, refusing to write more than kMaxInflatedBytes.
void inflateInto(std::ifstream& in, std::ofstream& out, const std::string& label) {
    std::vector<unsigned char> src(1 << 16), dst(1 << 20);
    in.read(reinterpret_cast<char*>(src.data()), std::streamsize(src.size()));
    std::size_t have = std::size_t(in.gcount());
    if (have < 2) throw ReadError(label, "deflated dataset is empty");
    // PS3.5 A.5 says raw deflate (RFC 1951); some writers add a zlib header (RFC 1950).
    const bool zlibHeader = (src[0] & 0x0F) == 8 && ((unsigned(src[0]) << 8) | src[1]) % 31 == 0;
    z_stream z{};
    if (inflateInit2(&z, zlibHeader ? 15 : -15) != Z_OK) throw ReadError(label, "cannot start zlib");
    struct End {
        z_stream* z;
        ~End() { inflateEnd(z); }
    } end{&z};
    std::uint64_t total = 0;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (z.avail_in == 0) {
            if (have == 0) {
                in.read(reinterpret_cast<char*>(src.data()), std::streamsize(src.size()));
                have = std::size_t(in.gcount());
                if (have == 0) break;  // truncated stream: DCMTK reports what is missing
            }
            z.next_in = src.data();
            z.avail_in = uInt(have);
            have = 0;
        }
        z.next_out = dst.data();
        z.avail_out = uInt(dst.size());
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END)
            throw ReadError(label,
                            std::string("deflated dataset is corrupt (zlib: ") + (z.msg ? z.msg : "error") + ")");
        const std::size_t produced = dst.size() - z.avail_out;
        total += produced;
        if (total > kMaxInflatedBytes)
            throw ReadError(label, "deflated dataset inflates to more than " + std::to_string(kMaxInflatedBytes >> 20) +
                                       " MiB: refused (corrupt or a deflate bomb)");
        out.write(reinterpret_cast<const char*>(dst.data()), std::streamsize(produced));
    }
    if (!out) throw ReadError(label, "cannot stage the inflated dataset (disk full?)");
}

}  // namespace

void registerDicomCodecs() {
    static std::once_flag once;
    std::call_once(once, [] {
        // DCMTK logs parse warnings to stderr; errors reach the caller as ReadError instead.
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
    });
}

LoadedDicom loadDicomFile(const std::filesystem::path& path, DcmFileFormat& file, bool headerOnly,
                          const std::string& label) {
    registerDicomCodecs();
    const DcmTagKey stop = headerOnly ? DCM_PixelData : DCM_UndefinedTagKey;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ReadError(label, "cannot open the file");
    const MetaHeader meta = readMetaHeader(in);
    if (!meta.found || meta.transferSyntax != kDeflatedUid) {
        in.close();
        const OFCondition c =
            file.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect, stop);
        if (c.bad()) throw ReadError(label, std::string("not a readable DICOM file: ") + c.text());
        LoadedDicom out;
        out.transferSyntax = file.getDataset()->getOriginalXfer();
        return out;
    }

    in.clear();
    in.seekg(std::streamoff(meta.datasetOffset));
    const std::filesystem::path scratch = scratchPath();
    RemoveOnExit cleanup{scratch};
    {
        std::ofstream out(scratch, std::ios::binary);
        if (!out) throw ReadError(label, "cannot stage the inflated dataset in " + scratch.string());
        inflateInto(in, out, label);
    }
    const OFCondition c = file.loadFileUntilTag(scratch.c_str(), EXS_LittleEndianExplicit, EGL_noChange,
                                                DCM_MaxReadLength, ERM_dataset, stop);
    if (c.bad()) throw ReadError(label, std::string("not a readable DICOM file (deflated dataset): ") + c.text());
    // Values over DCM_MaxReadLength stay in the scratch file until used; it goes away below.
    const OFCondition all = file.loadAllDataIntoMemory();
    if (all.bad()) throw ReadError(label, std::string("cannot load the inflated dataset: ") + all.text());
    LoadedDicom out;
    out.transferSyntax = EXS_DeflatedLittleEndianExplicit;
    return out;
}

}  // namespace lumen::io::detail
