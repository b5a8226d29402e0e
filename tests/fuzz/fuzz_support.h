#pragma once
// The file-based parsers get the fuzz input through a per-process scratch file in /dev/shm.

#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace lumen::fuzz {

inline std::string scratchFile(const std::string& suffix) {
    return "/dev/shm/lumen-fuzz-" + std::to_string(::getpid()) + suffix;
}

inline bool writeScratch(const std::string& path, const std::uint8_t* data, std::size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(data, 1, size, f) == size;
    return std::fclose(f) == 0 && ok;
}

}  // namespace lumen::fuzz
