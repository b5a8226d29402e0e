"""Reference tokenizers for test_tokenizers, written from the published algorithms:
BERT's BasicTokenizer + WordpieceTokenizer (with NFC, as Hugging Face's current one does),
GPT-2's encoder.py (its `regex` pattern and bytes_to_unicode) and CLIP's simple_tokenizer
(without ftfy/html unescaping, which Lumen leaves out too). It also learns the BPE merges the
test uses from a small corpus, so the files are the test's own.

usage: tokenizer_reference.py IN.json OUT.json
IN: {"folder": F, "bert_vocab": [...], "texts": [...], "bpe_corpus": [...], "bpe_merges": N}
OUT: {"wordpiece": {"cased": [[tokens]...], "uncased": [...]}, "gpt2": {...}, "clip": {...}}
"""
import json
import os
import re
import sys
import unicodedata
from collections import Counter

import regex

# ---------------------------------------------------------------- BERT
def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"

def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")

def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")

def is_cjk(cp):
    return any(a <= cp <= b for a, b in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                         (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
                                         (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])

def basic_tokenize(text, lower):
    out = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_control(c):
            continue
        if is_whitespace(c):
            out.append(" ")
        elif is_cjk(cp):
            out.append(" " + c + " ")
        else:
            out.append(c)
    text = unicodedata.normalize("NFC", "".join(out))
    tokens = []
    for token in text.split():
        if lower:
            token = token.lower()
            token = "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")
        current = []
        for c in token:
            if is_punctuation(c):
                if current:
                    tokens.append("".join(current))
                tokens.append(c)
                current = []
            else:
                current.append(c)
        if current:
            tokens.append("".join(current))
    return " ".join(tokens).split()

def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            piece = ("##" if start > 0 else "") + word[start:end]
            if piece in vocab:
                found = piece
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces

SPECIAL_BERT = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"]

def split_special(text, specials):
    if not specials:
        return [(text, False)]
    pattern = "(" + "|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")"
    pieces = []
    for i, piece in enumerate(regex.split(pattern, text)):
        if piece:
            pieces.append((piece, i % 2 == 1))
    return pieces

def bert_tokens(text, vocab, lower):
    out = []
    for piece, special in split_special(text, [s for s in SPECIAL_BERT if s in vocab]):
        if special:
            out.append(piece)
            continue
        for word in basic_tokenize(piece, lower):
            out.extend(wordpiece(word, vocab))
    return out

# ---------------------------------------------------------------- byte-level BPE
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))

BYTE_ENCODER = bytes_to_unicode()
GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
CLIP_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)

def get_pairs(word):
    return set(zip(word, word[1:]))

def bpe(word, ranks):
    pairs = get_pairs(word)
    while pairs:
        bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if bigram not in ranks:
            break
        first, second = bigram
        new_word, i = [], 0
        while i < len(word):
            try:
                j = word.index(first, i)
            except ValueError:
                new_word.extend(word[i:])
                break
            new_word.extend(word[i:j])
            i = j
            if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                new_word.append(first + second)
                i += 2
            else:
                new_word.append(word[i])
                i += 1
        word = tuple(new_word)
        if len(word) == 1:
            break
        pairs = get_pairs(word)
    return list(word)

def clip_clean(text):
    # CLIP's whitespace_clean uses the re module: \s is str.isspace() there.
    return re.sub(r"\s+", " ", text).strip().lower()

def pre_tokenize(text, clip):
    if clip:
        return regex.findall(CLIP_PATTERN, clip_clean(text))
    return regex.findall(GPT2_PATTERN, text)

def symbols(word, clip):
    chars = tuple(BYTE_ENCODER[b] for b in word.encode("utf-8"))
    if clip:
        chars = chars[:-1] + (chars[-1] + "</w>",)
    return chars

def learn_merges(corpus, count, clip):
    words = Counter(tuple(symbols(w, clip)) for text in corpus for w in pre_tokenize(text, clip))
    merges = []
    for _ in range(count):
        pairs = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        merged = Counter()
        for word, n in words.items():
            merged[tuple(bpe(word, {best: 0}))] += n
        words = merged
    return merges

def write_bpe(folder, name, merges, clip):
    tokens = list(BYTE_ENCODER.values())
    if clip:
        tokens += [t + "</w>" for t in tokens]
    tokens += [a + b for a, b in merges]
    tokens += (["<|startoftext|>", "<|endoftext|>"] if clip else ["<|endoftext|>"])
    vocab = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    vocab_path = os.path.join(folder, name + "_vocab.json")
    merges_path = os.path.join(folder, name + "_merges.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(merges_path, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(a + " " + b + "\n" for a, b in merges))
    return vocab, vocab_path, merges_path

def bpe_encode(text, vocab, ranks, clip):
    specials = ["<|startoftext|>", "<|endoftext|>"] if clip else ["<|endoftext|>"]
    tokens = []
    for piece, special in split_special(text, specials):
        if special:
            tokens.append(piece)
            continue
        for w in pre_tokenize(piece, clip):
            tokens.extend(bpe(symbols(w, clip), ranks))
    return tokens, [vocab[t] for t in tokens]

def main():
    inp = json.load(open(sys.argv[1], encoding="utf-8"))
    folder = inp["folder"]
    out = {}
    vocab = {t: i for i, t in enumerate(inp["bert_vocab"])}
    out["wordpiece"] = {
        name: [[t, [vocab.get(x, vocab["[UNK]"]) for x in t]]
               for t in (bert_tokens(text, vocab, lower) for text in inp["texts"])]
        for name, lower in (("cased", False), ("uncased", True))}
    for name, clip in (("gpt2", False), ("clip", True)):
        merges = learn_merges(inp["bpe_corpus"], inp["bpe_merges"], clip)
        bpe_vocab, vocab_path, merges_path = write_bpe(folder, name, merges, clip)
        ranks = {m: i for i, m in enumerate(merges)}
        out[name] = {"vocab": vocab_path, "merges": merges_path, "merge_count": len(merges),
                     "texts": [list(bpe_encode(t, bpe_vocab, ranks, clip)) for t in inp["texts"]],
                     "words": [pre_tokenize(t, clip) for t in inp["texts"]]}
    json.dump(out, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)

main()
