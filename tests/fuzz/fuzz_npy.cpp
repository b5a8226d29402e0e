// libFuzzer target: the .npy reader (parseNpy on the bytes; readNpy only adds the file read).
#include "io/npy_reader.h"
#include "io/read_error.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto a = lumen::io::parseNpy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy");
        // The shape must describe the values exactly (callers index with it).
        std::size_t count = 1;
        for (std::size_t d : a.shape)
            if (__builtin_mul_overflow(count, d, &count)) std::abort();
        if (count != a.values.size()) std::abort();
        volatile float sink = 0;
        for (float x : a.values) sink = sink + x;
    } catch (const lumen::io::ReadError&) {
    }
    return 0;
}
