// ColbertEncoder behaviour beyond the golden cases: prompt resolution, query expansion,
// make-test-model round trips, the lexical test model, and Stanford HF_ColBERT checkpoints.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "colbert_test_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/encoder/lib/colbert/colbert_encoder.h"
#include "services/encoder/lib/colbert/synthetic_checkpoint.h"
#include "services/encoder/lib/safetensors.h"

namespace tartan::encoder {
namespace {

using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

class ColbertEncoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_ = testing::SharedDirOrEmpty();
    if (shared_.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR not available";
  }
  std::string Golden(const std::string& model) { return shared_ + "/golden/models/" + model; }

  std::unique_ptr<ColbertEncoder> MustLoad(const std::string& dir) {
    auto enc = ColbertEncoder::Load(dir, EncoderOptions());
    EXPECT_TRUE(enc.ok()) << enc.status();
    return enc.ok() ? std::move(*enc) : nullptr;
  }

  // The golden ids of case `id` of `model`.
  std::vector<int32_t> GoldenIds(const std::string& model, const std::string& id) {
    std::istringstream lines(ReadFile(shared_ + "/golden/" + model + "/cases.jsonl"));
    std::string line;
    while (std::getline(lines, line)) {
      nlohmann::json j = nlohmann::json::parse(line);
      if (j["id"] == id) return j["ids"].get<std::vector<int32_t>>();
    }
    ADD_FAILURE() << "no golden case " << id;
    return {};
  }

  std::string shared_;
  ScratchDir scratch_{"colbert_encoder"};
};

TEST_F(ColbertEncoderTest, PromptResolution) {
  auto enc = MustLoad(Golden("modernbert-colbert-tiny"));
  ASSERT_NE(enc, nullptr);
  const std::string text = "What is the capital of France?";

  auto unknown = enc->Encode({text}, /*is_query=*/true, std::string("nope"), 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("nope"), std::string::npos);

  EncodeParams by_name;
  by_name.is_query = true;
  by_name.prompt_name = "query";
  auto ids = enc->Tokenize(text, by_name);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, GoldenIds("modernbert-colbert-tiny", "qp_00"));

  // An explicit prompt wins over the name.
  EncodeParams explicit_prompt = by_name;
  explicit_prompt.prompt_name = "document";
  explicit_prompt.prompt = "search_query: ";
  auto same = enc->Tokenize(text, explicit_prompt);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, *ids);
}

TEST_F(ColbertEncoderTest, DefaultPromptAppliesToQueriesAndDocuments) {
  const std::string dir = scratch_.CopyModel(Golden("modernbert-colbert-tiny"), "m");
  const std::string st = dir + "/config_sentence_transformers.json";
  nlohmann::json j = nlohmann::json::parse(ReadFile(st));
  j["default_prompt_name"] = "document";
  WriteFile(st, j.dump(2));
  auto enc = MustLoad(dir);
  ASSERT_NE(enc, nullptr);
  const std::string text = "What is the capital of France?";
  auto doc = enc->Encode({text}, /*is_query=*/false, std::nullopt, 1);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)[0].ids, GoldenIds("modernbert-colbert-tiny", "dp_00"));

  // PyLate applies the default prompt to queries too.
  auto original = MustLoad(Golden("modernbert-colbert-tiny"));
  ASSERT_NE(original, nullptr);
  EncodeParams with_doc_prompt;
  with_doc_prompt.is_query = true;
  with_doc_prompt.prompt = "search_document: ";
  auto expected = original->Tokenize(text, with_doc_prompt);
  ASSERT_TRUE(expected.ok());
  EncodeParams query;
  query.is_query = true;
  EXPECT_EQ(*enc->Tokenize(text, query), *expected);
}

