#include "io/npy_reader.h"

#include "io/read_error.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace lumen::io {
namespace {

/// The value of `key` in the header dict: the text after "'key':" up to the next top-level
/// comma or closing brace (a tuple keeps its commas).
std::string dictValue(const std::string& header, const std::string& key, const std::filesystem::path& source) {
    std::size_t at = header.find("'" + key + "'");
    if (at == std::string::npos) at = header.find("\"" + key + "\"");
    if (at == std::string::npos) throw ReadError(source, "npy header has no '" + key + "': " + header);
    at = header.find(':', at);
    if (at == std::string::npos) throw ReadError(source, "npy header is malformed: " + header);
    ++at;
    int depth = 0;
    std::size_t end = at;
    for (; end < header.size(); ++end) {
        const char c = header[end];
        if (c == '(' || c == '[') ++depth;
        else if (c == ')' || c == ']') --depth;
        else if ((c == ',' || c == '}') && depth == 0) break;
    }
    std::string v = header.substr(at, end - at);
    const auto first = v.find_first_not_of(" \t");
    const auto last = v.find_last_not_of(" \t");
    return first == std::string::npos ? std::string() : v.substr(first, last - first + 1);
}

float halfToFloat(std::uint16_t h) {
    const int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float v;
    if (exponent == 0) v = std::ldexp(float(mantissa), -24);
    else if (exponent == 31)
        v = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    else v = std::ldexp(float(mantissa | 0x400), exponent - 25);
    return sign ? -v : v;
}

template <typename T>
void convert(const char* data, std::size_t n, std::vector<float>& out) {
    for (std::size_t i = 0; i < n; ++i) {
        T v;
        std::memcpy(&v, data + i * sizeof(T), sizeof(T));
        out[i] = static_cast<float>(v);
    }
}

/// The dimensions of a shape tuple such as "(3, 4)", "(5,)" or "()", with their product in
/// `count`. Throws for a dimension that is not a non-negative integer and for a shape whose
/// element count does not fit in size_t.
std::vector<std::size_t> parseShape(const std::string& shapeText, std::size_t& count,
                                    const std::filesystem::path& source) {
    const auto malformed = [&] { return ReadError(source, "npy header has a malformed shape: " + shapeText); };
    std::vector<std::size_t> shape;
    std::stringstream ss(shapeText.substr(1, shapeText.size() - 2));
    count = 1;
    for (std::string item; std::getline(ss, item, ',');) {
        const auto first = item.find_first_not_of(" \t");
        if (first == std::string::npos) continue;
        const std::string digits = item.substr(first, item.find_last_not_of(" \t") + 1 - first);
        if (digits.find_first_not_of("0123456789") != std::string::npos) throw malformed();
        unsigned long long d = 0;
        try {
            d = std::stoull(digits);
        } catch (const std::exception&) {
            throw malformed();
        }
        shape.push_back(std::size_t(d));
        if (__builtin_mul_overflow(count, std::size_t(d), &count))
            throw ReadError(source, "npy header has a shape with too many elements: " + shapeText);
    }
    return shape;
}

/// The size in bytes of a supported dtype kind ("f4", "u1", …), 0 for any other.
std::size_t itemSizeOf(const std::string& kind) {
    static const std::pair<const char*, std::size_t> kKinds[] = {{"f2", 2}, {"f4", 4}, {"f8", 8}, {"u1", 1},
                                                                 {"i1", 1}, {"b1", 1}, {"u2", 2}, {"i2", 2},
                                                                 {"u4", 4}, {"i4", 4}, {"u8", 8}, {"i8", 8}};
    for (const auto& [name, size] : kKinds)
        if (kind == name) return size;
    return 0;
}

}  // namespace

