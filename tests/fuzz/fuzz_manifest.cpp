// libFuzzer target: the dataset manifest reader (readManifest on a scratch file), then the
// writer: what manifestCsv writes for a manifest that was read must read back to the same rows.
#include "data/manifest.h"
#include "fuzz_support.h"

#include <cstdlib>

namespace {

void checkRoundTrip(const lumen::data::Manifest& m, const std::string& path) {
    const std::string text = lumen::data::manifestCsv(m);
    if (!lumen::fuzz::writeScratch(path, reinterpret_cast<const std::uint8_t*>(text.data()), text.size())) return;
    lumen::data::ManifestReadOptions options;
    options.labelNames = m.labelNames;
    const auto back = lumen::data::readManifest(path, options);  // throwing here is a finding
    if (back.rows.size() != m.rows.size() || back.labelNames != m.labelNames) std::abort();
    for (std::size_t i = 0; i < m.rows.size(); ++i) {
        const auto& a = m.rows[i];
        const auto& b = back.rows[i];
        if (a.id != b.id || a.patientId != b.patientId || a.path != b.path || a.labels != b.labels ||
            a.split != b.split)
            std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = lumen::fuzz::scratchFile(".manifest.csv");
    if (!lumen::fuzz::writeScratch(path, data, size)) return 0;
    bool readOk = false;
    lumen::data::Manifest m;
    try {
        m = lumen::data::readManifest(path);
        readOk = true;
    } catch (const lumen::data::ManifestError&) {
    }
    if (readOk) {
        for (const auto& split : m.splitNames()) (void)m.filterSplit(split);
        for (const auto& row : m.rows)
            for (const auto& label : row.labels) (void)m.labelIndex(label);
        checkRoundTrip(m, path);
    }
    std::remove(path.c_str());
    return 0;
}
