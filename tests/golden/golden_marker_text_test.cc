// Golden-style cases for user text that spells a marker or a special token literally, on every
// architecture: the ColBERT marker is inserted by id (PyLate's insert_prefix_token) and the text
// is split exactly as the folder's tokenizer.json says (only its added_tokens match in text).
// Expected ids are read off the vocabularies (tokenizer.json "model.vocab"), not computed by
// our tokenizer:
//   BERT (answerai / bert-base-uncased WordPiece): [CLS] 101, [SEP] 102, [MASK] 103,
//     [unused0] 1, [unused1] 2, "[" 1031, "]" 1033, "unused" 15171, "##0" 2692, "##1" 2487,
//     "a" 1037, "b" 1038, "hello" 7592, "world" 2088.
//   ModernBERT: [CLS] 50281, [SEP] 50282, [MASK] 50284 (lstrip), [unused0] 50285,
//     "[Q] " 50368, "[D] " 50369, "hello" 25521, "world" 10186.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "golden_cases.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/encoder/lib/colbert/colbert_encoder.h"

namespace tartan::golden {
namespace {

using encoder::ColbertEncoder;
using encoder::EncodeParams;
using encoder::EncoderOptions;
namespace fs = std::filesystem;

constexpr int32_t kBertCls = 101, kBertSep = 102, kBertMask = 103;
constexpr int32_t kModernCls = 50281, kModernSep = 50282, kModernMask = 50284;

// Query ids: `body` then [MASK] expansion up to `length`.
std::vector<int32_t> Expanded(std::vector<int32_t> body, int32_t mask, int length) {
  while (static_cast<int>(body.size()) < length) body.push_back(mask);
  return body;
}

class MarkerTextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_ = SharedDir();
    if (shared_.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR (golden models) not available";
  }
  void TearDown() override {
    std::error_code ec;
    if (!scratch_.empty()) fs::remove_all(scratch_, ec);
  }

  std::unique_ptr<ColbertEncoder> Load(const std::string& dir) {
    auto enc = ColbertEncoder::Load(dir, EncoderOptions());
    EXPECT_TRUE(enc.ok()) << enc.status();
    return enc.ok() ? std::move(*enc) : nullptr;
  }

  // The golden BERT folder as a Stanford ColBERT (HF_ColBERT) checkpoint ships it: the same
  // WordPiece tokenizer, but tokenizer.json does not list [unused0]/[unused1] as added tokens
  // (bert-base-uncased's does not either); the markers are still [unused0]/[unused1].
  std::string StanfordStyleBertFolder() {
    const fs::path from = shared_ + "/golden/models/bert-colbert-tiny";
    scratch_ = fs::temp_directory_path() / ("marker_text_" + std::to_string(::getpid()));
    fs::remove_all(scratch_);
    fs::copy(from, scratch_, fs::copy_options::recursive);
    for (const auto& e : fs::recursive_directory_iterator(scratch_)) {
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    }
    fs::permissions(scratch_, fs::perms::owner_write, fs::perm_options::add);
    const fs::path tok = scratch_ / "tokenizer.json";
    nlohmann::json j = nlohmann::json::parse(std::ifstream(tok));
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& t : j["added_tokens"]) {
      const std::string content = t["content"];
      if (content != "[unused0]" && content != "[unused1]") kept.push_back(t);
    }
    EXPECT_EQ(kept.size() + 2, j["added_tokens"].size());
    j["added_tokens"] = kept;
    std::ofstream(tok, std::ios::trunc) << j.dump();
    return scratch_.string();
  }

  std::vector<int32_t> Ids(const ColbertEncoder& enc, const std::string& text, bool is_query) {
    EncodeParams p;
    p.is_query = is_query;
    auto ids = enc.Tokenize(text, p);
    EXPECT_TRUE(ids.ok()) << ids.status();
    // Encode must feed the model the same ids.
    auto out = enc.Encode({text}, p);
    EXPECT_TRUE(out.ok()) << out.status();
    if (out.ok() && ids.ok()) EXPECT_EQ((*out)[0].ids, *ids) << text;
    return ids.ok() ? *ids : std::vector<int32_t>();
  }

