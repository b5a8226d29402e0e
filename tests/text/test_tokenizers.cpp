// core/text against tokenizer_reference.py (BERT's basic + WordPiece, GPT-2's encoder and
// CLIP's simple tokenizer, written from the published algorithms), hand cases, bad files,
// and lumen-cli tokenize.
#include "test_support.h"

#include "data/data_error.h"
#include "text/tokenizer.h"

#include <nlohmann/json.hpp>

using namespace lumen;
using nlohmann::json;

namespace {

// Ids follow the order; the reference sees the same list.
const std::vector<std::string> kBertVocab = {
    "[PAD]",    "[UNK]", "[CLS]",     "[SEP]",    "[MASK]",  "hello",   "Hello", ",",       "world",   "World",
    "!",        "the",   "The",       "patient",  "'",       "s",       "la",    "##d",     "##D",     "LA",
    "shows",    "70",    "%",         "stenosis", ".",       "un",      "##aff", "##able",  "run",     "##ning",
    "##ner",    "肺",    "炎",        "in",       "右",      "lung",    "tab",   "here",    "newline", "spaces",
    "end",      "cafe",  "café",      "naive",    "unicode", "facade",  "zero",  "##width", "and",     "soft",
    "##hyphen", "is",    "present",   "i",        "I",       "m",       "sure",  "they",    "ll",      "ve",
    "done",     "DONE",  "it",        "quoted",   "sup",     "numbers", "123",   "##45",    "3",       "14",
    "½",        "²",     "οδος",      "σας",      "a",       "##a",     "emoji", "heart",   "leading", "trailing",
    "x",        "y",     "b",         "mixed",    "line",    "sep",     "info",  "[",       "]",       "mask",
    "<",        "|",     "endoftext", ">",        "after",   "-",       "rca",   "RCA",     "##s"};

const std::vector<std::string> kTexts = {"Héllo, World! The patient's LAD shows 70% stenosis.",
                                         "unaffable running runner's",
                                         "肺炎 in the 右 lung",
                                         "tab\there\nnewline\r\n  spaces   end  ",
                                         "café naïve Ünïcödé façade",
                                         "Zero\u200bwidth and soft\u00adhyphen",
                                         "[MASK] is [CLS]present[SEP] here",
                                         "I'm sure they'll've DONE it, 'quoted' and 'Sup",
                                         "numbers 12345 and 3.14 and ½ and ²",
                                         "ΟΔΟΣ ΣΑΣ",
                                         std::string(101, 'a'),
                                         "emoji \U0001FAC0 heart",
                                         "<|endoftext|>after<|endoftext|>",
                                         "  leading and trailing  ",
                                         "a \nb",
                                         "x  \t y",
                                         "nbsp\u00a0here",
                                         "mixed\u2028line sep",
                                         "\x1cinfo sep",
                                         "RCA-RCAs RCA's 2x3",
                                         ""};

json runReference(const QTemporaryDir& dir) {
    std::vector<std::string> corpus = kTexts;
    for (int i = 0; i < 3; ++i) {
        corpus.push_back("The patient's LAD shows a 70% stenosis; the RCA is occluded (CTO) with calcification.");
        corpus.push_back("No significant stenosis of the left main. Mild disease of the circumflex, 30-40%.");
        corpus.push_back("Consolidation in the right lower lobe consistent with pneumonia; no effusion.");
    }
    const json input = {{"folder", dir.path().toStdString()},
                        {"bert_vocab", kBertVocab},
                        {"texts", kTexts},
                        {"bpe_corpus", corpus},
                        {"bpe_merges", 120}};
    const std::string in = writeTextFile(dir, "ref_in.json", input.dump());
    const QString out = dir.filePath("ref_out.json");
    QProcess py;
    py.start(qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"),
             {QStringLiteral(LUMEN_SOURCE_DIR "/tests/text/tokenizer_reference.py"), QString::fromStdString(in), out});
    if (!py.waitForFinished(120000) || py.exitStatus() != QProcess::NormalExit || py.exitCode() != 0)
        throw std::runtime_error("tokenizer_reference.py failed (needs python3-regex): " +
                                 (py.readAllStandardOutput() + py.readAllStandardError()).toStdString());
    std::ifstream result(out.toStdString());
    return json::parse(result);
}

std::vector<std::string> wordsOf(const json& j) { return j.get<std::vector<std::string>>(); }

}  // namespace

