// Unicode helpers shared by the tokenizer pipeline: UTF-8 decoding/encoding, invalid-byte
// repair, character classes (via ICU character properties) and ICU normalization forms.
// Everything works on UTF-8 std::string; ICU's UTF-16 is used only inside the .cc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tartan::encoder::unicode {

// Decodes one code point starting at byte `pos` of a VALID UTF-8 string and advances `pos`.
char32_t DecodeNext(std::string_view s, size_t* pos);
// Appends the UTF-8 encoding of `cp` to `out`.
void AppendUtf8(char32_t cp, std::string* out);
// Decodes a valid UTF-8 string into code points.
std::vector<char32_t> DecodeAll(std::string_view s);

// Returns true if `s` is well-formed UTF-8 (no overlongs, surrogates or values > U+10FFFF).
bool IsValidUtf8(std::string_view s);
// Returns `s` with each ill-formed subsequence replaced by U+FFFD, following the Unicode
// "maximal subpart" practice (the same count of U+FFFD as Python's errors="replace").
std::string SanitizeUtf8(std::string_view s);

// Character classes. "Unicode White_Space" is the White_Space property (what Rust's
// char::is_whitespace and regex \s use).
bool IsWhiteSpace(char32_t c);
bool IsLetter(char32_t c);  // general category L*
bool IsNumber(char32_t c);  // general category N*
// The next three follow Hugging Face's category tables, which are Unicode 8.0: characters
// assigned after 8.0 are never Mn / punctuation / control for them.
bool IsMarkNonspacing(char32_t c);  // Mn
// Hugging Face BertPreTokenizer punctuation: ASCII punctuation (incl. symbols such as $+<=>^`|~)
// or a Unicode P* category.
bool IsBertPunctuation(char32_t c);
// Hugging Face BertNormalizer "control": categories Cc, Cf, Co, Cs (not unassigned Cn),
// except \t \n \r.
bool IsBertControl(char32_t c);
// CJK ideograph blocks that BertNormalizer surrounds with spaces.
bool IsChineseChar(char32_t c);
// Approximation of the regex \w class: alphanumeric, marks, connector punctuation.
bool IsWordChar(char32_t c);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
// Applies an ICU normalization form; pure-ASCII input is returned unchanged without ICU.
std::string Normalize(std::string_view utf8, NormalForm form);

// Per-code-point full lowercase mapping (no context such as final sigma), as Rust's
// char::to_lowercase: "İ" -> "i̇".
void AppendLowerCodePoint(char32_t c, std::string* out);

}  // namespace tartan::encoder::unicode