TEST_F(ColbertEncoderTest, QueryExpansionPadsWithMaskToQueryLength) {
  auto enc = MustLoad(Golden("modernbert-colbert-tiny"));
  ASSERT_NE(enc, nullptr);
  EXPECT_EQ(enc->info().pad_id, 50284);  // [MASK]
  EXPECT_EQ(enc->info().query_prefix_id, 50368);
  EXPECT_EQ(enc->info().document_prefix_id, 50369);
  EncodeParams query;
  query.is_query = true;
  std::vector<uint8_t> attention;
  auto ids = enc->Tokenize("hello", query, &attention);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 32u);
  EXPECT_EQ((*ids)[0], 50281);  // [CLS]
  EXPECT_EQ((*ids)[1], 50368);  // [Q]
  EXPECT_EQ((*ids)[3], 50282);  // [SEP]
  for (size_t i = 4; i < 32; ++i) {
    EXPECT_EQ((*ids)[i], 50284);
    EXPECT_EQ(attention[i], 0);
  }
  auto encoded = enc->Encode({"hello"}, true, std::nullopt, 1);
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ((*encoded)[0].num_tokens, 32);  // expansion tokens are returned
  EXPECT_EQ((*encoded)[0].dim, 32);
  // Every returned vector is unit length.
  const EncodedText& r = (*encoded)[0];
  for (int t = 0; t < r.num_tokens; ++t) {
    double norm = 0;
    for (int d = 0; d < r.dim; ++d) norm += r.vectors[t * r.dim + d] * r.vectors[t * r.dim + d];
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
}

TEST_F(ColbertEncoderTest, AnInterruptStopsTheWorkBetweenBackboneBatches) {
  EncoderOptions options;
  options.max_batch_size = 2;  // 6 texts: three backbone batches
  auto enc = ColbertEncoder::Load(Golden("modernbert-colbert-tiny"), options);
  ASSERT_TRUE(enc.ok()) << enc.status();
  const std::vector<std::string> texts(6, "a document about the capital of France");
  int polls = 0;
  EncodeParams params;
  params.interrupt = [&] {
    return ++polls > 1 ? absl::DeadlineExceededError("caller gone") : absl::OkStatus();
  };
  auto stopped = (*enc)->Encode(texts, params);
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kDeadlineExceeded) << stopped.status();
  EXPECT_EQ(polls, 2) << "the second backbone batch must not start";
  params.interrupt = [] { return absl::OkStatus(); };
  auto done = (*enc)->Encode(texts, params);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->size(), 6u);
}

TEST_F(ColbertEncoderTest, PrecisionNames) {
  EXPECT_EQ(*ParsePrecision("fp32"), Precision::kFloat32);
  EXPECT_EQ(*ParsePrecision("BF16"), Precision::kBFloat16);
  EXPECT_EQ(*ParsePrecision("Int8"), Precision::kInt8);
  EXPECT_EQ(PrecisionName(Precision::kInt8), "int8");
  EXPECT_EQ(ParsePrecision("fp8").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ParsePrecision("fp8").status().message().find("int8"), std::string::npos);
}

TEST_F(ColbertEncoderTest, MakeTestModelRoundTrip) {
  struct Arch {
    const char* arch;
    const char* vocab;
    int32_t query_prefix_id;
  };
  for (const Arch& a : {Arch{"modernbert", "modernbert-tokenizer", 50368},
                        Arch{"bert", "answerai-colbert-small-v1", 1}}) {
    SCOPED_TRACE(a.arch);
    auto spec = SyntheticCheckpointPreset(a.arch, "tiny");
    ASSERT_TRUE(spec.ok()) << spec.status();
    spec->vocab_from = shared_ + "/data/" + a.vocab;
    spec->seed = 7;
    const std::string dir = scratch_.Sub(std::string("tiny-") + a.arch);
    ASSERT_TRUE(WriteSyntheticCheckpoint(dir, *spec).ok());
    for (const char* file : {"config.json", "model.safetensors", "tokenizer.json", "modules.json",
                             "config_sentence_transformers.json", "sentence_bert_config.json",
                             "1_Dense/config.json", "1_Dense/model.safetensors"}) {
      EXPECT_TRUE(std::filesystem::exists(dir + "/" + file)) << file;
    }
    auto enc = MustLoad(dir);
    ASSERT_NE(enc, nullptr);
    EXPECT_EQ(enc->info().architecture, a.arch);
    EXPECT_EQ(enc->info().query_prefix_id, a.query_prefix_id);
    EXPECT_EQ(enc->info().dim, spec->dim);
    auto q = enc->Encode({"what is late interaction?", ""}, true, std::nullopt, 1);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ((*q)[0].num_tokens, spec->query_length);
    EXPECT_EQ((*q)[1].num_tokens, spec->query_length);
    auto d = enc->Encode({"ColBERT keeps one vector per token.", "a b c d e f g h"}, false,
                         std::nullopt, 2);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_GT((*d)[0].num_tokens, 1);
    EXPECT_LT((*d)[1].num_tokens, static_cast<int>((*d)[1].ids.size()));  // pooled
    // Same seed, same weights: a second write gives byte-identical Dense weights.
    const std::string again = dir + "-again";
    ASSERT_TRUE(WriteSyntheticCheckpoint(again, *spec).ok());
    EXPECT_EQ(ReadFile(dir + "/1_Dense/model.safetensors"),
              ReadFile(again + "/1_Dense/model.safetensors"));
  }
  // The ModernBERT tokenizer gets exactly PyLate's two added tokens.
  auto golden = nlohmann::json::parse(
      ReadFile(shared_ + "/golden/models/modernbert-colbert-tiny/tokenizer.json"));
  auto written = nlohmann::json::parse(ReadFile(scratch_.Sub("tiny-modernbert/tokenizer.json")));
  EXPECT_EQ(written["added_tokens"], golden["added_tokens"]);
  EXPECT_EQ(written["model"], golden["model"]);
}

