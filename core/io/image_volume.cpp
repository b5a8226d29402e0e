#include "io/image_volume.h"

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

}  // namespace lumen::io
