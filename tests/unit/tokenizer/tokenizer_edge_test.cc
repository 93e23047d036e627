// Hard inputs, checked id for id against the Hugging Face `tokenizers` library (Rust, via its
// Node binding 0.23.2) run on the same tokenizer.json files with add_special_tokens=false;
// plus loading, error reporting, AddToken and truncation behaviour.
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "services/encoder/lib/tokenizer/pre_tokenizer.h"
#include "services/encoder/lib/tokenizer/tokenizer.h"

namespace tartan::encoder {
namespace {

using Ids = std::vector<int32_t>;

std::string SharedDir() {
  const char* d = std::getenv("TARTAN_SHARED_DIR");
  return d ? d : "../shared";
}

std::unique_ptr<Tokenizer> LoadOrSkip(const std::string& rel) {
  const std::string path = SharedDir() + "/" + rel;
  if (!std::ifstream(path).good()) return nullptr;
  auto tok = Tokenizer::FromFile(path);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

#define LOAD_OR_SKIP(var, rel) \
  auto var = LoadOrSkip(rel);  \
  if (!var) GTEST_SKIP() << rel << " not found in " << SharedDir()

constexpr char kModernBert[] = "golden/models/modernbert-colbert-tiny/tokenizer.json";
constexpr char kBert[] = "golden/models/bert-colbert-tiny/tokenizer.json";

TEST(TokenizerEdgeTest, ModernBertHardInputs) {
  LOAD_OR_SKIP(tok, kModernBert);
  auto enc = [&](std::string_view s) { return tok->Encode(s, false); };
  EXPECT_EQ(enc("I love \xf0\x9f\x8d\x95!"), (Ids{42, 2389, 22692, 224, 232, 2}));  // emoji bytes
  EXPECT_EQ(enc("東京は日本の首都"),
            (Ids{12676, 111, 5494, 107, 6418, 49868, 3917, 40843, 233, 34446}));
  // NFC: "e" + U+0301 composes to "é" before BPE.
  EXPECT_EQ(enc("cafe\u0301 Cafe\u0301"), (Ids{68, 2320, 860, 42107, 860}));
  EXPECT_EQ(enc("a  \t\n b   "), (Ids{66, 50276, 186, 187, 270, 50275}));   // whitespace runs
  EXPECT_EQ(enc("x\x01\x7fy\u200bz"), (Ids{89, 178, 210, 90, 12882, 91}));  // controls kept
  // "[MASK]" is a special added token with lstrip: it swallows the space before it.
  EXPECT_EQ(enc("say [MASK] now"), (Ids{19506, 50284, 1024}));
  EXPECT_EQ(enc("don't I'll WE'RE"), (Ids{9903, 626, 309, 1833, 13573, 8, 1848}));
  EXPECT_EQ(enc("[Q] a [D] b [CLS]x[SEP]"),
            (Ids{50368, 66, 209, 50369, 67, 209, 50281, 89, 50282}));
  EXPECT_EQ(enc(""), Ids{});
  EXPECT_EQ(tok->Encode(""), (Ids{50281, 50282}));
}

TEST(TokenizerEdgeTest, BertHardInputs) {
  LOAD_OR_SKIP(tok, kBert);
  auto enc = [&](std::string_view s) { return tok->Encode(s, false); };
  EXPECT_EQ(enc("I love \xf0\x9f\x8d\x95!"), (Ids{1045, 2293, 100, 999}));  // emoji -> [UNK]
  // CJK ideographs are isolated; kana are not, "首" is unknown.
  EXPECT_EQ(enc("東京は日本の首都"), (Ids{1879, 1755, 1672, 1864, 1876, 1671, 100, 1961}));
  EXPECT_EQ(enc("cafe\u0301 Cafe\u0301"), (Ids{7668, 7668}));  // accents stripped, lowercased
  EXPECT_EQ(enc("a  \t\n b   "), (Ids{1037, 1038}));
  EXPECT_EQ(enc("x\x01\x7fy\u200bz"), (Ids{1060, 2100, 2480}));  // controls dropped
  EXPECT_EQ(enc("say [MASK] now"), (Ids{2360, 103, 2085}));
  EXPECT_EQ(enc("don't I'll WE'RE"), (Ids{2123, 1005, 1056, 1045, 1005, 2222, 2057, 1005, 2128}));
  EXPECT_EQ(enc("İstanbul ΣΑΣ"), (Ids{9960, 1173, 14608, 29733}));
  EXPECT_EQ(enc("[Q] a [D] b [CLS]x[SEP]"),
            (Ids{1031, 1053, 1033, 1037, 1031, 1040, 1033, 1038, 101, 1060, 102}));
  EXPECT_EQ(enc(""), Ids{});
  // More than max_input_chars_per_word (100) characters: one [UNK].
  EXPECT_EQ(enc(std::string(101, 'a')), (Ids{100}));
}

TEST(TokenizerEdgeTest, InvalidUtf8IsRepairedDeterministically) {
  LOAD_OR_SKIP(bpe, kModernBert);
  LOAD_OR_SKIP(wp, kBert);
  const std::string bad =
      "ab\xff"
      "cd\xc3";
  // Each ill-formed sequence becomes U+FFFD: BPE encodes its bytes, BERT drops it.
  EXPECT_EQ(bpe->Encode(bad, false), (Ids{357, 21478, 2428, 21478}));
  EXPECT_EQ(bpe->Encode(bad, false), bpe->Encode("ab\uFFFDcd\uFFFD", false));
  EXPECT_EQ(wp->Encode(bad, false), (Ids{5925, 2094}));
  const std::string garbage = "\x80\xbf\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xfe\xff";
  EXPECT_EQ(bpe->Encode(garbage), bpe->Encode(garbage));
  EXPECT_EQ(wp->Encode(garbage), (Ids{101, 102}));
}

TEST(TokenizerEdgeTest, TruncationKeepsSpecialTokens) {
  LOAD_OR_SKIP(tok, kBert);
  const Ids full = tok->Encode("one two three four five");
  ASSERT_EQ(full.size(), 7u);
  EXPECT_EQ(tok->num_special_tokens_to_add(), 2);
  const Ids cut = tok->Encode("one two three four five", true, 5);
  EXPECT_EQ(cut, (Ids{full[0], full[1], full[2], full[3], 102}));
  EXPECT_EQ(tok->Encode("one two three four five", true, 2), (Ids{101, 102}));
  EXPECT_EQ(tok->Encode("one two three four five", true, 100), full);
  EXPECT_EQ(tok->Encode("one two three four five", false, 2), (Ids{full[1], full[2]}));
}

TEST(TokenizerEdgeTest, VocabularyAccessors) {
  LOAD_OR_SKIP(bpe, kModernBert);
  EXPECT_EQ(bpe->vocab_size(), 50370);
  EXPECT_EQ(bpe->mask_id(), 50284);
  EXPECT_EQ(bpe->unk_id(), std::nullopt);  // byte-level BPE has no unk token
  EXPECT_EQ(bpe->TokenToId("."), 15);
  EXPECT_EQ(bpe->TokenToId("Ġ."), 964);
  EXPECT_EQ(bpe->IdToToken(50368), "[Q] ");
  EXPECT_EQ(bpe->IdToToken(1000000), std::nullopt);
  LOAD_OR_SKIP(wp, kBert);
  EXPECT_EQ(wp->vocab_size(), 30522);
  EXPECT_EQ(wp->unk_id(), 100);
  EXPECT_EQ(wp->mask_id(), 103);
  EXPECT_EQ(wp->TokenToId("[unused0]"), 1);
  EXPECT_EQ(wp->TokenToId(","), 1010);
  EXPECT_EQ(wp->IdToToken(102), "[SEP]");
}

TEST(TokenizerEdgeTest, AddTokenReproducesPylatePrefixes) {
  // PyLate adds "[Q] " / "[D] " to the stock ModernBERT tokenizer; the golden model's
  // tokenizer.json is the result.
  LOAD_OR_SKIP(stock, "data/modernbert-tokenizer/tokenizer.json");
  LOAD_OR_SKIP(golden, kModernBert);
  EXPECT_EQ(stock->TokenToId("[Q] "), std::nullopt);
  EXPECT_EQ(stock->vocab_size(), 50368);
  EXPECT_EQ(stock->AddToken("[Q] ", false), 50368);
  EXPECT_EQ(stock->AddToken("[D] ", false), 50369);
  EXPECT_EQ(stock->AddToken("[Q] ", false), 50368);  // already present
  EXPECT_EQ(stock->AddToken("[MASK]", true), 50284);
  EXPECT_EQ(stock->vocab_size(), 50370);
  const std::string text = "Is [Q] a token? [D] end, [MASK] and hello";
  EXPECT_EQ(stock->Encode(text), golden->Encode(text));
  // A token already in the vocab keeps its id but is now split out of the text before
  // pre-tokenization, so " hello" becomes "Ġ" + "hello" instead of "Ġhello".
  const Ids before = stock->Encode("say hello", false);
  EXPECT_EQ(before, (Ids{19506, 23120}));
  EXPECT_EQ(stock->AddToken("hello", false), 25521);
  EXPECT_EQ(stock->Encode("say hello", false), (Ids{19506, 209, 25521}));
}

TEST(TokenizerEdgeTest, OldFormWordPieceLoads) {
  LOAD_OR_SKIP(tok, "data/bert-base-uncased/tokenizer.json");
  EXPECT_EQ(tok->Encode("Hello, WORLD!"), (Ids{101, 7592, 1010, 2088, 999, 102}));
  EXPECT_EQ(tok->unk_id(), 100);
}

TEST(TokenizerEdgeTest, ErrorsNameTheFile) {
  auto missing = Tokenizer::FromFile("/nonexistent/dir/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/dir/tokenizer.json"),
            absl::string_view::npos);

  const std::string path = ::testing::TempDir() + "/corrupt_tokenizer.json";
  std::ofstream(path) << "{\"model\": {\"type\": \"BPE\", \"vocab\": {";
  auto corrupt = Tokenizer::FromFile(path);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(corrupt.status().message().find(path), absl::string_view::npos);

  auto bad_merge =
      Tokenizer::FromJson(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})");
  ASSERT_FALSE(bad_merge.ok());
  EXPECT_NE(bad_merge.status().message().find("a b"), absl::string_view::npos);
  auto unknown = Tokenizer::FromJson(R"({"model": {"type": "Unigram", "vocab": []}})");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(TokenizerEdgeTest, MinimalJsonPipeline) {
  // A tiny WordPiece with Sequence normalizer/pre-tokenizer and BertProcessing.
  auto tok = Tokenizer::FromJson(R"({
    "added_tokens": [{"id": 5, "content": "<x>", "single_word": true, "lstrip": false,
                      "rstrip": true, "normalized": false, "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"},
                                                       {"type": "Lowercase"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
                                                            {"type": "Punctuation"}]},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100,
              "vocab": {"[UNK]": 0, "ab": 1, "[CLS]": 2, "[SEP]": 3, "##c": 4, "<x>": 5, "!": 6}}
  })");
  ASSERT_TRUE(tok.ok()) << tok.status();
  // "<x>" (rstrip) swallows the spaces after it; the second "<x>" follows a word character,
  // so single_word rejects it and it is tokenized as text ("a", "<", "x", ">": all unknown).
  EXPECT_EQ((*tok)->Encode("ÁBC! <x>   ab a<x>"), (Ids{2, 1, 4, 6, 5, 1, 0, 0, 0, 0, 3}));
}

