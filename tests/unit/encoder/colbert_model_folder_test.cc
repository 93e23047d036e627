// Model folder reading: PyLate settings resolution, Stanford checkpoints, and readable errors
// (naming the file) for broken folders.
#include <string>

#include "colbert_test_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/encoder/lib/colbert/colbert_encoder.h"
#include "services/encoder/lib/colbert/model_folder.h"

namespace tartan::encoder {
namespace {

using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

class ModelFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_ = testing::SharedDirOrEmpty();
    if (shared_.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR not available";
  }
  std::string Golden(const std::string& model) { return shared_ + "/golden/models/" + model; }

  // Edits config_sentence_transformers.json of `dir` with `edit`.
  template <typename Fn>
  void EditSettings(const std::string& dir, Fn edit) {
    const std::string path = dir + "/config_sentence_transformers.json";
    nlohmann::json j = nlohmann::json::parse(ReadFile(path));
    edit(j);
    WriteFile(path, j.dump(2));
  }

  // Expects Load to fail with a message containing `needle`.
  void ExpectLoadError(const std::string& dir, const std::string& needle) {
    auto enc = ColbertEncoder::Load(dir, EncoderOptions());
    ASSERT_FALSE(enc.ok());
    EXPECT_NE(enc.status().message().find(needle), std::string::npos)
        << "message: " << enc.status().message() << "\nexpected to mention: " << needle;
  }

  std::string shared_;
  ScratchDir scratch_{"colbert_model_folder"};
};

TEST_F(ModelFolderTest, ReadsGoldenSettings) {
  auto folder = ReadModelFolder(Golden("modernbert-colbert-tiny"));
  ASSERT_TRUE(folder.ok()) << folder.status();
  const ColbertSettings& s = folder->settings;
  EXPECT_EQ(s.query_prefix, "[Q] ");
  EXPECT_EQ(s.document_prefix, "[D] ");
  EXPECT_EQ(s.query_length, 32);
  EXPECT_EQ(s.document_length, 100);
  EXPECT_FALSE(s.attend_to_expansion_tokens);
  EXPECT_TRUE(s.do_query_expansion);
  EXPECT_EQ(s.skiplist_words.size(), 32u);
  EXPECT_EQ(s.prompts.at("query"), "search_query: ");
  EXPECT_FALSE(s.default_prompt_name.has_value());
  ASSERT_EQ(folder->dense_dirs.size(), 1u);
  EXPECT_NE(folder->dense_dirs[0].find("1_Dense"), std::string::npos);
  EXPECT_FALSE(folder->stanford_projection);
}

TEST_F(ModelFolderTest, NullKeysGetPyLateDefaults) {
  const std::string dir = scratch_.CopyModel(Golden("bert-colbert-tiny"), "m");
  EditSettings(dir, [](nlohmann::json& j) {
    j["query_length"] = nullptr;
    j["document_length"] = nullptr;
    j["skiplist_words"] = nullptr;
    j.erase("query_prefix");
    j["do_query_expansion"] = false;
    j["attend_to_expansion_tokens"] = true;  // forced off without expansion
  });
  auto folder = ReadModelFolder(dir);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_EQ(folder->settings.query_length, 32);
  EXPECT_EQ(folder->settings.document_length, 180);
  EXPECT_EQ(folder->settings.query_prefix, "[Q] ");
  EXPECT_EQ(folder->settings.skiplist_words, DefaultSkiplistWords());
  EXPECT_FALSE(folder->settings.do_query_expansion);
  EXPECT_FALSE(folder->settings.attend_to_expansion_tokens);
}

TEST_F(ModelFolderTest, MissingModulesJsonNamesTheFile) {
  const std::string dir = scratch_.CopyModel(Golden("bert-colbert-tiny"), "m");
  std::filesystem::remove(dir + "/modules.json");
  ExpectLoadError(dir, dir + "/modules.json");
}

TEST_F(ModelFolderTest, MissingDenseFolderNamesIt) {
  const std::string dir = scratch_.CopyModel(Golden("bert-colbert-tiny"), "m");
  std::filesystem::remove_all(dir + "/1_Dense");
  ExpectLoadError(dir, dir + "/1_Dense");
}

TEST_F(ModelFolderTest, WrongDenseShapeNamesTheFile) {
  const std::string dir = scratch_.CopyModel(Golden("bert-colbert-tiny"), "m");
  // The weights are [24, 64]; claim 32 outputs.
  WriteFile(dir + "/1_Dense/config.json",
            R"({"in_features": 64, "out_features": 32, "bias": false,
                "activation_function": "torch.nn.modules.linear.Identity"})");
  ExpectLoadError(dir, dir + "/1_Dense/model.safetensors");
  // in_features that do not match the backbone's hidden size (64).
  WriteFile(dir + "/1_Dense/config.json",
            R"({"in_features": 48, "out_features": 24, "bias": false,
                "activation_function": "torch.nn.modules.linear.Identity"})");
  ExpectLoadError(dir, "1_Dense");
}

