// PythonStrip / PythonLower against values printed by CPython 3.11 for the same inputs.
#include "services/encoder/lib/tokenizer/text_util.h"

#include "gtest/gtest.h"

namespace tartan::encoder {
namespace {

TEST(PythonStripTest, StripsEveryPythonSpace) {
  EXPECT_EQ(PythonStrip("\u3000\u00a0 hi there\u2028\x1c\x1f\u0085\t"), "hi there");
  EXPECT_EQ(PythonStrip("\x1c\x1d\x1e\x1f"), "");
  EXPECT_EQ(PythonStrip("  \n "), "");
  EXPECT_EQ(PythonStrip(""), "");
  EXPECT_EQ(PythonStrip("search_query: "), "search_query:");
}

TEST(PythonStripTest, KeepsNonSpaceFormatCharacters) {
  // U+200B, U+FEFF and U+180E are not str.isspace() (Cf, not Zs/WS/B/S).
  EXPECT_EQ(PythonStrip(" \u200b x \u200b "), "\u200b x \u200b");
  EXPECT_EQ(PythonStrip("\ufeffa\ufeff"), "\ufeffa\ufeff");
  EXPECT_EQ(PythonStrip("\u180ex\u180e"), "\u180ex\u180e");
}

TEST(PythonStripTest, RepairsInvalidUtf8) { EXPECT_EQ(PythonStrip(" a\xff "), "a\xEF\xBF\xBD"); }

TEST(PythonIsSpaceTest, MatchesCpythonTable) {
  int count = 0;
  for (char32_t c = 0; c < 0x110000; ++c) count += PythonIsSpace(c) ? 1 : 0;
  // len([c for c in range(0x110000) if chr(c).isspace()]) == 29 in CPython 3.11.
  EXPECT_EQ(count, 29);
  EXPECT_FALSE(PythonIsSpace(0x200B));
  EXPECT_TRUE(PythonIsSpace(0x3000));
}

TEST(PythonLowerTest, FullCaseMappingWithFinalSigma) {
  EXPECT_EQ(PythonLower("Hello WORLD"), "hello world");
  EXPECT_EQ(PythonLower("ΣΑΣ ΟΔΟΣ"), "σας οδος");
  EXPECT_EQ(PythonLower("AΣ."), "aς.");
  EXPECT_EQ(PythonLower("Σ"), "σ");
  EXPECT_EQ(PythonLower("İstanbul"), "i\u0307stanbul");
  EXPECT_EQ(PythonLower("ẞtraße ÅNGSTRÖM"), "ßtraße ångström");
  EXPECT_EQ(PythonLower("ǅ"), "ǆ");
}

}  // namespace
}  // namespace tartan::encoder