  std::string shared_;
  fs::path scratch_;
};

TEST_F(MarkerTextTest, StanfordBertSplitsLiteralMarkersAsOrdinaryText) {
  auto enc = Load(StanfordStyleBertFolder());
  ASSERT_NE(enc, nullptr);
  ASSERT_EQ(enc->info().query_prefix_id, 1);  // markers are still inserted by id
  ASSERT_EQ(enc->info().document_prefix_id, 2);
  EXPECT_EQ(Ids(*enc, "a [unused0] b", false),
            (std::vector<int32_t>{kBertCls, 2, 1037, 1031, 15171, 2692, 1033, 1038, kBertSep}));
  EXPECT_EQ(Ids(*enc, "[unused1]", true),
            Expanded({kBertCls, 1, 1031, 15171, 2487, 1033, kBertSep}, kBertMask, 32));
  // Lower-casing happens in the normalizer: "[UNUSED0]" is the same ordinary text.
  EXPECT_EQ(Ids(*enc, "[UNUSED0]", false),
            (std::vector<int32_t>{kBertCls, 2, 1031, 15171, 2692, 1033, kBertSep}));
  // Tokens tokenizer.json does list (special, normalized=false) still match in text.
  EXPECT_EQ(Ids(*enc, "hello [MASK] world [SEP]", false),
            (std::vector<int32_t>{kBertCls, 2, 7592, kBertMask, 2088, kBertSep, kBertSep}));
}

TEST_F(MarkerTextTest, PylateSavedBertMatchesItsListedMarkers) {
  // A folder PyLate saved lists [unused0]/[unused1] among its added tokens (tokenizer.add_tokens
  // marks tokens already in the vocabulary as added), so the same text gives ids 1 / 2.
  auto enc = Load(shared_ + "/golden/models/bert-colbert-tiny");
  ASSERT_NE(enc, nullptr);
  EXPECT_EQ(Ids(*enc, "a [unused0] b", false),
            (std::vector<int32_t>{kBertCls, 2, 1037, 1, 1038, kBertSep}));
  EXPECT_EQ(Ids(*enc, "a [unused1] b", true),
            Expanded({kBertCls, 1, 1037, 2, 1038, kBertSep}, kBertMask, 32));
  EXPECT_EQ(Ids(*enc, "[CLS] hello", false),
            (std::vector<int32_t>{kBertCls, 2, kBertCls, 7592, kBertSep}));
}

TEST_F(MarkerTextTest, ModernBertAddedMarkersAndSpecialsInText) {
  // "[Q] " / "[D] " are added tokens of this tokenizer.json (normalized, trailing space
  // included), [MASK] is special with lstrip, [unused0] is listed too.
  auto enc = Load(shared_ + "/golden/models/modernbert-colbert-tiny");
  ASSERT_NE(enc, nullptr);
  ASSERT_EQ(enc->info().query_prefix_id, 50368);
  ASSERT_EQ(enc->info().document_prefix_id, 50369);
  EXPECT_EQ(Ids(*enc, "[Q] hello", true),
            Expanded({kModernCls, 50368, 50368, 25521, kModernSep}, kModernMask, 32));
  EXPECT_EQ(Ids(*enc, "hello[D] world", false),
            (std::vector<int32_t>{kModernCls, 50369, 25521, 50369, 10186, kModernSep}));
  EXPECT_EQ(Ids(*enc, "hello [MASK]", false),
            (std::vector<int32_t>{kModernCls, 50369, 25521, kModernMask, kModernSep}));
  EXPECT_EQ(Ids(*enc, "hello[unused0]", false),
            (std::vector<int32_t>{kModernCls, 50369, 25521, 50285, kModernSep}));
}

}  // namespace
}  // namespace tartan::golden
