#include "io/npy_writer.h"

#include "util/atomic_file.h"

#include <stdexcept>

namespace lumen::io {

std::string npyBytes(const void* data, std::size_t bytes, const std::string& dtype,
                     const std::vector<std::size_t>& shape) {
    std::string dict = "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < shape.size(); ++i)
        dict += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "") +
                (i + 1 < shape.size() ? " " : "");
    dict += "), }";
    // Magic (6) + version (2) + header length (2) + dict + padding + '\n' is a multiple of 64.
    const std::size_t unpadded = 10 + dict.size() + 1;
    const std::size_t total = (unpadded + 63) / 64 * 64;
    if (total - 10 > 65535) throw std::runtime_error("npy header too long");
    dict.append(total - unpadded, ' ');
    dict += '\n';
    std::string out;
    out.reserve(total + bytes);
    out.append("\x93NUMPY\x01\x00", 8);
    const std::size_t headerLength = dict.size();
    out += char(headerLength & 0xff);
    out += char(headerLength >> 8);
    out += dict;
    out.append(static_cast<const char*>(data), bytes);
    return out;
}

void writeNpy(const std::filesystem::path& path, const ImageVolume& volume, bool stored) {
    if (stored) {
        if (volume.storedType == StoredType::None || volume.stored.empty())
            throw std::runtime_error(path.string() + ": the source has no stored values to write");
        util::writeFileAtomically(
            path, npyBytes(volume.stored.data(), volume.stored.size(), numpyDtype(volume.storedType), volume.shape()));
        return;
    }
    // x86-64 and aarch64 are little-endian: floats go out as they are in memory.
    util::writeFileAtomically(
        path, npyBytes(volume.values.data(), volume.values.size() * sizeof(float), "<f4", volume.shape()));
}

}  // namespace lumen::io
