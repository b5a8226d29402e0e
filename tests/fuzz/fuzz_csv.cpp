// libFuzzer target: the numeric CSV reader behind audits and metrics.
#include "data/numeric_table.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = lumen::fuzz::scratchFile(".csv");
    if (!lumen::fuzz::writeScratch(path, data, size)) return 0;
    try {
        const auto t = lumen::data::readNumericCsv(path);
        for (const auto& id : t.ids) (void)t.findRow(id);
    } catch (const lumen::data::TableError&) {
    }
    std::remove(path.c_str());
    return 0;
}
