// libFuzzer target: readNifti on a scratch file; the first byte picks .nii or .nii.gz.
#include "fuzz_support.h"
#include "io/nifti_reader.h"
#include "io/read_error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string path = lumen::fuzz::scratchFile((data[0] & 1) ? ".nii.gz" : ".nii");
    if (!lumen::fuzz::writeScratch(path, data + 1, size - 1)) return 0;
    try {
        const auto v = lumen::io::readNifti(path);
        volatile float sink = 0;
        for (float x : v.values) sink = sink + x;
    } catch (const lumen::io::ReadError&) {
    }
    std::remove(path.c_str());
    return 0;
}
