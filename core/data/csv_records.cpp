#include "data/csv_records.h"

#include "data/data_error.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace lumen::data {

std::vector<CsvRecord> parseCsvRecords(std::string_view text, const std::filesystem::path& file) {
    std::vector<CsvRecord> out;
    std::size_t i = 0, line = 1;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
    const std::size_t n = text.size();
    while (i < n) {
        // Blank line: skipped (a trailing newline is not an empty record).
        if (text[i] == '\n' || text[i] == '\r') {
            if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
            ++i;
            ++line;
            continue;
        }
        CsvRecord rec;
        rec.line = line;
        std::string field;
        bool endOfRecord = false;
        while (!endOfRecord) {
            field.clear();
            if (i < n && text[i] == '"') {
                const std::size_t quoteLine = line;
                ++i;
                for (;;) {
                    if (i >= n) throw DataError(file, quoteLine, rec.fields.size() + 1, {}, "unterminated quote");
                    const char c = text[i];
                    if (c == '"') {
                        if (i + 1 < n && text[i + 1] == '"') {
                            field += '"';
                            i += 2;
                            continue;
                        }
                        ++i;
                        break;
                    }
                    if (c == '\n') ++line;
                    field += c;
                    ++i;
                }
                // Text after the closing quote up to the delimiter is kept, as pandas does.
                while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') field += text[i++];
            } else {
                const std::size_t start = i;
                while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') ++i;
                field.assign(text.substr(start, i - start));
            }
            rec.fields.push_back(field);
            if (i < n && text[i] == ',') {
                ++i;
            } else {
                if (i < n && text[i] == '\r') ++i;
                if (i < n && text[i] == '\n') ++i;
                ++line;
                endOfRecord = true;
            }
        }
        out.push_back(std::move(rec));
    }
    return out;
}

std::vector<CsvRecord> readCsvRecords(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw DataError(file, std::string("cannot open: ") + std::strerror(errno));
    const std::string text{std::istreambuf_iterator<char>(in), {}};
    if (in.bad()) throw DataError(file, "read error");
    return parseCsvRecords(text, file);
}

std::string csvField(std::string_view s) {
    const bool quote =
        s.find_first_of(",\"\r\n") != std::string_view::npos || (!s.empty() && (s.front() == ' ' || s.back() == ' '));
    if (!quote) return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

}  // namespace lumen::data
