#include "text/tokenizer.h"

#include "data/data_error.h"
#include "text/text_files.h"
#include "text/unicode_text.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace lumen::text {

std::string readTextFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw data::DataError(path, "cannot open the file");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw data::DataError(path, "cannot read the file");
    return text.str();
}

std::vector<std::string> readTextLines(const std::string& path) {
    const std::string text = readTextFile(path);
    std::vector<std::string> lines;
    std::size_t from = 0;
    while (from < text.size()) {
        std::size_t end = text.find('\n', from);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(from, end - from);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (const std::size_t bad = invalidUtf8At(line); bad != std::string::npos)
            throw data::DataError(path, lines.size() + 1, 0, {},
                                  "byte " + std::to_string(bad + 1) + " of the line is not UTF-8");
        lines.push_back(std::move(line));
        from = end + 1;
    }
    return lines;
}

void Vocabulary::add(const std::string& token, TokenId id) {
    if (auto old = ids_.find(token); old != ids_.end()) tokens_.erase(old->second);
    ids_[token] = id;
    tokens_[id] = token;
    maxId_ = std::max(maxId_, id);
}

std::optional<TokenId> Vocabulary::find(const std::string& token) const {
    auto it = ids_.find(token);
    return it == ids_.end() ? std::nullopt : std::optional<TokenId>(it->second);
}

const std::string* Vocabulary::token(TokenId id) const {
    auto it = tokens_.find(id);
    return it == tokens_.end() ? nullptr : &it->second;
}

std::vector<TokenId> Tokenizer::encode(const std::string& text, bool addSpecial) const {
    std::vector<TokenId> ids;
    if (addSpecial)
        if (auto start = startId()) ids.push_back(*start);
    for (const std::string& token : tokens(text)) {
        if (auto found = vocab_.find(token)) {
            ids.push_back(*found);
        } else if (auto unknown = unknownId()) {
            ids.push_back(*unknown);
        } else {
            throw data::DataError(vocabPath_, "the token '" + token +
                                                  "' is not in the vocabulary, which has no unknown token to stand "
                                                  "for it");
        }
    }
    if (addSpecial)
        if (auto end = endId()) ids.push_back(*end);
    return ids;
}

bool Tokenizer::isSpecial(const std::string& token) const {
    for (const std::string* s : {&start_, &end_, &pad_, &unknown_, &mask_})
        if (!s->empty() && *s == token && vocab_.find(token)) return true;
    return false;
}

std::vector<std::pair<std::string, bool>> Tokenizer::splitSpecial(const std::string& text) const {
    std::vector<std::string> specials;
    for (const std::string* s : {&start_, &end_, &pad_, &unknown_, &mask_})
        if (!s->empty() && vocab_.find(*s)) specials.push_back(*s);
    std::vector<std::pair<std::string, bool>> pieces;
    std::size_t from = 0;
    while (from < text.size()) {
        std::size_t at = std::string::npos, length = 0;
        for (const std::string& s : specials) {
            const std::size_t found = text.find(s, from);
            if (found < at || (found == at && found != std::string::npos && s.size() > length)) {
                at = found;
                length = s.size();
            }
        }
        if (at == std::string::npos) break;
        if (at > from) pieces.emplace_back(text.substr(from, at - from), false);
        pieces.emplace_back(text.substr(at, length), true);
        from = at + length;
    }
    if (from < text.size()) pieces.emplace_back(text.substr(from), false);
    return pieces;
}

std::unique_ptr<Tokenizer> loadTokenizer(const std::string& vocabPath, const std::string& mergesPath, bool lowercase) {
    if (mergesPath.empty()) {
        WordPieceOptions options;
        options.lowercase = lowercase;
        return std::make_unique<WordPieceTokenizer>(vocabPath, options);
    }
    BpeOptions options;
    options.lowercase = lowercase;
    return std::make_unique<ByteBpeTokenizer>(vocabPath, mergesPath, options);
}

}  // namespace lumen::text
