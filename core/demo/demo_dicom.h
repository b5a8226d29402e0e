#pragma once
// Internal to core/demo: DICOM writing shared by the CT series and the angiography cines.

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace lumen::demo::detail {

namespace fs = std::filesystem;

// UIDs derived from the seed under one fixed root, so reruns give the same UIDs (unlike
// dcmGenerateUniqueIdentifier, which uses the clock).
constexpr const char* kUidRoot = "1.2.826.0.1.3680043.10.1234.";
inline std::string uid(std::uint64_t seed, int kind, long long a, long long b = -1) {
    std::string s =
        kUidRoot + std::to_string(kind) + "." + std::to_string(seed % 1000000000000ull) + "." + std::to_string(a + 1);
    if (b >= 0) s += "." + std::to_string(b + 1);
    return s;
}
enum UidKind {
    kUidCtStudy = 1,
    kUidCtSeries,
    kUidCtInstance,
    kUidFrameOfReference,
    kUidXaStudy,
    kUidXaSeries,
    kUidXaInstance
};

inline void put(DcmDataset& ds, const DcmTagKey& tag, const std::string& value, const fs::path& path) {
    const OFCondition c = ds.putAndInsertString(DcmTag(tag), value.c_str());
    if (c.bad())
        throw std::runtime_error("demo workspace: cannot set " + std::string(DcmTag(tag).getTagName()) + " in " +
                                 path.string() + ": " + c.text());
}
inline void putU16(DcmDataset& ds, const DcmTagKey& tag, Uint16 value, const fs::path& path) {
    const OFCondition c = ds.putAndInsertUint16(DcmTag(tag), value);
    if (c.bad())
        throw std::runtime_error("demo workspace: cannot set " + std::string(DcmTag(tag).getTagName()) + " in " +
                                 path.string() + ": " + c.text());
}
inline void saveDicom(DcmFileFormat& file, const fs::path& path) {
    const OFCondition c = file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
    if (c.bad()) throw std::runtime_error("demo workspace: cannot write " + path.string() + ": " + c.text());
}

}  // namespace lumen::demo::detail
