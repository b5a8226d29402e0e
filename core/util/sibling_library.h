#pragma once
// Loading the engine's optional parts on demand: shared libraries installed beside
// liblumen_core.so (liblumen_ml.so, liblumen_codecs.so), so that a process pays their
// start-up cost (LibTorch's static initialisation, OpenCV's codec dependencies) only when it
// uses them.

#include <string>

namespace lumen::util {

/// dlopen()s `fileName` from the folder of liblumen_core.so (once; later calls return the
/// same handle) and returns the address of `symbol`. Throws std::runtime_error naming the
/// file and the reason when either is missing.
void* siblingLibrarySymbol(const std::string& fileName, const std::string& symbol);

}  // namespace lumen::util
