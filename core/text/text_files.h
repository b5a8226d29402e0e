#pragma once
// Reading the tokenizers' vocabulary and merges files (internal to core/text).

#include <string>
#include <vector>

namespace lumen::text {

/// The file's lines without their "\n" or "\r\n"; a final newline ends the last line rather
/// than starting an empty one. Throws data::DataError naming the file (and the line for bytes
/// that are not UTF-8).
std::vector<std::string> readTextLines(const std::string& path);

/// The whole file; throws data::DataError naming it when it cannot be read.
std::string readTextFile(const std::string& path);

}  // namespace lumen::text
