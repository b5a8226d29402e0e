#pragma once
// The one error type of the readers: the message starts with the file and says what is wrong.

#include <filesystem>
#include <stdexcept>
#include <string>

namespace lumen::io {

/// A file that cannot be read as what it claims to be; what() is "PATH: reason".
class ReadError : public std::runtime_error {
public:
    ReadError(const std::filesystem::path& file, const std::string& reason)
        : std::runtime_error(file.string() + ": " + reason), file_(file), reason_(reason) {}
    const std::filesystem::path& file() const { return file_; }
    const std::string& reason() const { return reason_; }

private:
    std::filesystem::path file_;
    std::string reason_;
};

}  // namespace lumen::io