class TestTokenizers : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    json ref_;
    std::string bertVocab_;

    void compareBpe(const std::string& name, text::ByteBpeTokenizer::Flavour flavour) {
        const json& r = ref_[name];
        text::ByteBpeTokenizer t(r["vocab"].get<std::string>(), r["merges"].get<std::string>());
        QCOMPARE(t.flavour(), flavour);
        QVERIFY(r["merge_count"].get<int>() >= 100);  // the merges are real, not a few
        std::size_t merged = 0;
        for (std::size_t i = 0; i < kTexts.size(); ++i) {
            const std::string context = name + " text " + std::to_string(i) + ": " + kTexts[i];
            QVERIFY2(t.words(kTexts[i]) == wordsOf(r["words"][i]), context.c_str());
            QCOMPARE(t.tokens(kTexts[i]), wordsOf(r["texts"][i][0]));
            QVERIFY2(t.encode(kTexts[i]) == r["texts"][i][1].get<std::vector<text::TokenId>>(), context.c_str());
            for (const std::string& token : t.tokens(kTexts[i])) merged += token.size() > 2 ? 1 : 0;
            if (flavour == text::ByteBpeTokenizer::Flavour::Gpt2 && kTexts[i].find("<|") == std::string::npos)
                QCOMPARE(t.decode(t.encode(kTexts[i])), kTexts[i]);  // byte-level BPE loses nothing
        }
        QVERIFY2(merged > 20, "the learned merges should join bytes in the test texts");
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        std::string lines;
        for (const std::string& token : kBertVocab) lines += token + "\n";
        bertVocab_ = writeTextFile(dir_, "vocab.txt", lines);
        ref_ = runReference(dir_);
    }

    void wordPieceHandCases() {
        text::WordPieceTokenizer uncased(bertVocab_);
        using V = std::vector<std::string>;
        QCOMPARE(uncased.tokens("Héllo, World!"), (V{"hello", ",", "world", "!"}));
        QCOMPARE(uncased.tokens("unaffable"), (V{"un", "##aff", "##able"}));
        QCOMPARE(uncased.tokens("café"), (V{"cafe"}));                             // accents stripped when uncased
        QCOMPARE(uncased.tokens("xyzzy ok"), (V{"[UNK]", "[UNK]"}));               // no piece covers them
        QCOMPARE(uncased.tokens(std::string(101, 'a')), (V{"[UNK]"}));             // over 100 characters
        QCOMPARE(uncased.tokens(std::string(100, 'a')).size(), std::size_t(100));  // "a" + 99 "##a"
        QCOMPARE(uncased.tokens("肺炎"), (V{"肺", "炎"}));                         // CJK characters split
        QCOMPARE(uncased.tokens("[MASK] is present"), (V{"[MASK]", "is", "present"}));
        QCOMPARE(uncased.tokens("the\u200b patient"), (V{"the", "patient"}));  // U+200B (Cf) is dropped
        QCOMPARE(uncased.encode("hello world", true), (std::vector<text::TokenId>{2, 5, 8, 3}));
        QCOMPARE(uncased.decode(uncased.encode("unaffable, running", true)), std::string("unaffable , running"));
        text::WordPieceTokenizer cased(bertVocab_, {.lowercase = false});
        QCOMPARE(cased.tokens("Hello LAD café"), (V{"Hello", "LA", "##D", "café"}));
        QCOMPARE(cased.unknownId(), std::optional<text::TokenId>(1));
        QCOMPARE(cased.maskId(), std::optional<text::TokenId>(4));
    }

    void wordPieceEqualsReference() {
        for (const auto& [name, lower] : {std::pair{"cased", false}, std::pair{"uncased", true}}) {
            text::WordPieceTokenizer t(bertVocab_, {.lowercase = lower});
            for (std::size_t i = 0; i < kTexts.size(); ++i) {
                const json& r = ref_["wordpiece"][name][i];
                const std::string context = std::string(name) + " text " + std::to_string(i) + ": " + kTexts[i];
                QVERIFY2(t.tokens(kTexts[i]) == wordsOf(r[0]), context.c_str());
                QVERIFY2(t.encode(kTexts[i]) == r[1].get<std::vector<text::TokenId>>(), context.c_str());
            }
        }
    }

    void gpt2HandCases() {
        // A hand-written merges file: " world" merges to Ġwor + ld (Ġ is the space byte).
        const std::string merges = writeTextFile(dir_, "hand_merges.txt", "#version: 0.2\nĠ w\no r\nĠw or\nl d\n");
        json vocab = json::object();
        for (const char* t : {"Ġwor", "ld", "H", "e", "l", "o", "!", "Ġ", "<|endoftext|>"}) vocab[t] = vocab.size();
        const std::string vocabPath = writeTextFile(dir_, "hand_vocab.json", vocab.dump());
        text::ByteBpeTokenizer t(vocabPath, merges);
        using V = std::vector<std::string>;
        QCOMPARE(t.kind(), std::string("bpe-gpt2"));
        QCOMPARE(t.words("Hello world  !"), (V{"Hello", " world", " ", " !"}));
        QCOMPARE(t.words("I'm here"), (V{"I", "'m", " here"}));
        QCOMPARE(t.tokens("Hello world"), (V{"H", "e", "l", "l", "o", "Ġwor", "ld"}));
        QCOMPARE(t.encode("Hello world<|endoftext|>"), (std::vector<text::TokenId>{2, 3, 4, 4, 5, 0, 1, 8}));
        QCOMPARE(t.decode(t.encode("Hello world")), std::string("Hello world"));
        // A token the vocabulary lacks ("z") takes <|endoftext|>, the unknown token.
        QCOMPARE(t.encode("z"), (std::vector<text::TokenId>{8}));
    }

    void gpt2EqualsReference() { compareBpe("gpt2", text::ByteBpeTokenizer::Flavour::Gpt2); }

    void clipEqualsReference() {
        compareBpe("clip", text::ByteBpeTokenizer::Flavour::Clip);
        text::ByteBpeTokenizer t(ref_["clip"]["vocab"].get<std::string>(), ref_["clip"]["merges"].get<std::string>());
        using V = std::vector<std::string>;
        QCOMPARE(t.words("Hello  World's 123"), (V{"hello", "world", "'s", "1", "2", "3"}));
        const auto ids = t.encode("the stenosis", true);
        QCOMPARE(ids.front(), *t.startId());
        QCOMPARE(ids.back(), *t.endId());
        QCOMPARE(t.decode(ids), std::string("the stenosis"));
    }

    void badFilesNameFileAndLine() {
        auto expectError = [](const std::function<void()>& f, const std::string& where, const std::string& what) {
            try {
                f();
            } catch (const data::DataError& e) {
                const std::string m = e.what();
                QVERIFY2(m.find(where) != std::string::npos && m.find(what) != std::string::npos, m.c_str());
                return;
            }
            QFAIL(("no error for " + where).c_str());
        };
        const std::string vocab = ref_["gpt2"]["vocab"].get<std::string>();
        const std::string badMerges = writeTextFile(dir_, "bad_merges.txt", "#version: 0.2\nĠ w\nthree parts here\n");
        expectError([&] { text::ByteBpeTokenizer{vocab, badMerges}; }, "bad_merges.txt:3", "two tokens");
        const std::string notObject = writeTextFile(dir_, "list.json", "[1, 2]");
        expectError([&] { text::ByteBpeTokenizer{notObject, badMerges}; }, "list.json", "JSON object");
        const std::string badId = writeTextFile(dir_, "bad_id.json", R"({"a": "one"})");
        expectError([&] { text::ByteBpeTokenizer{badId, badMerges}; }, "bad_id.json", "token 'a'");
        const std::string notUtf8 = writeTextFile(dir_, "latin1.txt", "[UNK]\nok\ncaf\xe9\n");
        expectError([&] { text::WordPieceTokenizer{notUtf8}; }, "latin1.txt:3", "not UTF-8");
        expectError([&] { text::WordPieceTokenizer{dir_.filePath("missing.txt").toStdString()}; }, "missing.txt",
                    "cannot open");
        // No [UNK] in the vocabulary: a word it cannot cover is an error naming the word.
        const std::string noUnknown = writeTextFile(dir_, "no_unk.txt", "hello\n");
        expectError([&] { text::WordPieceTokenizer(noUnknown).encode("hello there"); }, "no_unk.txt", "[UNK]");
    }

    void cliPrintsIdsAsJson() {
        const CliOutcome wp = runLumenCli({"tokenize", "--vocab", QString::fromStdString(bertVocab_), "--lowercase",
                                           "--special", "Hello, world!", "unaffable"});
        QVERIFY2(wp.code == 0, wp.err.c_str());
        const json out = json::parse(wp.out);
        QCOMPARE(out["tokenizer"].get<std::string>(), std::string("wordpiece"));
        QCOMPARE(out["vocab_size"].get<std::size_t>(), kBertVocab.size());
        QCOMPARE(out["texts"][0]["ids"].get<std::vector<int>>(), (std::vector<int>{2, 5, 7, 8, 10, 3}));
        QCOMPARE(out["texts"][1]["tokens"].get<std::vector<std::string>>(),
                 (std::vector<std::string>{"[CLS]", "un", "##aff", "##able", "[SEP]"}));
        const json& clip = ref_["clip"];
        const CliOutcome bpe = runLumenCli({"tokenize", "--vocab", QString::fromStdString(clip["vocab"]), "--merges",
                                            QString::fromStdString(clip["merges"]), QString::fromStdString(kTexts[0])});
        QVERIFY2(bpe.code == 0, bpe.err.c_str());
        const json b = json::parse(bpe.out);
        QCOMPARE(b["tokenizer"].get<std::string>(), std::string("bpe-clip"));
        QVERIFY(b["texts"][0]["ids"] == clip["texts"][0][1]);
        const CliOutcome usage = runLumenCli({"tokenize", "some text"});
        QCOMPARE(usage.code, 2);
        QVERIFY2(usage.err.find("--vocab") != std::string::npos, usage.err.c_str());
        const CliOutcome missing = runLumenCli({"tokenize", "--vocab", "/nonexistent/vocab.txt", "x"});
        QCOMPARE(missing.code, 2);
        QVERIFY2(missing.err.find("/nonexistent/vocab.txt") != std::string::npos, missing.err.c_str());
    }
};

QTEST_GUILESS_MAIN(TestTokenizers)
#include "test_tokenizers.moc"
