#include "services/encoder/lib/tokenizer/unicode.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>

namespace tartan::encoder::unicode {
namespace {

bool IsAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// Length of the well-formed prefix of a UTF-8 sequence starting at s[pos] (lead byte already
// known to be >= 0x80): returns the full sequence length when complete and valid, otherwise
// -(number of bytes forming the maximal ill-formed subpart, at least 1).
int CheckSequence(std::string_view s, size_t pos) {
  const unsigned char b0 = static_cast<unsigned char>(s[pos]);
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // excludes surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return -1;  // stray continuation byte, C0/C1 overlong lead, or F5..FF
  }
  for (int i = 1; i < len; ++i) {
    if (pos + i >= s.size()) return -i;
    const unsigned char b = static_cast<unsigned char>(s[pos + i]);
    const unsigned char l = (i == 1) ? lo : 0x80;
    const unsigned char h = (i == 1) ? hi : 0xBF;
    if (b < l || b > h) return -i;
  }
  return len;
}

const icu::Normalizer2* GetNormalizer(NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormalForm::kNfc:
      n = icu::Normalizer2::getNFCInstance(status);
      break;
    case NormalForm::kNfd:
      n = icu::Normalizer2::getNFDInstance(status);
      break;
    case NormalForm::kNfkc:
      n = icu::Normalizer2::getNFKCInstance(status);
      break;
    case NormalForm::kNfkd:
      n = icu::Normalizer2::getNFKDInstance(status);
      break;
  }
  return U_SUCCESS(status) ? n : nullptr;
}

// Hugging Face's BertNormalizer / BertPreTokenizer / StripAccents take general categories
// from the `unicode_categories` crate, whose tables are Unicode 8.0: characters assigned
// later (e.g. U+07FD, Mn since 11.0) are in none of its categories. Checked against the
// tokenizers library for Mn, P* and Cf characters of Unicode 7.0 ... 15.0.
bool InHfCategoryTables(char32_t c) {
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(c), age);
  return age[0] < 8 || (age[0] == 8 && age[1] == 0);
}

// Characters whose category changed after Unicode 8.0 in a way that matters here (found by
// comparing every code point up to U+3FFFF with the tokenizers library): their 8.0 status.
struct HfCategoryOverride {
  char32_t cp;
  bool mn;
  bool punctuation;
};
constexpr HfCategoryOverride kHfOverrides[] = {
    {0x166D, false, true},   // CANADIAN SYLLABICS CHI SIGN: Po in 8.0, So now
    {0x1734, true, false},   // HANUNOO SIGN PAMUDPOD: Mn in 8.0, Mc now
    {0x1885, false, false},  // MONGOLIAN LETTER ALI GALI BALUDA: Lo in 8.0
    {0x1886, false, false},  // MONGOLIAN LETTER ALI GALI THREE BALUDA: Lo in 8.0
    {0xA9BD, false, false},  // JAVANESE CONSONANT SIGN KERET: Mc in 8.0
    {0x111C9, false, true},  // SHARADA SANDHI MARK: Po in 8.0
};

const HfCategoryOverride* FindOverride(char32_t c) {
  for (const auto& o : kHfOverrides) {
    if (o.cp == c) return &o;
  }
  return nullptr;
}

}  // namespace

char32_t DecodeNext(std::string_view s, size_t* pos) {
  const unsigned char b0 = static_cast<unsigned char>(s[*pos]);
  if (b0 < 0x80) {
    ++*pos;
    return b0;
  }
  int len = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  char32_t cp = b0 & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (int i = 1; i < len && *pos + i < s.size(); ++i) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[*pos + i]) & 0x3F);
  }
  *pos += len;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<char32_t> DecodeAll(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) out.push_back(DecodeNext(s, &pos));
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const int r = CheckSequence(s, pos);
    if (r < 0) return false;
    pos += r;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t pos = 0;
  while (pos < s.size()) {
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      out.push_back(s[pos++]);
      continue;
    }
    const int r = CheckSequence(s, pos);
    if (r > 0) {
      out.append(s.data() + pos, r);
      pos += r;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD for the maximal ill-formed subpart
      pos += -r;
    }
  }
  return out;
}

bool IsWhiteSpace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}

bool IsLetter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) != 0;
}

bool IsNumber(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0;
}

bool IsMarkNonspacing(char32_t c) {
  if (c < 0x300) return false;
  if (const auto* o = FindOverride(c)) return o->mn;
  return u_charType(static_cast<UChar32>(c)) == U_NON_SPACING_MARK && InHfCategoryTables(c);
}

bool IsBertPunctuation(char32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  if (const auto* o = FindOverride(c)) return o->punctuation;
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_P_MASK) != 0 && InHfCategoryTables(c);
}

bool IsBertControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const uint32_t mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  return (mask & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK)) != 0 &&
         InHfCategoryTables(c);
}

bool IsChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool IsWordChar(char32_t c) {
  if (c == '_') return true;
  const UChar32 u = static_cast<UChar32>(c);
  return u_hasBinaryProperty(u, UCHAR_ALPHABETIC) ||
         (U_GET_GC_MASK(u) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0 ||
         u_hasBinaryProperty(u, UCHAR_JOIN_CONTROL);
}

std::string Normalize(std::string_view utf8, NormalForm form) {
  if (IsAscii(utf8)) return std::string(utf8);
  const icu::Normalizer2* n = GetNormalizer(form);
  if (n == nullptr) return std::string(utf8);
  const icu::UnicodeString src = icu::UnicodeString::fromUTF8(
      icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  UErrorCode status = U_ZERO_ERROR;
  if (n->isNormalized(src, status) && U_SUCCESS(status)) return std::string(utf8);
  status = U_ZERO_ERROR;
  const icu::UnicodeString dst = n->normalize(src, status);
  if (U_FAILURE(status)) return std::string(utf8);
  std::string out;
  dst.toUTF8String(out);
  return out;
}

void AppendLowerCodePoint(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c));
    return;
  }
  // Lower-casing a lone code point gives its context-free full mapping (a lone capital
  // sigma is not "final"), which is exactly char::to_lowercase.
  UChar src[2];
  int32_t src_len = 0;
  U16_APPEND_UNSAFE(src, src_len, static_cast<UChar32>(c));
  UChar dst[8];
  UErrorCode status = U_ZERO_ERROR;
  const int32_t n = u_strToLower(dst, 8, src, src_len, "", &status);
  if (U_FAILURE(status)) {
    AppendUtf8(c, out);
    return;
  }
  for (int32_t i = 0; i < n;) {
    UChar32 cp;
    U16_NEXT(dst, i, n, cp);
    AppendUtf8(static_cast<char32_t>(cp), out);
  }
}

}  // namespace tartan::encoder::unicode
