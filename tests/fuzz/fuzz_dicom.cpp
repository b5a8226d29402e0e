// libFuzzer target: the DICOM entry point (DCMTK parse, codecs, OpenJPEG, our pixel unpacking).
#include "io/dicom_reader.h"
#include "io/read_error.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto v = lumen::io::readDicomBuffer(data, size, "fuzz.dcm");
        // Touch every value so a short buffer would show up under ASan.
        volatile float sink = 0;
        for (float x : v.values) sink = sink + x;
    } catch (const lumen::io::ReadError&) {
    }
    return 0;
}
