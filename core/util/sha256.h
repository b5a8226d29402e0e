#pragma once
// SHA-256 (FIPS 180-4), streaming; used for config hashes and for fingerprinting input files.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace lumen::util {

class Sha256 {
public:
    Sha256();
    void update(const void* data, std::size_t size);
    void update(std::string_view text) { update(text.data(), text.size()); }
    /// Finishes the hash; the object must not be updated afterwards.
    std::array<std::uint8_t, 32> digest();
    std::string hexDigest();

private:
    void compress(const std::uint8_t* block);
    std::array<std::uint32_t, 8> state_;
    std::array<std::uint8_t, 64> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t totalBytes_ = 0;
};

std::string sha256Hex(std::string_view text);

/// Uses the CPU's SHA extensions when `enabled` and present (the default); false turns them
/// off (tests compare both paths). Returns whether the CPU has them.
bool setSha256HardwareAcceleration(bool enabled);
/// Hash of a file's bytes; throws std::runtime_error naming the file when it cannot be read.
std::string sha256File(const std::filesystem::path& path);

}  // namespace lumen::util