NpyArray parseNpy(std::string_view bytes, const std::filesystem::path& source) {
    if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
        throw ReadError(source, "not a .npy file (bad magic)");
    const auto major = static_cast<unsigned char>(bytes[6]);
    std::size_t headerLength = 0, headerStart = 0;
    if (major == 1) {
        headerLength =
            std::size_t(static_cast<unsigned char>(bytes[8])) | std::size_t(static_cast<unsigned char>(bytes[9])) << 8;
        headerStart = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) throw ReadError(source, "truncated .npy header");
        for (int i = 0; i < 4; ++i) headerLength |= std::size_t(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
        headerStart = 12;
    } else {
        throw ReadError(source, "unsupported .npy version " + std::to_string(major));
    }
    if (headerStart + headerLength > bytes.size()) throw ReadError(source, "truncated .npy header");
    const std::string header(bytes.substr(headerStart, headerLength));

    NpyArray a;
    std::string descr = dictValue(header, "descr", source);
    if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
        throw ReadError(source, "unsupported npy dtype " + descr + " (structured arrays are not read)");
    descr = descr.substr(1, descr.size() - 2);
    a.dtype = descr;
    if (dictValue(header, "fortran_order", source) != "False")
        throw ReadError(source, "fortran-ordered .npy arrays are not supported (save with np.ascontiguousarray)");

    const std::string shapeText = dictValue(header, "shape", source);
    if (shapeText.size() < 2 || shapeText.front() != '(' || shapeText.back() != ')')
        throw ReadError(source, "npy header has a malformed shape: " + shapeText);
    std::size_t count = 1;
    a.shape = parseShape(shapeText, count, source);

    if (descr.size() < 3) throw ReadError(source, "unsupported npy dtype '" + descr + "'");
    const char order = descr[0];
    const std::string kind = descr.substr(1);
    if (order == '>' && kind != "u1" && kind != "i1" && kind != "b1")
        throw ReadError(source, "big-endian npy dtype '" + descr + "' is not supported");
    if (order != '<' && order != '|' && order != '=' && order != '>')
        throw ReadError(source, "unsupported npy dtype '" + descr + "'");
    const std::size_t itemSize = itemSizeOf(kind);
    if (itemSize == 0) throw ReadError(source, "unsupported npy dtype '" + descr + "'");
    const std::size_t dataStart = headerStart + headerLength;
    if ((bytes.size() - dataStart) / itemSize < count)
        throw ReadError(source, "truncated .npy data: " + std::to_string(count) + " elements of " + descr + " need " +
                                    std::to_string(count * itemSize) + " bytes, the file has " +
                                    std::to_string(bytes.size() - dataStart));
    const char* data = bytes.data() + dataStart;
    a.values.resize(count);
    if (kind == "f4") convert<float>(data, count, a.values);
    else if (kind == "f8") convert<double>(data, count, a.values);
    else if (kind == "f2") {
        for (std::size_t i = 0; i < count; ++i) {
            std::uint16_t h;
            std::memcpy(&h, data + 2 * i, 2);
            a.values[i] = halfToFloat(h);
        }
    } else if (kind == "u1") convert<std::uint8_t>(data, count, a.values);
    else if (kind == "i1") convert<std::int8_t>(data, count, a.values);
    else if (kind == "b1") convert<std::uint8_t>(data, count, a.values);
    else if (kind == "u2") convert<std::uint16_t>(data, count, a.values);
    else if (kind == "i2") convert<std::int16_t>(data, count, a.values);
    else if (kind == "u4") convert<std::uint32_t>(data, count, a.values);
    else if (kind == "i4") convert<std::int32_t>(data, count, a.values);
    else if (kind == "u8") convert<std::uint64_t>(data, count, a.values);
    else if (kind == "i8") convert<std::int64_t>(data, count, a.values);
    else throw ReadError(source, "unsupported npy dtype '" + descr + "'");
    if (kind == "b1")
        for (float& v : a.values) v = v != 0.0f ? 1.0f : 0.0f;
    return a;
}

NpyArray readNpy(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ReadError(path, "cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    return parseNpy(bytes, path);
}

}  // namespace lumen::io