TEST_F(ModelFolderTest, CorruptConfigsNameTheFile) {
  const std::string dir = scratch_.CopyModel(Golden("bert-colbert-tiny"), "m");
  const std::string st = dir + "/config_sentence_transformers.json";
  const std::string original = ReadFile(st);
  WriteFile(st, "{\"query_length\": 32,");  // truncated
  ExpectLoadError(dir, st);
  WriteFile(st, R"({"query_length": "long"})");  // wrong type
  ExpectLoadError(dir, st);
  WriteFile(st, original);

  WriteFile(dir + "/modules.json", "[{\"idx\": 0}]");
  ExpectLoadError(dir, dir + "/modules.json");
  WriteFile(dir + "/modules.json", "[]");  // no Transformer module
  ExpectLoadError(dir, dir + "/modules.json");
  WriteFile(
      dir + "/modules.json",
      R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}])");
  ExpectLoadError(dir, "no Dense module");
  // Module paths stay inside the model folder.
  for (const char* path : {"../elsewhere", "/etc", "1_Dense/../../x"}) {
    WriteFile(dir + "/modules.json",
              std::string(R"([{"idx": 0, "name": "0", "path": ")") + path +
                  R"(", "type": "sentence_transformers.models.Transformer"}])");
    ExpectLoadError(dir, "leaves the model folder");
  }

  const std::string dense_config = dir + "/1_Dense/config.json";
  WriteFile(
      dir + "/modules.json",
      R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"}])");
  WriteFile(dense_config, "not json");
  ExpectLoadError(dir, dense_config);
}

TEST_F(ModelFolderTest, UnknownDefaultPromptIsAnError) {
  const std::string dir = scratch_.CopyModel(Golden("modernbert-colbert-tiny"), "m");
  EditSettings(dir, [](nlohmann::json& j) { j["default_prompt_name"] = "missing"; });
  ExpectLoadError(dir, "missing");
}

TEST_F(ModelFolderTest, StanfordCheckpointSettings) {
  // A Stanford HF_ColBERT folder: no modules.json, settings in artifact.metadata.
  const std::string dir = scratch_.Sub("stanford");
  std::filesystem::create_directories(dir);
  WriteFile(dir + "/config.json",
            R"({"architectures": ["HF_ColBERT"], "model_type": "bert", "hidden_size": 64})");
  std::filesystem::copy_file(shared_ + "/data/colbertv2-artifact-metadata/artifact.metadata",
                             dir + "/artifact.metadata");
  auto folder = ReadModelFolder(dir);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_TRUE(folder->stanford_projection);
  EXPECT_TRUE(folder->dense_dirs.empty());
  EXPECT_EQ(folder->settings.query_prefix, "[unused0]");
  EXPECT_EQ(folder->settings.document_prefix, "[unused1]");
  EXPECT_EQ(folder->settings.query_length, 32);
  EXPECT_EQ(folder->settings.document_length, 256);
  EXPECT_FALSE(folder->settings.attend_to_expansion_tokens);

  // Without metadata: Stanford's markers, PyLate's default lengths.
  std::filesystem::remove(dir + "/artifact.metadata");
  folder = ReadModelFolder(dir);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_EQ(folder->settings.query_prefix, "[unused0]");
  EXPECT_EQ(folder->settings.document_length, 180);

  // A plain HF folder (not HF_ColBERT) without modules.json is refused.
  WriteFile(dir + "/config.json", R"({"architectures": ["BertModel"], "model_type": "bert"})");
  folder = ReadModelFolder(dir);
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.status().message().find("modules.json"), std::string::npos);
}

TEST_F(ModelFolderTest, MissingFolder) {
  auto folder = ReadModelFolder("/nonexistent/colbert-model");
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.status().message().find("/nonexistent/colbert-model"), std::string::npos);
}

}  // namespace
}  // namespace tartan::encoder