float Cosine(const float* a, const float* b, int dim) {
  double dot = 0, na = 0, nb = 0;
  for (int i = 0; i < dim; ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return static_cast<float>(dot / std::sqrt(na * nb));
}

TEST_F(ColbertEncoderTest, LexicalModelMatchesTermsOnly) {
  auto spec = SyntheticCheckpointPreset("modernbert", "lexical");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->lexical);
  EXPECT_EQ(spec->document_length, 300);
  EXPECT_EQ(spec->dim, 128);
  spec->vocab_from = shared_ + "/data/modernbert-tokenizer";
  const std::string dir = scratch_.Sub("lexical");
  ASSERT_TRUE(WriteSyntheticCheckpoint(dir, *spec).ok());
  auto enc = MustLoad(dir);
  ASSERT_NE(enc, nullptr);
  auto q = enc->Encode({"tell me about river music"}, true, std::nullopt, 1);
  auto d = enc->Encode({"we heard music by the house near a city"}, false, std::nullopt, 1);
  ASSERT_TRUE(q.ok() && d.ok());
  const EncodedText& qe = (*q)[0];
  const EncodedText& de = (*d)[0];
  const int dim = qe.dim;
  const int32_t music = *enc->tokenizer().TokenToId("\xC4\xA0music");  // "Ġmusic"
  const int32_t house = *enc->tokenizer().TokenToId("\xC4\xA0house");
  auto row_of = [](const EncodedText& e, int32_t id) {
    // Documents keep every id here (no punctuation), so rows align with ids.
    auto it = std::find(e.ids.begin(), e.ids.end(), id);
    return it == e.ids.end() ? -1 : static_cast<int>(it - e.ids.begin());
  };
  const int qp = row_of(qe, music);
  const int dp = row_of(de, music);
  const int dl = row_of(de, house);
  ASSERT_GE(qp, 0);
  ASSERT_GE(dp, 0);
  ASSERT_GE(dl, 0);
  ASSERT_EQ(de.num_tokens, static_cast<int>(de.ids.size()));
  // Same word, different contexts: the same vector.
  EXPECT_NEAR(Cosine(&qe.vectors[qp * dim], &de.vectors[dp * dim], dim), 1.0f, 1e-5);
  // Different words: near-orthogonal.
  EXPECT_LT(std::fabs(Cosine(&qe.vectors[qp * dim], &de.vectors[dl * dim], dim)), 0.35f);
  double sum_abs = 0;
  int pairs = 0;
  for (int i = 0; i < qe.num_tokens; ++i) {
    for (int j = 0; j < de.num_tokens; ++j) {
      if (qe.ids[i] == de.ids[j]) continue;
      sum_abs += std::fabs(Cosine(&qe.vectors[i * dim], &de.vectors[j * dim], dim));
      ++pairs;
    }
  }
  EXPECT_LT(sum_abs / pairs, 0.15);

  // "Music" first in the query (token "Music") and " music" inside the document ("Ġmusic")
  // share an embedding row in the lexical model.
  auto q2 = enc->Encode({"Music lovers"}, true, std::nullopt, 1);
  ASSERT_TRUE(q2.ok());
  const EncodedText& q2e = (*q2)[0];
  ASSERT_NE(q2e.ids[2], music);  // a different token id...
  EXPECT_NEAR(Cosine(&q2e.vectors[2 * dim], &de.vectors[dp * dim], dim), 1.0f,
              1e-5);  // ...same vector

  // Query markers score a constant against every document: [Q] equals [D], and each [MASK]
  // expansion vector equals [CLS].
  const int last = qe.num_tokens - 1;
  ASSERT_EQ(qe.ids[last], enc->info().pad_id);
  EXPECT_NEAR(Cosine(&qe.vectors[last * dim], &de.vectors[0], dim), 1.0f, 1e-5);
  EXPECT_NEAR(Cosine(&qe.vectors[1 * dim], &de.vectors[1 * dim], dim), 1.0f, 1e-5);
}

