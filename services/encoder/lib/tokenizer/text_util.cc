#include "services/encoder/lib/tokenizer/text_util.h"

#include <unicode/locid.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>

#include <vector>

#include "services/encoder/lib/tokenizer/unicode.h"

namespace tartan::encoder {

bool PythonIsSpace(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string PythonStrip(std::string_view utf8) {
  const std::string valid =
      unicode::IsValidUtf8(utf8) ? std::string(utf8) : unicode::SanitizeUtf8(utf8);
  size_t pos = 0;
  size_t begin = valid.size();
  size_t end = 0;
  // Finds the byte range [begin, end) from the first to the last non-space code point.
  while (pos < valid.size()) {
    const size_t start = pos;
    const char32_t c = unicode::DecodeNext(valid, &pos);
    if (!PythonIsSpace(c)) {
      if (begin == valid.size()) begin = start;
      end = pos;
    }
  }
  if (begin >= end) return std::string();
  return valid.substr(begin, end - begin);
}

std::string PythonLower(std::string_view utf8) {
  const std::string valid =
      unicode::IsValidUtf8(utf8) ? std::string(utf8) : unicode::SanitizeUtf8(utf8);
  bool ascii = true;
  for (unsigned char c : valid) ascii &= c < 0x80;
  if (ascii) {
    std::string out = valid;
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return out;
  }
  const icu::UnicodeString src = icu::UnicodeString::fromUTF8(
      icu::StringPiece(valid.data(), static_cast<int32_t>(valid.size())));
  // Root locale "": no Turkish/Lithuanian tailoring, as in Python.
  icu::UnicodeString lower = src;
  lower.toLower(icu::Locale::getRoot());
  std::string out;
  lower.toUTF8String(out);
  return out;
}

}  // namespace tartan::encoder
