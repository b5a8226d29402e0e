#pragma once
// Text CSV records with their line numbers, for files whose cells are strings (manifests,
// NIH's Data_Entry_2017.csv). Numeric tables have their own fast reader (numeric_table.h).

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lumen::data {

struct CsvRecord {
    std::size_t line = 0;  ///< 1-based line where the record starts
    std::vector<std::string> fields;
};

/// Parses RFC 4180 CSV: quoted fields ("" escapes a quote; commas and line breaks inside
/// quotes), CRLF or LF, an optional UTF-8 BOM; blank lines are skipped. `file` names the
/// source in errors: an unterminated quote throws DataError naming file and line.
std::vector<CsvRecord> parseCsvRecords(std::string_view text, const std::filesystem::path& file);

/// Reads the file and parses it; an unreadable file throws DataError naming it.
std::vector<CsvRecord> readCsvRecords(const std::filesystem::path& file);

/// One CSV field, quoted when it holds a comma, a quote, a line break or edge spaces.
std::string csvField(std::string_view s);

}  // namespace lumen::data
