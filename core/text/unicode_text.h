#pragma once
// The Unicode facts the tokenizers need (docs/contrastive.md), from ICU: UTF-8 <-> code
// points, general categories, Python's str.lower() (full case mapping, root locale), NFC/NFD,
// and the two meanings of "whitespace" the reference tokenizers use.

#include <string>
#include <string_view>

namespace lumen::text {

/// Code points of UTF-8 text; an invalid byte sequence becomes U+FFFD, as Python's
/// decode(errors="replace") does.
std::u32string decodeUtf8(std::string_view utf8);
std::string encodeUtf8(std::u32string_view text);
/// The byte offset of the first invalid UTF-8 sequence, or npos when there is none.
std::size_t invalidUtf8At(std::string_view utf8);

/// The general category's two letters ("Lu", "Mn", "Zs", "Cc", "Cn" for an unassigned code point).
std::string_view category(char32_t c);

bool isLetter(char32_t c);       ///< category L*
bool isNumber(char32_t c);       ///< category N*
bool isWhiteSpace(char32_t c);   ///< the White_Space property (what the `regex` module's \s matches)
bool isPythonSpace(char32_t c);  ///< Python's str.isspace() (what str.split() splits on)

std::u32string toLower(std::u32string_view text);  ///< Python's str.lower()
std::u32string nfc(std::u32string_view text);
std::u32string nfd(std::u32string_view text);

}  // namespace lumen::text
