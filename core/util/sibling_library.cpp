#include "util/sibling_library.h"

#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>

namespace lumen::util {

void* siblingLibrarySymbol(const std::string& fileName, const std::string& symbol) {
    Dl_info self{};
    if (!dladdr(reinterpret_cast<void*>(&siblingLibrarySymbol), &self) || !self.dli_fname)
        throw std::runtime_error(fileName + ": cannot locate liblumen_core.so to load it from beside it");
    const auto file = std::filesystem::path(self.dli_fname).parent_path() / fileName;
    // dlopen counts references: loading again returns the same handle. The library stays
    // loaded for the life of the process (unloading code that may still run is not safe).
    void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error(file.string() + ": cannot be loaded: " + dlerror());
    void* address = dlsym(handle, symbol.c_str());
    if (!address) throw std::runtime_error(file.string() + ": lacks " + symbol);
    return address;
}

}  // namespace lumen::util
