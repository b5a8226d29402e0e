#include "data/numeric_table.h"

#include "jobs/job.h"
#include "util/huge_pages.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cpuid.h>
#include <immintrin.h>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>
#include <unordered_map>

namespace lumen::data {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr std::array<double, 23> kPow10 = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                           1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool isMissingToken(std::string_view s) {
    static constexpr std::string_view kTokens[] = {"nan",  "NaN",  "NAN",  "NA",   "N/A",  "n/a",
                                                   "null", "NULL", "None", "none", "#N/A", "-nan"};
    for (auto t : kTokens)
        if (s == t) return true;
    return false;
}

// One field of the current record: a view into the read buffer, or for a quoted field the
// range of its unescaped copy in the parser's scratch space.
struct Field {
    const char* begin = nullptr;
    const char* end = nullptr;
    bool quoted = false;
    std::size_t scratchBegin = 0, scratchEnd = 0;
};

// Eight digits at a time (SWAR): how many of the 8 bytes at p are leading ASCII digits, and
// their value. Callers guarantee 8 readable bytes at p (the read buffer is padded).
inline int leadingDigits(std::uint64_t chunk) {
    const std::uint64_t high = (chunk & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL;
    const std::uint64_t low = ((chunk + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL;
    const std::uint64_t notDigit = high | low;  // a zero byte is a digit
    return notDigit ? __builtin_ctzll(notDigit) >> 3 : 8;
}

inline std::uint64_t digitsValue(std::uint64_t chunk, int count) {
    chunk <<= 8 * (8 - count);  // the digits become the low-order end of an 8-digit number
    chunk = ((chunk & 0x0F0F0F0F0F0F0F0FULL) * 2561) >> 8;
    chunk = ((chunk & 0x00FF00FF00FF00FFULL) * 6553601) >> 16;
    return ((chunk & 0x0000FFFF0000FFFFULL) * 42949672960001ULL) >> 32;
}

constexpr std::uint64_t kPow10Int[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

// Appends the digits at p to `mantissa`; false if there would be more than 19 in all.
inline bool readDigits(const char*& p, std::uint64_t& mantissa, int& total) {
    for (;;) {
        std::uint64_t chunk;
        std::memcpy(&chunk, p, 8);
        const int k = leadingDigits(chunk);
        if (k == 0) return true;
        total += k;
        if (total > 19) return false;
        mantissa = mantissa * kPow10Int[k] + digitsValue(chunk, k);
        p += k;
        if (k < 8) return true;
    }
}

// parseNumericCell for cells inside the padded read buffer.
inline bool parsePaddedCell(const char* begin, const char* end, double& value) {
    const char* p = begin;
    const bool negative = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+')) ++p;
    std::uint64_t mantissa = 0;
    int total = 0;
    if (readDigits(p, mantissa, total)) {
        const int intDigits = total;
        if (p < end && *p == '.') {
            ++p;
            if (!readDigits(p, mantissa, total)) return parseNumericCell(begin, end, value);
        }
        const int fraction = total - intDigits;
        if (p == end && total > 0 && mantissa < (std::uint64_t(1) << 53)) {
            const double v = double(mantissa) / kPow10[std::size_t(fraction)];
            value = negative ? -v : v;
            return true;
        }
    }
    return parseNumericCell(begin, end, value);
}

// The common cell, parsed straight from the buffer without first finding its end: a plain
// decimal number (or nothing: missing). Returns the position after it, or null when the cell
// is anything else (exponent, text, too many digits) and must go the general way.
inline const char* scanPlainNumber(const char* p, double& value) {
    const bool negative = *p == '-';
    if (*p == '-' || *p == '+') ++p;
    std::uint64_t mantissa = 0;
    int total = 0;
    if (!readDigits(p, mantissa, total)) return nullptr;
    const int intDigits = total;
    if (*p == '.') {
        ++p;
        if (!readDigits(p, mantissa, total)) return nullptr;
    }
    if (total == 0) {
        if (negative || p[-1] == '+' || p[-1] == '.') return nullptr;
        value = std::numeric_limits<double>::quiet_NaN();  // an empty cell
        return p;
    }
    if (mantissa >= (std::uint64_t(1) << 53)) return nullptr;
    const double v = double(mantissa) / kPow10[std::size_t(total - intDigits)];
    value = negative ? -v : v;
    return p;
}

// The same with SSE4.1: one 16-byte load classifies the bytes (digits, the dot), a shuffle
// packs up to 16 digits to the right, and three multiply-adds turn them into a number —
// about a third of the instructions of the 8-byte version for a typical "0.123456" cell.
// Shuffle masks by (integer digits, fraction digits): output byte 16-n+k takes the k-th digit.
struct DigitShuffles {
    alignas(16) std::uint8_t mask[17][17][16];
    DigitShuffles() {
        for (int ni = 0; ni <= 16; ++ni)
            for (int nf = 0; nf + ni <= 16; ++nf) {
                const int n = ni + nf;
                for (int o = 0; o < 16; ++o) {
                    const int k = o - (16 - n);  // which digit lands here (<0: a leading zero)
                    mask[ni][nf][o] = k < 0 ? 0x80 : std::uint8_t(k < ni ? k : k + 1);
                }
            }
    }
};
const DigitShuffles kDigitShuffles;

__attribute__((target("sse4.1,ssse3"))) const char* scanDecimalSse(const char* p, double& value) {
    const bool negative = *p == '-';
    if (negative) ++p;
    if (*p == '+') return scanPlainNumber(p - negative, value);
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i t = _mm_sub_epi8(bytes, _mm_set1_epi8('0'));
    const __m128i isDigit = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t);
    const unsigned digits = unsigned(_mm_movemask_epi8(isDigit));
    const int ni = __builtin_ctz(~digits | 0x10000u);
    int nf = 0, end = ni;
    if (ni < 16 && p[ni] == '.') {
        nf = __builtin_ctz(~(digits >> (ni + 1)) | (0x10000u >> (ni + 1)));
        end = ni + 1 + nf;
        if (nf == 0) return scanPlainNumber(p - negative, value);  // "5." or "." : the careful way
    }
    if (end >= 16) return scanPlainNumber(p - negative, value);  // too long to see its end
    if (ni + nf == 0) {
        if (negative || end != 0) return nullptr;
        value = std::numeric_limits<double>::quiet_NaN();  // an empty cell
        return p;
    }
    const __m128i packed =
        _mm_shuffle_epi8(t, _mm_load_si128(reinterpret_cast<const __m128i*>(kDigitShuffles.mask[ni][nf])));
    const __m128i pairs =
        _mm_maddubs_epi16(packed, _mm_set_epi8(1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10));
    const __m128i quads = _mm_madd_epi16(pairs, _mm_set_epi16(1, 100, 1, 100, 1, 100, 1, 100));
    const __m128i octs =
        _mm_madd_epi16(_mm_packus_epi32(quads, quads), _mm_set_epi16(1, 10000, 1, 10000, 1, 10000, 1, 10000));
    const std::uint64_t high = std::uint32_t(_mm_cvtsi128_si32(octs));
    const std::uint64_t low = std::uint32_t(_mm_extract_epi32(octs, 1));
    const std::uint64_t mantissa = high * 100000000ULL + low;
    if (mantissa >= (std::uint64_t(1) << 53)) return scanPlainNumber(p - negative, value);
    const double v = double(mantissa) / kPow10[std::size_t(nf)];
    value = negative ? -v : v;
    return p + end;
}

bool cpuHasSse41() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && ((c >> 19) & 1) && ((c >> 9) & 1);
}

using ScanNumber = const char* (*)(const char*, double&);
const ScanNumber kScanNumber = cpuHasSse41() ? scanDecimalSse : scanPlainNumber;

}  // namespace

bool parseNumericCell(const char* begin, const char* end, double& value) {
    while (begin < end && (*begin == ' ' || *begin == '\t')) ++begin;
    while (end > begin && (end[-1] == ' ' || end[-1] == '\t')) --end;
    if (begin == end) {
        value = kNaN;
        return true;
    }
    // Fast path: [-+]digits[.digits] with at most 19 digits in all. m / 10^k is exact for
    // m < 2^53 and k <= 22, so one correctly rounded division gives the right double.
    const char* p = begin;
    const bool negative = *p == '-';
    if (*p == '-' || *p == '+') ++p;
    std::uint64_t mantissa = 0;
    const char* digits = p;
    while (p < end && static_cast<unsigned>(*p - '0') < 10u) mantissa = mantissa * 10 + unsigned(*p++ - '0');
    const auto intDigits = p - digits;
    long fraction = 0;
    if (p < end && *p == '.') {
        const char* first = ++p;
        while (p < end && static_cast<unsigned>(*p - '0') < 10u) mantissa = mantissa * 10 + unsigned(*p++ - '0');
        fraction = p - first;
    }
    if (p == end && intDigits + fraction > 0 && intDigits + fraction <= 19 && fraction <= 22 &&
        mantissa < (std::uint64_t(1) << 53)) {
        const double v = double(mantissa) / kPow10[std::size_t(fraction)];
        value = negative ? -v : v;
        return true;
    }
    // General numbers (exponents, long mantissas, inf): the standard parser.
    const char* start = begin + (*begin == '+' ? 1 : 0);
    double v = 0;
    auto [ptr, ec] = std::from_chars(start, end, v);
    if (ptr == end && (ec == std::errc() || ec == std::errc::result_out_of_range)) {
        value = std::isnan(v) ? kNaN : v;
        return true;
    }
    if (isMissingToken(std::string_view(begin, size_t(end - begin)))) {
        value = kNaN;
        return true;
    }
    return false;
}

int NumericTable::columnIndex(const std::string& name) const {
    auto it = std::find(columns.begin(), columns.end(), name);
    return it == columns.end() ? -1 : int(it - columns.begin());
}

namespace {

class CsvParser {
public:
    CsvParser(const std::filesystem::path& path, const CsvReadOptions& options, jobs::JobContext* job)
        : path_(path), options_(options), job_(job) {}

    NumericTable run() {
        std::ifstream in(path_, std::ios::binary);
        if (!in) throw TableError(path_.string() + ": cannot open the file for reading");
        std::error_code ec;
        const auto total = std::filesystem::file_size(path_, ec);
        totalBytes_ = ec ? 0 : total;

        // Read in chunks of 4 MiB, or of the whole file when it is smaller (the buffer is
        // zero-filled: a small file should not pay for 4 MiB). The buffer still grows when the
        // file turns out longer, or a record longer, than the chunk.
        chunk_ = totalBytes_ ? std::size_t(std::clamp<std::uintmax_t>(totalBytes_ + 1, kMinChunk, kChunk)) : kChunk;
        buffer_.resize(chunk_ + kPadding);
        std::size_t filled = 0, consumed = 0, bytesRead = 0;
        bool eof = false, first = true;
        while (true) {
            if (!eof && filled - consumed < chunk_ / 2) {
                // Keep the unparsed tail, then top up the buffer.
                std::memmove(buffer_.data(), buffer_.data() + consumed, filled - consumed);
                filled -= consumed;
                consumed = 0;
                if (capacity() - filled < chunk_ / 2) buffer_.resize(capacity() * 2 + kPadding);
                in.read(buffer_.data() + filled, std::streamsize(capacity() - filled));
                const auto got = std::size_t(in.gcount());
                if (options_.onBytes && got) options_.onBytes(buffer_.data() + filled, got);
                if (in.bad()) throw TableError(path_.string() + ": read error");
                filled += got;
                bytesRead += got;
                eof = got == 0 || in.eof();
                if (job_) {
                    job_->throwIfCancelled();
                    if (totalBytes_)
                        job_->progress(double(bytesRead) / double(totalBytes_), "reading " + path_.filename().string());
                }
                if (first && filled >= 3 && std::memcmp(buffer_.data(), "\xEF\xBB\xBF", 3) == 0)
                    consumed = 3;  // UTF-8 byte-order mark
                first = false;
            }
            if (consumed >= filled && eof) break;
            const char* begin = buffer_.data() + consumed;
            const char* end = buffer_.data() + filled;
            const char* next = haveHeader_ ? fastRecord(begin, end, eof) : nullptr;
            if (next == kFallback || !haveHeader_) next = parseRecord(begin, end, eof);
            if (!next) {
                if (eof) throw TableError(path_.string() + ":" + std::to_string(line_) + ": unterminated quoted field");
                // The record continues past the buffer: force a refill and grow if needed.
                if (consumed == 0) buffer_.resize(capacity() * 2 + kPadding);
                std::memmove(buffer_.data(), buffer_.data() + consumed, filled - consumed);
                filled -= consumed;
                consumed = 0;
                in.read(buffer_.data() + filled, std::streamsize(capacity() - filled));
                const auto got = std::size_t(in.gcount());
                if (options_.onBytes && got) options_.onBytes(buffer_.data() + filled, got);
                filled += got;
                bytesRead += got;
                eof = got == 0 || in.eof();
                continue;
            }
            consumed = std::size_t(next - buffer_.data());
            if (headerOnly_ && haveHeader_) break;
            if (!reserved_ && ids_.size() == 64) reserveFor(consumed, std::size_t(line_ - 1));
        }
        if (!haveHeader_) throw TableError(path_.string() + ": the file is empty (no header row)");
        return headerOnly_ ? NumericTable{} : finish();
    }

    /// Makes run() stop after the header row; header() then has its fields.
    void stopAfterHeader() { headerOnly_ = true; }
    const std::vector<std::string>& header() const { return header_; }

private:
    static constexpr std::size_t kChunk = 4 << 20;
    static constexpr std::size_t kMinChunk = 4096;
    // Zero bytes after the data, so that 8-byte loads at any cell never leave the buffer.
    static constexpr std::size_t kPadding = 16;
    std::size_t capacity() const { return buffer_.size() - kPadding; }
    inline static const char* const kFallback = reinterpret_cast<const char*>(1);

    // The common record: one line, no quotes. Fields are found with memchr (vectorised) and
    // numbers parsed in place, with no copy. Returns kFallback for anything else (quotes,
    // a wrong field count, …), which the general parser then handles and reports; null when
    // the line continues past the buffer.
    const char* fastRecord(const char* p, const char* end, bool eof) {
        const char* lineEnd = static_cast<const char*>(std::memchr(p, '\n', std::size_t(end - p)));
        if (!lineEnd) {
            if (!eof) return nullptr;
            lineEnd = end;
        }
        const char* contentEnd = lineEnd;
        if (contentEnd > p && contentEnd[-1] == '\r') --contentEnd;
        if (contentEnd == p || std::memchr(p, '"', std::size_t(contentEnd - p))) return kFallback;
        const std::size_t columns = header_.size();
        const char delimiter = options_.delimiter;
        const char* field = p;
        for (std::size_t c = 0; c < columns; ++c) {
            if (int(c) != idIndex_ && slots_[c].numeric) {
                double v;
                const char* after = kScanNumber(field, v);
                const bool last = c + 1 == columns;
                if (after && (last ? after == contentEnd : after < contentEnd && *after == delimiter)) {
                    slots_[c].values.push_back(v);
                    field = after + 1;
                    continue;
                }
            }
            const char* q = static_cast<const char*>(std::memchr(field, delimiter, std::size_t(contentEnd - field)));
            if (c + 1 == columns) {
                if (q) {
                    rollback(c);
                    return kFallback;  // too many fields: the general parser reports it
                }
                q = contentEnd;
            } else if (!q) {
                rollback(c);
                return kFallback;  // too few fields
            }
            if (int(c) == idIndex_) {
                ids_.emplace_back(field, std::size_t(q - field));
            } else {
                Column& col = slots_[c];
                if (col.numeric) {
                    double v;
                    if (parsePaddedCell(field, q, v)) col.values.push_back(v);
                    else textCell(c, std::string_view(field, std::size_t(q - field)));
                }
            }
            field = q + 1;
        }
        ++line_;
        return lineEnd == end ? end : lineEnd + 1;
    }

    // Undoes the first `fields` cells of a record the fast path gave up on.
    void rollback(std::size_t fields) {
        for (std::size_t c = 0; c < fields; ++c) {
            if (int(c) == idIndex_) {
                ids_.pop_back();
                continue;
            }
            Column& col = slots_[c];
            if (col.numeric && !col.values.empty()) col.values.pop_back();
            if (col.lastTextLine == line_) {  // the general parser will see this cell again
                --col.textCount;
                col.lastTextLine = 0;
                if (!col.textCells.empty() && col.textCells.back().line == line_) col.textCells.pop_back();
            }
        }
    }

    // A cell of column `c` that is not a number: the column becomes text, or (keepMixedColumns)
    // the cell is read as missing and remembered.
    void textCell(std::size_t c, std::string_view cell) {
        Column& col = slots_[c];
        if (col.firstText.line == 0) col.firstText = {header_[c], line_, std::string(cell)};
        if (!options_.keepMixedColumns) {
            col.numeric = false;
            col.values = {};
            return;
        }
        col.values.push_back(kNaN);
        ++col.textCount;
        col.lastTextLine = line_;
        if (col.textCells.size() < NumericTable::kKeptTextCells)
            col.textCells.push_back({header_[c], line_, std::string(cell)});
    }

    // Reserves the column vectors from the first chunk's average line length, so that they
    // are not reallocated (and their pages touched twice) while they grow.
    void reserveFor(std::size_t sampleBytes, std::size_t sampleLines) {
        if (!totalBytes_ || !sampleLines || reserved_) return;
        reserved_ = true;
        const double perLine = double(sampleBytes) / double(sampleLines);
        const auto rows = std::size_t(double(totalBytes_) / perLine * 1.05) + 16;
        ids_.reserve(rows);
        util::adviseHugePages(ids_.data(), rows * sizeof(std::string));
        for (auto& col : slots_)
            if (col.numeric) {
                col.values.reserve(rows);
                util::adviseHugePages(col.values.data(), rows * sizeof(double));
            }
    }

    // Splits one record starting at `p`; returns the position after it, or null when the
    // buffer ends inside it (and more input may follow).
    const char* parseRecord(const char* p, const char* end, bool eof) {
        fields_.clear();
        scratchUsed_ = 0;
        int newlines = 0;
        const char delimiter = options_.delimiter;
        while (true) {
            if (p < end && *p == '"') {
                // Quoted: copy without the quotes, "" → ".
                ++p;
                const std::size_t start = scratchUsed_;
                while (true) {
                    const char* q = static_cast<const char*>(std::memchr(p, '"', size_t(end - p)));
                    if (!q) return nullptr;
                    newlines += int(std::count(p, q, '\n'));
                    append(p, q);
                    if (q + 1 < end && q[1] == '"') {
                        append(q, q + 1);
                        p = q + 2;
                        continue;
                    }
                    if (q + 1 >= end && !eof) return nullptr;
                    p = q + 1;
                    break;
                }
                Field f;
                f.quoted = true;
                f.scratchBegin = start;
                f.scratchEnd = scratchUsed_;
                fields_.push_back(f);
            } else {
                const char* q = p;
                while (q < end && *q != delimiter && *q != '\n') ++q;
                if (q == end && !eof) return nullptr;
                const char* fieldEnd = q;
                if (fieldEnd > p && fieldEnd[-1] == '\r' && (q == end || *q == '\n')) --fieldEnd;
                Field f;
                f.begin = p;
                f.end = fieldEnd;
                fields_.push_back(f);
                p = q;
            }
            if (p < end && *p == delimiter) {
                ++p;
                continue;
            }
            if (p < end && *p == '\r') ++p;
            if (p < end && *p == '\n') {
                ++p;
                ++newlines;
            } else if (p < end) {
                throw TableError(path_.string() + ":" + std::to_string(line_) +
                                 ": unexpected character after a closing quote");
            } else if (!eof) {
                return nullptr;
            }
            break;
        }
        handleRecord();
        line_ += std::max(newlines, 1);
        return p;
    }

    void append(const char* b, const char* e) {
        const std::size_t n = std::size_t(e - b);
        if (scratch_.size() < scratchUsed_ + n) scratch_.resize((scratchUsed_ + n) * 2);
        std::memcpy(scratch_.data() + scratchUsed_, b, n);
        scratchUsed_ += n;
    }

    std::string_view field(std::size_t i) const {
        const Field& f = fields_[i];
        if (!f.quoted) return {f.begin, std::size_t(f.end - f.begin)};
        return {scratch_.data() + f.scratchBegin, f.scratchEnd - f.scratchBegin};
    }

    void handleRecord() {
        if (fields_.size() == 1 && field(0).empty()) return;  // blank line
        if (!haveHeader_) {
            readHeader();
            return;
        }
        if (fields_.size() != header_.size())
            throw TableError(path_.string() + ":" + std::to_string(line_) + ": expected " +
                             std::to_string(header_.size()) + " fields as in the header, found " +
                             std::to_string(fields_.size()));
        const std::string_view id = field(std::size_t(idIndex_));
        ids_.emplace_back(id);
        for (std::size_t c = 0; c < header_.size(); ++c) {
            Column& col = slots_[c];
            if (!col.numeric) continue;
            const std::string_view cell = field(c);
            double v;
            if (parseNumericCell(cell.data(), cell.data() + cell.size(), v)) col.values.push_back(v);
            else textCell(c, cell);
        }
    }

    void readHeader() {
        haveHeader_ = true;
        for (std::size_t i = 0; i < fields_.size(); ++i) header_.emplace_back(field(i));
        if (options_.idColumn.empty()) {
            idIndex_ = 0;
        } else {
            auto it = std::find(header_.begin(), header_.end(), options_.idColumn);
            if (it == header_.end()) {
                std::string names;
                for (const auto& h : header_) names += (names.empty() ? "" : ", ") + h;
                throw TableError(path_.string() + ": no id column \"" + options_.idColumn +
                                 "\" in the header (columns: " + names + ")");
            }
            idIndex_ = int(it - header_.begin());
        }
        slots_.resize(header_.size());
        for (std::size_t i = 0; i < header_.size(); ++i) slots_[i].numeric = int(i) != idIndex_ && !header_[i].empty();
        std::unordered_map<std::string_view, std::size_t> seen;
        for (std::size_t i = 0; i < header_.size(); ++i) {
            if (header_[i].empty()) continue;
            auto [it, inserted] = seen.emplace(header_[i], i);
            if (!inserted)
                throw TableError(path_.string() + ":" + std::to_string(line_) + ": column \"" + header_[i] +
                                 "\" appears twice in the header");
        }
    }

    NumericTable finish() {
        NumericTable t;
        t.path = path_;
        t.idName = header_[std::size_t(idIndex_)];
        t.ids = std::move(ids_);
        for (std::size_t c = 0; c < header_.size(); ++c) {
            if (int(c) == idIndex_ || header_[c].empty()) continue;
            Column& col = slots_[c];
            // A mixed column without a single number is a text column after all.
            const bool numeric =
                col.numeric && (col.textCount == 0 || std::any_of(col.values.begin(), col.values.end(),
                                                                  [](double v) { return !std::isnan(v); }));
            if (numeric) {
                t.columns.push_back(header_[c]);
                t.values.push_back(std::move(col.values));
                t.textCells.insert(t.textCells.end(), col.textCells.begin(), col.textCells.end());
                t.textCellCount += col.textCount;
            } else {
                t.textColumns.push_back(header_[c] + " (line " + std::to_string(col.firstText.line) + ": \"" +
                                        col.firstText.text + "\")");
                t.textColumnCells.push_back(col.firstText);
            }
        }
        t.reindex();
        if (options_.rejectDuplicateIds) {
            if (const auto dup = t.index->firstDuplicate())
                throw TableError(path_.string() + ": id \"" + t.ids[dup->first] + "\" appears twice (data rows " +
                                 std::to_string(dup->first + 1) + " and " + std::to_string(dup->second + 1) + ")");
        }
        return t;
    }

    struct Column {
        bool numeric = true;
        std::vector<double> values;
        TextCell firstText;               // line 0: none yet
        std::vector<TextCell> textCells;  // keepMixedColumns: the first few
        std::uint64_t textCount = 0;
        long long lastTextLine = 0;
    };

    std::filesystem::path path_;
    CsvReadOptions options_;
    jobs::JobContext* job_;
    std::uintmax_t totalBytes_ = 0;
    std::size_t chunk_ = kChunk;
    std::vector<char> buffer_;
    std::vector<Field> fields_;
    std::vector<char> scratch_;
    std::size_t scratchUsed_ = 0;
    bool haveHeader_ = false;
    bool reserved_ = false;
    bool headerOnly_ = false;
    std::vector<std::string> header_;
    int idIndex_ = 0;
    std::vector<Column> slots_;
    std::vector<std::string> ids_;
    long long line_ = 1;
};

}  // namespace

NumericTable readNumericCsv(const std::filesystem::path& path, const CsvReadOptions& options, jobs::JobContext* job) {
    return CsvParser(path, options, job).run();
}

std::vector<std::string> readCsvHeader(const std::filesystem::path& path, char delimiter) {
    CsvReadOptions options;
    options.delimiter = delimiter;
    CsvParser parser(path, options, nullptr);
    parser.stopAfterHeader();
    parser.run();
    return parser.header();
}

}  // namespace lumen::data
