#include "io/image_volume.h"

#include <cstring>

namespace lumen::io {

std::string numpyDtype(StoredType t) {
    switch (t) {
    case StoredType::U8: return "|u1";
    case StoredType::I8: return "|i1";
    case StoredType::U16: return "<u2";
    case StoredType::I16: return "<i2";
    case StoredType::U32: return "<u4";
    case StoredType::I32: return "<i4";
    case StoredType::F32: return "<f4";
    case StoredType::F64: return "<f8";
    case StoredType::None: break;
    }
    return "";
}

std::size_t ImageVolume::storedElementSize() const {
    switch (storedType) {
    case StoredType::U8:
    case StoredType::I8: return 1;
    case StoredType::U16:
    case StoredType::I16: return 2;
    case StoredType::U32:
    case StoredType::I32:
    case StoredType::F32: return 4;
    case StoredType::F64: return 8;
    case StoredType::None: break;
    }
    return 0;
}

std::vector<std::size_t> ImageVolume::shape() const {
    std::vector<std::size_t> s;
    if (time > 1) s.push_back(std::size_t(time));
    if (depth > 1 || isVolume || time > 1) s.push_back(std::size_t(depth));
    s.push_back(std::size_t(rows));
    s.push_back(std::size_t(columns));
    if (samples > 1) s.push_back(std::size_t(samples));
    return s;
}

namespace {

template <typename T>
void storedToFloat(const std::uint8_t* stored, std::size_t n, float* out) {
    for (std::size_t i = 0; i < n; ++i) {
        T x;
        std::memcpy(&x, stored + i * sizeof(T), sizeof(T));
        out[i] = float(x);
    }
}

}  // namespace

bool hasRescale(const ImageMetadata& m) { return m.rescaleSlope != 1.0 || m.rescaleIntercept != 0.0; }

std::vector<float>& ensureValues(ImageVolume& v) {
    const std::size_t n = v.elementCount();
    if (!v.values.empty() || v.stored.empty() || n == 0 || v.stored.size() < n * v.storedElementSize()) return v.values;
    v.values.resize(n);
    const std::uint8_t* s = v.stored.data();
    switch (v.storedType) {
    case StoredType::U8: storedToFloat<std::uint8_t>(s, n, v.values.data()); break;
    case StoredType::I8: storedToFloat<std::int8_t>(s, n, v.values.data()); break;
    case StoredType::U16: storedToFloat<std::uint16_t>(s, n, v.values.data()); break;
    case StoredType::I16: storedToFloat<std::int16_t>(s, n, v.values.data()); break;
    case StoredType::U32: storedToFloat<std::uint32_t>(s, n, v.values.data()); break;
    case StoredType::I32: storedToFloat<std::int32_t>(s, n, v.values.data()); break;
    case StoredType::F32: storedToFloat<float>(s, n, v.values.data()); break;
    case StoredType::F64: storedToFloat<double>(s, n, v.values.data()); break;
    case StoredType::None: v.values.clear(); return v.values;
    }
    // The same arithmetic as a full read: float(stored), then the rescale in double.
    if (v.samples == 1 && hasRescale(v.meta)) {
        const double slope = v.meta.rescaleSlope, intercept = v.meta.rescaleIntercept;
        for (float& x : v.values) x = float(double(x) * slope + intercept);
    }
    return v.values;
}

}  // namespace lumen::io
