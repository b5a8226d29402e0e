#pragma once
// The error of the data layer (manifests, importers, splits, statistics, loader): the
// message starts with the file and, where there is one, the line and the column.

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace lumen::data {

/// what() is "FILE:LINE: column N (NAME): reason", shortened when line or column are unknown.
class DataError : public std::runtime_error {
public:
    DataError(const std::filesystem::path& file, std::size_t line, std::size_t column, const std::string& columnName,
              const std::string& reason)
        : std::runtime_error(format(file, line, column, columnName, reason)),
          file_(file),
          line_(line),
          column_(column),
          columnName_(columnName),
          reason_(reason) {}
    DataError(const std::filesystem::path& file, const std::string& reason) : DataError(file, 0, 0, {}, reason) {}

    const std::filesystem::path& file() const { return file_; }
    std::size_t line() const { return line_; }      ///< 1-based; 0 = not about one line
    std::size_t column() const { return column_; }  ///< 1-based; 0 = not about one column
    const std::string& columnName() const { return columnName_; }
    const std::string& reason() const { return reason_; }

private:
    static std::string format(const std::filesystem::path& file, std::size_t line, std::size_t column,
                              const std::string& columnName, const std::string& reason) {
        std::string s = file.string();
        if (line) s += ":" + std::to_string(line);
        s += ": ";
        if (column) {
            s += "column " + std::to_string(column);
            if (!columnName.empty()) s += " (" + columnName + ")";
            s += ": ";
        } else if (!columnName.empty()) {
            s += "column " + columnName + ": ";
        }
        return s + reason;
    }
    std::filesystem::path file_;
    std::size_t line_, column_;
    std::string columnName_, reason_;
};

}  // namespace lumen::data
