// lumen-cli tokenize: a vocabulary's tokens and ids for texts, as JSON (docs/contrastive.md).
#include "cli_command.h"
#include "text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <iostream>

namespace lumen::cli {

Command tokenizeCommand() {
    Command c;
    c.name = "tokenize";
    c.summary = "Tokens and ids of texts under a WordPiece or byte-level BPE vocabulary, as JSON";
    c.usage = R"(Usage: lumen-cli tokenize --vocab FILE [--merges FILE] [--lowercase] [--special] TEXT...

Tokenizes each TEXT with the vocabulary in the user's files (nothing is downloaded):
  --vocab FILE     a BERT vocab.txt (WordPiece), or with --merges a vocab.json/encoder.json
  --merges FILE    merges.txt/vocab.bpe: byte-level BPE, GPT-2's flavour, or CLIP's when the
                   merges end words with "</w>" (CLIP lower-cases and collapses whitespace)
  --lowercase      lower-case first (WordPiece then also strips accents, as uncased BERT does)
  --special        wrap the ids in the vocabulary's start/end tokens ([CLS]/[SEP],
                   <|startoftext|>/<|endoftext|>)

Prints a JSON object: "tokenizer" (wordpiece, bpe-gpt2, bpe-clip), "vocab_size", and "texts",
one {"text", "tokens", "ids"} per TEXT in order. A token the vocabulary lacks takes its unknown
token ([UNK], <|endoftext|>); errors name the file and line.
)";
    c.valueOptions = {"vocab", "merges"};
    c.flags = {"lowercase", "special"};
    c.run = [](const Args& args, const plugin::Registry&) {
        const auto vocab = args.value("vocab");
        if (!vocab) throw UsageError("tokenize needs --vocab FILE");
        if (args.words.size() < 2) throw UsageError("tokenize needs at least one TEXT");
        const auto tokenizer = text::loadTokenizer(*vocab, args.value("merges").value_or(""), args.has("lowercase"));
        nlohmann::json texts = nlohmann::json::array();
        for (std::size_t i = 1; i < args.words.size(); ++i) {
            const std::string& t = args.words[i];
            nlohmann::json tokens = tokenizer->tokens(t);
            if (args.has("special")) {
                if (auto start = tokenizer->startId())
                    tokens.insert(tokens.begin(), *tokenizer->vocabulary().token(*start));
                if (auto end = tokenizer->endId()) tokens.push_back(*tokenizer->vocabulary().token(*end));
            }
            texts.push_back({{"text", t}, {"tokens", tokens}, {"ids", tokenizer->encode(t, args.has("special"))}});
        }
        nlohmann::json out = {
            {"tokenizer", tokenizer->kind()}, {"vocab_size", tokenizer->vocabulary().size()}, {"texts", texts}};
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
