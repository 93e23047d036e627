// Python string operations that PyLate / sentence-transformers apply to the text before it
// reaches the tokenizer. Input may be any bytes: ill-formed UTF-8 is first repaired with U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace tartan::encoder {

// Python's str.isspace() for one code point: bidirectional class WS, B or S, or category Zs
// (U+0009-000D, U+001C-001F, U+0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029,
// U+202F, U+205F, U+3000).
bool PythonIsSpace(char32_t c);

// Python's str.strip() with no arguments: removes PythonIsSpace characters at both ends.
std::string PythonStrip(std::string_view utf8);

// Python's str.lower(): full Unicode lowercase mapping, including the context-dependent final
// sigma (ICU root-locale lower-casing implements the same rules).
std::string PythonLower(std::string_view utf8);

}  // namespace tartan::encoder