// A Stanford HF_ColBERT checkpoint built from the golden BERT model: `bert.`-prefixed backbone
// weights plus `linear.weight` in one model.safetensors, no modules.json. With PyLate's
// defaults it must reproduce the golden vectors for short documents and queries.
TEST_F(ColbertEncoderTest, StanfordCheckpointMatchesPyLateFolder) {
  const std::string golden = Golden("bert-colbert-tiny");
  const std::string dir = scratch_.Sub("stanford");
  std::filesystem::create_directories(dir);
  for (const char* f :
       {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"}) {
    std::filesystem::copy_file(golden + "/" + f, dir + "/" + f);
  }
  nlohmann::json config = nlohmann::json::parse(ReadFile(golden + "/config.json"));
  config["architectures"] = {"HF_ColBERT"};
  WriteFile(dir + "/config.json", config.dump(2));
  auto backbone = SafetensorsFile::Open(golden + "/model.safetensors");
  auto dense = SafetensorsFile::Open(golden + "/1_Dense/model.safetensors");
  ASSERT_TRUE(backbone.ok() && dense.ok());
  std::vector<NamedTensor> tensors;
  for (const std::string& name : (*backbone)->Names()) {
    auto info = (*backbone)->Info(name);
    ASSERT_TRUE(info.ok()) << info.status();
    auto data = (*backbone)->LoadF32(name, info->shape);
    ASSERT_TRUE(data.ok()) << data.status();
    const std::string key = name.rfind("bert.", 0) == 0 ? name : "bert." + name;
    tensors.push_back({key, info->shape, std::move(*data)});
  }
  auto linear = (*dense)->LoadF32("linear.weight", {24, 64});
  ASSERT_TRUE(linear.ok());
  tensors.push_back({"linear.weight", {24, 64}, std::move(*linear)});
  ASSERT_TRUE(WriteSafetensorsF32(dir + "/model.safetensors", tensors).ok());

  auto stanford = ColbertEncoder::Load(dir, EncoderOptions());
  if (!stanford.ok() &&
      stanford.status().message().find("model.safetensors") != std::string::npos) {
    GTEST_SKIP() << "backbone loader does not read bert.-prefixed checkpoints: "
                 << stanford.status();
  }
  ASSERT_TRUE(stanford.ok()) << stanford.status();
  EXPECT_EQ((*stanford)->info().query_prefix, "[unused0]");
  EXPECT_EQ((*stanford)->info().document_length, 180);
  EXPECT_EQ((*stanford)->info().dim, 24);
  auto reference = MustLoad(golden);
  ASSERT_NE(reference, nullptr);
  const std::vector<std::string> texts = {"What is the capital of France?", "hello", ""};
  for (bool is_query : {true, false}) {
    auto a = (*stanford)->Encode(texts, is_query, std::nullopt, 1);
    auto b = reference->Encode(texts, is_query, std::nullopt, 1);
    ASSERT_TRUE(a.ok() && b.ok());
    for (size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ((*a)[i].ids, (*b)[i].ids);
      ASSERT_EQ((*a)[i].vectors.size(), (*b)[i].vectors.size());
      for (size_t k = 0; k < (*a)[i].vectors.size(); ++k) {
        ASSERT_NEAR((*a)[i].vectors[k], (*b)[i].vectors[k], 1e-5);
      }
    }
  }
}

}  // namespace
}  // namespace tartan::encoder
