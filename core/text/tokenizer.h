#pragma once
// Tokenizers read from the user's vocabulary files, no hub (docs/contrastive.md):
// - WordPiece from a BERT vocab.txt: the basic tokenizer (text cleaning, NFC, optional lower-
//   casing with accent stripping, punctuation and CJK splitting) then greedy longest match with
//   "##" continuations, [UNK] for a word over 100 characters or one no piece covers;
// - byte-level BPE from vocab.json/encoder.json + merges.txt/vocab.bpe, in GPT-2's flavour
//   (its pre-tokenizer pattern, no end-of-word marker) or CLIP's (lower-cased, whitespace
//   collapsed, "</w>" ending a word), the flavour read from the merges file.
// Special tokens written in the text ([CLS], [MASK], <|endoftext|>, ...) stay whole, as Hugging
// Face's tokenizers keep them. Errors name the file and line.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lumen::text {

using TokenId = std::int64_t;

/// Token <-> id, as read from a vocabulary file.
class Vocabulary {
public:
    void add(const std::string& token, TokenId id);  ///< a token seen again takes the later id
    std::optional<TokenId> find(const std::string& token) const;
    const std::string* token(TokenId id) const;  ///< nullptr for an id no token has
    std::size_t size() const { return ids_.size(); }
    /// The largest id (-1 when empty): an embedding table needs maxId() + 1 rows.
    TokenId maxId() const { return maxId_; }

private:
    TokenId maxId_ = -1;
    std::unordered_map<std::string, TokenId> ids_;
    std::unordered_map<TokenId, std::string> tokens_;
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    virtual std::string kind() const = 0;  ///< "wordpiece", "bpe-gpt2" or "bpe-clip"
    /// The tokens of `text` (no start/end tokens).
    virtual std::vector<std::string> tokens(const std::string& text) const = 0;
    /// Ids of tokens(text); with `addSpecial` wrapped in the start and end tokens the vocabulary
    /// has ([CLS]/[SEP], <|startoftext|>/<|endoftext|>). A token missing from the vocabulary
    /// takes the unknown token's id, or throws naming it when there is none.
    std::vector<TokenId> encode(const std::string& text, bool addSpecial = false) const;
    /// Text from ids; special tokens are left out.
    virtual std::string decode(const std::vector<TokenId>& ids) const = 0;

    const Vocabulary& vocabulary() const { return vocab_; }
    std::optional<TokenId> startId() const { return id(start_); }
    std::optional<TokenId> endId() const { return id(end_); }
    std::optional<TokenId> padId() const { return id(pad_); }
    std::optional<TokenId> unknownId() const { return id(unknown_); }
    std::optional<TokenId> maskId() const { return id(mask_); }

protected:
    std::optional<TokenId> id(const std::string& token) const {
        return token.empty() ? std::nullopt : vocab_.find(token);
    }
    /// Splits `text` around the special tokens the vocabulary has: (piece, isSpecial) in order.
    std::vector<std::pair<std::string, bool>> splitSpecial(const std::string& text) const;
    bool isSpecial(const std::string& token) const;

    Vocabulary vocab_;
    std::string start_, end_, pad_, unknown_, mask_;
    std::string vocabPath_;
};

struct WordPieceOptions {
    bool lowercase = true;
    /// Strip accents (NFD, drop Mn); unset = follow `lowercase`, as BERT does.
    std::optional<bool> stripAccents;
    bool splitCjk = true;
    std::size_t maxWordChars = 100;
};

class WordPieceTokenizer : public Tokenizer {
public:
    /// One token per line, id = line number - 1. Throws data::DataError naming the file.
    WordPieceTokenizer(const std::string& vocabPath, WordPieceOptions options = {});
    WordPieceTokenizer(const std::vector<std::string>& vocab, WordPieceOptions options = {});

    std::string kind() const override { return "wordpiece"; }
    std::vector<std::string> tokens(const std::string& text) const override;
    std::string decode(const std::vector<TokenId>& ids) const override;
    /// The basic tokenizer's words, before WordPiece.
    std::vector<std::string> basicTokens(const std::string& text) const;

private:
    void setSpecialTokens();
    void wordPieces(const std::u32string& word, std::vector<std::string>& out) const;
    WordPieceOptions options_;
};

struct BpeOptions {
    bool lowercase = false;  ///< lower-case first (CLIP always does)
};

class ByteBpeTokenizer : public Tokenizer {
public:
    enum class Flavour { Gpt2, Clip };
    /// vocab.json/encoder.json ({"token": id}) and merges.txt/vocab.bpe ("a b" per line, a
    /// "#version" line skipped). CLIP's flavour when the merges end words with "</w>".
    ByteBpeTokenizer(const std::string& vocabPath, const std::string& mergesPath, BpeOptions options = {});

    std::string kind() const override { return flavour_ == Flavour::Clip ? "bpe-clip" : "bpe-gpt2"; }
    Flavour flavour() const { return flavour_; }
    std::vector<std::string> tokens(const std::string& text) const override;
    std::string decode(const std::vector<TokenId>& ids) const override;
    /// The pre-tokenizer's pieces (UTF-8), before the byte mapping and the merges.
    std::vector<std::string> words(const std::string& text) const;

private:
    void merge(std::vector<std::u32string>& word) const;
    std::unordered_map<std::u32string, std::size_t> ranks_;  ///< "a b" with a space -> rank
    std::vector<char32_t> byteToChar_;
    std::unordered_map<char32_t, unsigned char> charToByte_;
    Flavour flavour_ = Flavour::Gpt2;
    BpeOptions options_;
};

/// WordPiece when `mergesPath` is empty, byte-level BPE otherwise; `lowercase` as the flag.
std::unique_ptr<Tokenizer> loadTokenizer(const std::string& vocabPath, const std::string& mergesPath, bool lowercase);

}  // namespace lumen::text
