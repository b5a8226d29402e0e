// Byte-level BPE as GPT-2's and CLIP's reference encoders do it (docs/contrastive.md): the
// pre-tokenizer's pattern written out as a scanner, UTF-8 bytes mapped to printable characters,
// then the lowest-ranked adjacent pair merged until none is in the merges.
#include "data/data_error.h"
#include "text/text_files.h"
#include "text/tokenizer.h"
#include "text/unicode_text.h"

#include <nlohmann/json.hpp>

#include <limits>

namespace lumen::text {
namespace {

const std::u32string kEndOfWord = U"</w>";

/// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the rest to 256+n.
std::vector<char32_t> byteCharacters() {
    std::vector<char32_t> chars(256, 0);
    std::vector<bool> kept(256, false);
    for (int b = '!'; b <= '~'; ++b) kept[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) kept[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) kept[b] = true;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) chars[b] = kept[b] ? static_cast<char32_t>(b) : next++;
    return chars;
}

enum class Kind { Letter, Number, Space, Other };
Kind kindOf(char32_t c) {
    if (isLetter(c)) return Kind::Letter;
    if (isNumber(c)) return Kind::Number;
    if (isWhiteSpace(c)) return Kind::Space;
    return Kind::Other;
}

/// The length of a contraction ('s 't 're 've 'm 'll 'd) at `i`, 0 when there is none.
std::size_t contraction(const std::u32string& t, std::size_t i, bool ignoreCase) {
    if (t[i] != U'\'') return 0;
    auto at = [&](std::size_t k) -> char32_t {
        if (k >= t.size()) return 0;
        const char32_t c = t[k];
        return ignoreCase && c >= U'A' && c <= U'Z' ? c - U'A' + U'a' : c;
    };
    const char32_t a = at(i + 1), b = at(i + 2);
    if (a == U's' || a == U't' || a == U'm' || a == U'd') return 2;
    if ((a == U'r' || a == U'v') && b == U'e') return 3;
    if (a == U'l' && b == U'l') return 3;
    return 0;
}

std::size_t runOf(const std::u32string& t, std::size_t i, Kind kind) {
    std::size_t j = i;
    while (j < t.size() && kindOf(t[j]) == kind) ++j;
    return j - i;
}

/// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
std::vector<std::u32string> gpt2Words(const std::u32string& t) {
    std::vector<std::u32string> words;
    for (std::size_t i = 0; i < t.size();) {
        std::size_t length = contraction(t, i, false);
        if (!length) {
            const std::size_t j = t[i] == U' ' ? i + 1 : i;
            for (Kind kind : {Kind::Letter, Kind::Number, Kind::Other}) {
                if (j < t.size() && kindOf(t[j]) == kind) {
                    length = j - i + runOf(t, j, kind);
                    break;
                }
            }
        }
        if (!length) {
            const std::size_t run = runOf(t, i, Kind::Space);  // t[i] is whitespace here
            length = (i + run == t.size() || run == 1) ? run : run - 1;
        }
        words.push_back(t.substr(i, length));
        i += length;
    }
    return words;
}

/// CLIP: 's|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ (ignoring case), whitespace
/// between matches dropped.
std::vector<std::u32string> clipWords(const std::u32string& t) {
    std::vector<std::u32string> words;
    for (std::size_t i = 0; i < t.size();) {
        std::size_t length = contraction(t, i, true);
        if (!length) {
            const Kind kind = kindOf(t[i]);
            if (kind == Kind::Space) {
                ++i;
                continue;
            }
            length = kind == Kind::Number ? 1 : runOf(t, i, kind);
        }
        words.push_back(t.substr(i, length));
        i += length;
    }
    return words;
}

/// CLIP's whitespace_clean: runs of whitespace become one space, the ends trimmed.
std::u32string collapseSpace(const std::u32string& t) {
    std::u32string out;
    for (char32_t c : t) {
        if (isPythonSpace(c)) {
            if (!out.empty() && out.back() != U' ') out += U' ';
        } else {
            out += c;
        }
    }
    if (!out.empty() && out.back() == U' ') out.pop_back();
    return out;
}

}  // namespace

