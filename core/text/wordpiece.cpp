// WordPiece as BERT's reference tokenizer does it (docs/contrastive.md): clean, split CJK
// characters, NFC, split on whitespace, lower-case and strip accents, split punctuation, then
// greedy longest match with "##" continuations.
#include "data/data_error.h"
#include "text/text_files.h"
#include "text/tokenizer.h"
#include "text/unicode_text.h"

namespace lumen::text {
namespace {

bool isControl(char32_t c) {
    if (c == U'\t' || c == U'\n' || c == U'\r') return false;
    return category(c)[0] == 'C';
}

bool isBertWhitespace(char32_t c) { return c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || category(c) == "Zs"; }

bool isPunctuation(char32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
    return category(c)[0] == 'P';
}

bool isCjk(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::vector<std::u32string> splitOnSpace(const std::u32string& text) {
    std::vector<std::u32string> words;
    std::u32string word;
    for (char32_t c : text) {
        if (isPythonSpace(c)) {
            if (!word.empty()) words.push_back(std::move(word));
            word.clear();
        } else {
            word += c;
        }
    }
    if (!word.empty()) words.push_back(std::move(word));
    return words;
}

std::u32string stripAccents(const std::u32string& word) {
    std::u32string out;
    for (char32_t c : nfd(word))
        if (category(c) != "Mn") out += c;
    return out;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(const std::string& vocabPath, WordPieceOptions options) : options_(options) {
    const std::vector<std::string> lines = readTextLines(vocabPath);
    if (lines.empty()) throw data::DataError(vocabPath, "the vocabulary is empty (one token per line expected)");
    for (std::size_t i = 0; i < lines.size(); ++i) vocab_.add(lines[i], static_cast<TokenId>(i));
    vocabPath_ = vocabPath;
    setSpecialTokens();
}

WordPieceTokenizer::WordPieceTokenizer(const std::vector<std::string>& vocab, WordPieceOptions options)
    : options_(options) {
    for (std::size_t i = 0; i < vocab.size(); ++i) vocab_.add(vocab[i], static_cast<TokenId>(i));
    vocabPath_ = "(vocabulary)";
    setSpecialTokens();
}

void WordPieceTokenizer::setSpecialTokens() {
    start_ = "[CLS]";
    end_ = "[SEP]";
    pad_ = "[PAD]";
    unknown_ = "[UNK]";
    mask_ = "[MASK]";
}

std::vector<std::string> WordPieceTokenizer::basicTokens(const std::string& text) const {
    std::u32string cleaned;
    for (char32_t c : decodeUtf8(text)) {
        if (c == 0 || c == 0xFFFD || isControl(c)) continue;
        if (isBertWhitespace(c)) {
            cleaned += U' ';
        } else if (options_.splitCjk && isCjk(c)) {
            cleaned += U' ';
            cleaned += c;
            cleaned += U' ';
        } else {
            cleaned += c;
        }
    }
    const bool strip = options_.stripAccents.value_or(options_.lowercase);
    std::vector<std::string> out;
    for (std::u32string word : splitOnSpace(nfc(cleaned))) {
        if (options_.lowercase) word = toLower(word);
        if (strip) word = stripAccents(word);
        std::u32string run;
        for (char32_t c : word) {
            if (!isPunctuation(c)) {
                run += c;
                continue;
            }
            if (!run.empty()) out.push_back(encodeUtf8(run));
            run.clear();
            out.push_back(encodeUtf8(std::u32string(1, c)));
        }
        if (!run.empty()) out.push_back(encodeUtf8(run));
    }
    return out;
}

void WordPieceTokenizer::wordPieces(const std::u32string& word, std::vector<std::string>& out) const {
    if (word.size() > options_.maxWordChars) {
        out.push_back(unknown_);
        return;
    }
    std::vector<std::string> pieces;
    for (std::size_t start = 0; start < word.size();) {
        std::size_t end = word.size();
        std::string found;
        for (; end > start; --end) {
            std::string piece = (start > 0 ? "##" : "") + encodeUtf8(word.substr(start, end - start));
            if (vocab_.find(piece)) {
                found = std::move(piece);
                break;
            }
        }
        if (found.empty()) {
            out.push_back(unknown_);
            return;
        }
        pieces.push_back(std::move(found));
        start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
}

std::vector<std::string> WordPieceTokenizer::tokens(const std::string& text) const {
    std::vector<std::string> out;
    for (const auto& [piece, special] : splitSpecial(text)) {
        if (special) {
            out.push_back(piece);
            continue;
        }
        for (const std::string& word : basicTokens(piece)) wordPieces(decodeUtf8(word), out);
    }
    return out;
}

std::string WordPieceTokenizer::decode(const std::vector<TokenId>& ids) const {
    std::string out;
    for (TokenId id : ids) {
        const std::string* token = vocab_.token(id);
        if (!token || isSpecial(*token)) continue;
        if (token->rfind("##", 0) == 0) {
            out += token->substr(2);
        } else {
            if (!out.empty()) out += ' ';
            out += *token;
        }
    }
    return out;
}

}  // namespace lumen::text
