#pragma once
// A table with an id column and numeric columns, read from CSV: the shape of predictions
// and label tables. Ids stay strings (`0001234` is not 1234); cells that are empty or
// `nan`/`NA`/`null`… are missing (NaN). Stored column-major for fast statistics.

#include "data/id_index.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::data {

/// Errors name the file and, where there is one, the line.
class TableError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct CsvReadOptions {
    /// When set, receives every byte of the file as it is read (the file's SHA-256 comes free
    /// with the parse instead of from a second pass).
    std::function<void(const char* data, std::size_t size)> onBytes;
    char delimiter = ',';
    std::string idColumn;  ///< empty: the first column
    bool rejectDuplicateIds = true;
    /// false: a column with one cell that is not a number is a text column (left out).
    /// true: a column holding at least one number stays numeric; its text cells are read as
    /// missing and listed in `textCells` (a column with no number at all is still text).
    bool keepMixedColumns = false;
};

/// A cell that is not a number: its column, the file's line (1-based) and its text.
struct TextCell {
    std::string column;
    long long line = 0;
    std::string text;
};

struct NumericTable {
    std::filesystem::path path;
    std::string idName;
    std::vector<std::string> ids;
    std::vector<std::string> columns;         ///< numeric columns, in file order
    std::vector<std::vector<double>> values;  ///< values[column][row]; NaN = missing
    /// Columns other than the id holding text that is not a number (left out of `columns`),
    /// with the first offending line and cell, e.g. `notes (line 3: "see report")`.
    std::vector<std::string> textColumns;
    std::vector<TextCell> textColumnCells;  ///< the first text cell of each text column, same order
    /// With keepMixedColumns: the text cells of numeric columns (read as missing), the first
    /// kKeptTextCells of each column, and how many there are in all.
    std::vector<TextCell> textCells;
    std::uint64_t textCellCount = 0;
    static constexpr std::size_t kKeptTextCells = 20;

    /// Index of `ids` (built while reading; rebuild with reindex() after changing ids).
    std::shared_ptr<const IdIndex> index;

    std::size_t rowCount() const { return ids.size(); }
    void reindex() { index = std::make_shared<IdIndex>(ids); }
    std::optional<std::uint32_t> findRow(std::string_view id) const {
        return index ? index->find(id, ids) : IdIndex(ids).find(id, ids);
    }
    /// Index of a numeric column, or -1.
    int columnIndex(const std::string& name) const;
};

/// Reads a CSV with a header row: quoted fields ("" escapes a quote; delimiters and line
/// breaks inside quotes), CRLF or LF, optional UTF-8 BOM. Numbers in plain or exponent form;
/// `inf`/`-inf` are numbers. Throws TableError naming the file and line for an unreadable
/// file, an empty file, a missing id column, a row with the wrong number of fields, an
/// unterminated quote or a duplicate id. `job` (may be null) gets progress and is polled
/// for cancellation.
NumericTable readNumericCsv(const std::filesystem::path& path, const CsvReadOptions& options = {},
                            jobs::JobContext* job = nullptr);

/// The header row's fields (the file's first record), without reading the rest. Throws
/// TableError like readNumericCsv for an unreadable or empty file.
std::vector<std::string> readCsvHeader(const std::filesystem::path& path, char delimiter = ',');

/// Parses one cell as a number: true with `value` set (NaN for a missing-value token),
/// false for text. Exposed for tests.
bool parseNumericCell(const char* begin, const char* end, double& value);

}  // namespace lumen::data
