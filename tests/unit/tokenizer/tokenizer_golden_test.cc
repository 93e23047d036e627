// Golden-id tests: the tokenizer must reproduce, id for id, the model inputs that PyLate +
// Hugging Face tokenizers produced for the golden cases (see /work/shared/golden/README.md).
// ids in cases.jsonl = [CLS] <prefix id> t1..tn [SEP] (+ [MASK] padding to L for queries);
// the tokenizer's part is everything but the inserted prefix at position 1 and the padding.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "services/encoder/lib/tokenizer/text_util.h"
#include "services/encoder/lib/tokenizer/tokenizer.h"

namespace tartan::encoder {
namespace {

std::string SharedDir() {
  const char* d = std::getenv("TARTAN_SHARED_DIR");
  return d ? d : "../shared";
}

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

void CheckGoldenModel(const std::string& name) {
  const std::string dir = SharedDir() + "/golden/" + name;
  const std::string tok_path = SharedDir() + "/golden/models/" + name + "/tokenizer.json";
  if (!Exists(dir + "/golden.json") || !Exists(tok_path)) {
    GTEST_SKIP() << "golden data for " << name << " not found under " << SharedDir();
  }
  auto tok = Tokenizer::FromFile(tok_path);
  ASSERT_TRUE(tok.ok()) << tok.status();

  std::ifstream gin(dir + "/golden.json");
  const nlohmann::json golden = nlohmann::json::parse(gin);
  const auto& settings = golden.at("settings");
  const int query_length = settings.at("query_length").get<int>();
  const int document_length = settings.at("document_length").get<int>();
  const int32_t pad_id = settings.at("pad_id_for_expansion").get<int32_t>();
  const nlohmann::json prompts = settings.value("prompts", nlohmann::json::object());
  // The prefixes resolve to the ids PyLate inserted.
  EXPECT_EQ(tok.value()->TokenToId(settings.at("query_prefix").get<std::string>()),
            settings.at("query_prefix_id").get<int32_t>());
  EXPECT_EQ(tok.value()->TokenToId(settings.at("document_prefix").get<std::string>()),
            settings.at("document_prefix_id").get<int32_t>());
  EXPECT_EQ(tok.value()->mask_id(), pad_id);

  std::ifstream cin(dir + "/cases.jsonl");
  std::string line;
  int n_cases = 0;
  while (std::getline(cin, line)) {
    if (line.empty()) continue;
    const nlohmann::json c = nlohmann::json::parse(line);
    const std::string id = c.at("id").get<std::string>();
    const bool is_query = c.at("is_query").get<bool>();
    std::string prompt;
    if (!c.at("prompt_name").is_null()) {
      prompt = prompts.at(c.at("prompt_name").get<std::string>()).get<std::string>();
    }
    const std::string input = PythonStrip(prompt + c.at("text").get<std::string>());
    std::vector<int32_t> expected = c.at("ids").get<std::vector<int32_t>>();
    ASSERT_GE(expected.size(), 3u) << id;
    expected.erase(expected.begin() + 1);  // the [Q]/[D] prefix PyLate inserts
    const int length = is_query ? query_length : document_length;
    std::vector<int32_t> actual = tok.value()->Encode(input, true, length - 1);
    if (is_query) {
      ASSERT_LE(actual.size(), static_cast<size_t>(length - 1)) << id;
      actual.resize(length - 1, pad_id);  // query expansion padding
    }
    EXPECT_EQ(actual, expected) << name << " case " << id << " input '" << input << "'";
    ++n_cases;
  }
  EXPECT_GT(n_cases, 40);

  // golden.json's input_text is the stripped prompt + text that was tokenized.
  for (const auto& c : golden.at("cases")) {
    std::string prompt;
    if (!c.at("prompt_name").is_null()) {
      prompt = prompts.at(c.at("prompt_name").get<std::string>()).get<std::string>();
    }
    EXPECT_EQ(PythonStrip(prompt + c.at("text").get<std::string>()),
              c.at("input_text").get<std::string>())
        << c.at("id");
  }
}

TEST(TokenizerGoldenTest, ModernBertBpe) { CheckGoldenModel("modernbert-colbert-tiny"); }

TEST(TokenizerGoldenTest, BertWordPiece) { CheckGoldenModel("bert-colbert-tiny"); }

}  // namespace
}  // namespace tartan::encoder