TEST(TokenizerEdgeTest, ConcurrentEncodeMatchesSequential) {
  LOAD_OR_SKIP(tok, kModernBert);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back("doc " + std::to_string(i) + " résumé [MASK] 東京 " + std::string(i % 7, 'z'));
  }
  std::vector<Ids> expected;
  for (const auto& t : texts) expected.push_back(tok->Encode(t));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int rep = 0; rep < 5; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (tok->Encode(texts[(i + th * 37) % texts.size()]) !=
              expected[(i + th * 37) % texts.size()]) {
            ++mismatches[th];
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(Gpt2SplitTest, MatchesRegexSemantics) {
  auto split = [](std::string_view s) {
    std::vector<std::string> out;
    for (auto [b, e] : SplitGpt2(s)) out.emplace_back(s.substr(b, e - b));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("a   b"), (V{"a", "  ", " b"}));  // \s+(?!\S) leaves one space
  EXPECT_EQ(split("a\n\nb"), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(split("it's 12ab ..x  "), (V{"it", "'s", " 12", "ab", " ..", "x", "  "}));
  EXPECT_EQ(split(" 's"), (V{" '", "s"}));
  EXPECT_EQ(split("नमस्ते"), (V{"नमस", "्", "त", "े"}));  // marks are not \p{L}
}

}  // namespace
}  // namespace tartan::encoder