ByteBpeTokenizer::ByteBpeTokenizer(const std::string& vocabPath, const std::string& mergesPath, BpeOptions options)
    : byteToChar_(byteCharacters()), options_(options) {
    vocabPath_ = vocabPath;
    nlohmann::json vocab;
    try {
        vocab = nlohmann::json::parse(readTextFile(vocabPath));
    } catch (const nlohmann::json::exception& e) {
        throw data::DataError(vocabPath, std::string("not JSON: ") + e.what());
    }
    if (!vocab.is_object()) throw data::DataError(vocabPath, "expected a JSON object {\"token\": id, ...}");
    for (const auto& [token, id] : vocab.items()) {
        if (!id.is_number_integer())
            throw data::DataError(vocabPath, "the id of token '" + token + "' is not an integer");
        vocab_.add(token, id.get<TokenId>());
    }
    const std::vector<std::string> lines = readTextLines(mergesPath);
    std::size_t rank = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].empty() || (i == 0 && lines[i].rfind("#version", 0) == 0)) continue;
        const std::size_t space = lines[i].find(' ');
        if (space == std::string::npos || space == 0 || space + 1 == lines[i].size() ||
            lines[i].find(' ', space + 1) != std::string::npos)
            throw data::DataError(mergesPath, i + 1, 0, {},
                                  "a merge is two tokens separated by one space, not '" + lines[i] + "'");
        const std::u32string merge = decodeUtf8(lines[i]);
        if (merge.size() >= kEndOfWord.size() &&
            merge.compare(merge.size() - kEndOfWord.size(), kEndOfWord.size(), kEndOfWord) == 0)
            flavour_ = Flavour::Clip;
        ranks_[merge] = rank++;  // a merge listed twice keeps its later rank, as the reference does
    }
    for (std::size_t b = 0; b < byteToChar_.size(); ++b) charToByte_[byteToChar_[b]] = static_cast<unsigned char>(b);
    end_ = unknown_ = "<|endoftext|>";
    if (flavour_ == Flavour::Clip) {
        start_ = "<|startoftext|>";
        pad_ = end_;
    }
}

std::vector<std::string> ByteBpeTokenizer::words(const std::string& text) const {
    std::u32string t = decodeUtf8(text);
    if (flavour_ == Flavour::Clip) t = collapseSpace(t);
    if (options_.lowercase || flavour_ == Flavour::Clip) t = toLower(t);
    std::vector<std::string> out;
    for (const std::u32string& w : flavour_ == Flavour::Clip ? clipWords(t) : gpt2Words(t))
        out.push_back(encodeUtf8(w));
    return out;
}

void ByteBpeTokenizer::merge(std::vector<std::u32string>& word) const {
    while (word.size() > 1) {
        std::size_t best = std::numeric_limits<std::size_t>::max(), at = 0;
        for (std::size_t i = 0; i + 1 < word.size(); ++i) {
            auto rank = ranks_.find(word[i] + U' ' + word[i + 1]);
            if (rank != ranks_.end() && rank->second < best) {
                best = rank->second;
                at = i;
            }
        }
        if (best == std::numeric_limits<std::size_t>::max()) return;
        const std::u32string first = word[at], second = word[at + 1];
        std::vector<std::u32string> merged;
        for (std::size_t i = 0; i < word.size(); ++i) {
            if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
                merged.push_back(first + second);
                ++i;
            } else {
                merged.push_back(word[i]);
            }
        }
        word = std::move(merged);
    }
}

std::vector<std::string> ByteBpeTokenizer::tokens(const std::string& text) const {
    std::vector<std::string> out;
    for (const auto& [piece, special] : splitSpecial(text)) {
        if (special) {
            out.push_back(piece);
            continue;
        }
        for (const std::string& w : words(piece)) {
            std::vector<std::u32string> word;
            for (unsigned char byte : w) word.emplace_back(1, byteToChar_[byte]);
            if (flavour_ == Flavour::Clip) word.back() += kEndOfWord;
            merge(word);
            for (const std::u32string& symbol : word) out.push_back(encodeUtf8(symbol));
        }
    }
    return out;
}

std::string ByteBpeTokenizer::decode(const std::vector<TokenId>& ids) const {
    std::u32string joined;
    for (TokenId id : ids) {
        const std::string* token = vocab_.token(id);
        if (token && !isSpecial(*token)) joined += decodeUtf8(*token);
    }
    std::string bytes;
    for (std::size_t i = 0; i < joined.size(); ++i) {
        if (flavour_ == Flavour::Clip && joined.compare(i, kEndOfWord.size(), kEndOfWord) == 0) {
            bytes += ' ';
            i += kEndOfWord.size() - 1;
            continue;
        }
        auto byte = charToByte_.find(joined[i]);
        if (byte != charToByte_.end()) bytes += static_cast<char>(byte->second);
    }
    std::string text = encodeUtf8(decodeUtf8(bytes));
    if (flavour_ == Flavour::Clip) {
        while (!text.empty() && text.back() == ' ') text.pop_back();
    }
    return text;
}

}  // namespace lumen::text
