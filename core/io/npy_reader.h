#pragma once
// NumPy .npy files read back as float32: CAM caches, arrays researchers save with numpy.save.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lumen::io {

/// A .npy array converted to float32; `dtype` is the file's own descr (e.g. "<f8").
struct NpyArray {
    std::string dtype;
    std::vector<std::size_t> shape;
    std::vector<float> values;
};

/// Reads a .npy (v1/v2/v3, C order, little-endian <f4 <f8 <f2 |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8
/// |b1) as float32. Throws ReadError naming the file and what is wrong (bad magic, fortran
/// order, unsupported dtype, truncated data).
NpyArray readNpy(const std::filesystem::path& path);

/// The same from bytes in memory; `source` names them in errors.
NpyArray parseNpy(std::string_view bytes, const std::filesystem::path& source);

}  // namespace lumen::io
