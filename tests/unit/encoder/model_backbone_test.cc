// Backbone loading and forward invariants on random-weight test checkpoints.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "services/encoder/lib/arch/backbone.h"
#include "services/encoder/lib/arch/registry.h"
#include "services/encoder/lib/arch/synthetic_backbone.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/model_config.h"
#include "services/encoder/lib/safetensors.h"

namespace tartan::encoder {
namespace {

namespace fs = std::filesystem;

class BackboneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("bb_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Dir(const std::string& sub) const { return (dir_ / sub).string(); }

  static PackedBatch RandomBatch(const std::vector<int>& lengths, int vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    PackedBatch b;
    b.offsets.push_back(0);
    for (int len : lengths) {
      for (int i = 0; i < len; ++i) {
        b.ids.push_back(static_cast<int32_t>(rng() % vocab));
        b.key_mask.push_back(rng() % 5 == 0 ? 0 : 1);
      }
      b.offsets.push_back(static_cast<int32_t>(b.ids.size()));
    }
    return b;
  }
  static PackedBatch Slice(const PackedBatch& b, size_t i) {
    PackedBatch s;
    s.ids.assign(b.ids.begin() + b.offsets[i], b.ids.begin() + b.offsets[i + 1]);
    s.key_mask.assign(b.key_mask.begin() + b.offsets[i], b.key_mask.begin() + b.offsets[i + 1]);
    s.offsets = {0, static_cast<int32_t>(s.ids.size())};
    return s;
  }

  fs::path dir_;
};

// With zeroed output projections every layer is a no-op on the residual stream, so the hidden
// state is final_norm(emb_norm(E[id])) for ModernBERT: check it against a direct computation.
TEST_F(BackboneTest, LexicalModernBertIsNormalisedEmbedding) {
  SyntheticBackboneShape shape;
  shape.vocab_size = 50;
  ASSERT_TRUE(WriteSyntheticBackbone(Dir("m"), shape, 1, /*lexical=*/true).ok());
  auto bb = LoadBackbone(Dir("m"), {});
  ASSERT_TRUE(bb.ok()) << bb.status();
  auto st = SafetensorsFile::Open(Dir("m") + "/model.safetensors");
  ASSERT_TRUE(st.ok());
  const int h = shape.hidden;
  auto emb = *(*st)->LoadF32("embeddings.tok_embeddings.weight", {50, h});
  auto g1 = *(*st)->LoadF32("embeddings.norm.weight", {h});
  auto g2 = *(*st)->LoadF32("final_norm.weight", {h});
  PackedBatch batch = RandomBatch({20, 3}, 50, 9);
  auto out = (*bb)->Forward(batch);
  ASSERT_TRUE(out.ok());
  const auto ln = [&](std::vector<double> v, const std::vector<float>& g) {
    double mean = 0, var = 0;
    for (double x : v) mean += x;
    mean /= h;
    for (double x : v) var += (x - mean) * (x - mean);
    var /= h;
    for (int d = 0; d < h; ++d) v[d] = (v[d] - mean) / std::sqrt(var + 1e-5) * g[d];
    return v;
  };
  for (size_t t = 0; t < batch.ids.size(); ++t) {
    std::vector<double> e(emb.begin() + batch.ids[t] * h, emb.begin() + (batch.ids[t] + 1) * h);
    const auto want = ln(ln(e, g1), g2);
    for (int d = 0; d < h; ++d) ASSERT_NEAR((*out)[t * h + d], want[d], 1e-4) << t << "," << d;
  }
}

TEST_F(BackboneTest, LexicalBertDependsOnlyOnTheToken) {
  SyntheticBackboneShape shape;
  shape.arch = "bert";
  shape.vocab_size = 40;
  shape.layers = 2;
  ASSERT_TRUE(WriteSyntheticBackbone(Dir("b"), shape, 2, /*lexical=*/true).ok());
  auto bb = LoadBackbone(Dir("b"), {});
  ASSERT_TRUE(bb.ok()) << bb.status();
  EXPECT_EQ((*bb)->max_position_embeddings(), 512);
  PackedBatch batch{{5, 7, 5, 9, 5}, {0, 5}, {1, 1, 1, 1, 1}};
  auto out = (*bb)->Forward(batch);
  ASSERT_TRUE(out.ok());
  const int h = shape.hidden;
  // Token 5 at positions 0, 2, 4 gives the same vector; token 7 a different one.
  for (int d = 0; d < h; ++d) {
    EXPECT_FLOAT_EQ((*out)[0 * h + d], (*out)[2 * h + d]);
    EXPECT_FLOAT_EQ((*out)[0 * h + d], (*out)[4 * h + d]);
  }
  float diff = 0;
  for (int d = 0; d < h; ++d) diff += std::abs((*out)[d] - (*out)[h + d]);
  EXPECT_GT(diff, 1e-3);
}

// Long sequences cross several attention tiles and many local windows; packing must not leak
// attention across sequences, and threading must not change results.
TEST_F(BackboneTest, PackedEqualsSingleAndThreadsAgree) {
  for (const char* arch : {"modernbert", "bert"}) {
    SyntheticBackboneShape shape;
    shape.arch = arch;
    shape.vocab_size = 100;
    shape.layers = 3;
    ASSERT_TRUE(WriteSyntheticBackbone(Dir(arch), shape, 3, false).ok());
    auto one = LoadBackbone(Dir(arch), {.num_threads = 1});
    auto two = LoadBackbone(Dir(arch), {.num_threads = 2});
    ASSERT_TRUE(one.ok() && two.ok()) << one.status() << two.status();
    const PackedBatch batch = RandomBatch({1, 150, 300, 64, 65}, 100, 4);
    auto packed = (*one)->Forward(batch);
    auto packed2 = (*two)->Forward(batch);
    ASSERT_TRUE(packed.ok() && packed2.ok());
    const int h = shape.hidden;
    float worst = 0;
    for (size_t i = 0; i < packed->size(); ++i) {
      ASSERT_TRUE(std::isfinite((*packed)[i]));
      worst = std::max(worst, std::abs((*packed)[i] - (*packed2)[i]));
    }
    EXPECT_LE(worst, 1e-5f) << arch << " 1 vs 2 threads";
    for (size_t b = 0; b + 1 < batch.offsets.size(); ++b) {
      auto single = (*one)->Forward(Slice(batch, b));
      ASSERT_TRUE(single.ok());
      float d = 0;
      for (size_t i = 0; i < single->size(); ++i) {
        d = std::max(d, std::abs((*single)[i] - (*packed)[batch.offsets[b] * h + i]));
      }
      EXPECT_LE(d, 1e-5f) << arch << " sequence " << b;
    }
  }
}

// Backbone::Forward's split of a batch into one run of sequences per thread: runs of about
// equal token counts, in order, every sequence in exactly one; no split when a run would be
// shorter than the minimum (one long sequence among short ones, a single query).
TEST(SplitSequencesByTokensTest, BalancedRunsOrNone) {
  using V = std::vector<size_t>;
  EXPECT_EQ(SplitSequencesByTokens({0, 180, 360, 540, 720, 900, 1080, 1260, 1440}, 2, 128),
            (V{0, 4, 8}));
  EXPECT_EQ(SplitSequencesByTokens({0, 100, 400, 500, 600}, 2, 128), (V{0, 2, 4}));
  EXPECT_EQ(SplitSequencesByTokens({0, 200, 400, 600}, 4, 128), (V{0, 1, 2, 3}));
  EXPECT_EQ(SplitSequencesByTokens({0, 300, 600, 900, 1200}, 3, 128), (V{0, 1, 3, 4}));
  EXPECT_TRUE(SplitSequencesByTokens({0, 1000, 1010, 1020}, 2, 128).empty());
  EXPECT_TRUE(SplitSequencesByTokens({0, 500}, 2, 128).empty());
  EXPECT_TRUE(SplitSequencesByTokens({0, 100, 200}, 2, 128).empty());
  EXPECT_TRUE(SplitSequencesByTokens({0, 180, 360}, 1, 128).empty());
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> offsets{0};
    const int n = 2 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i)
      offsets.push_back(offsets.back() + 1 + static_cast<int>(rng() % 300));
    const int groups = 2 + static_cast<int>(rng() % 3);
    const V starts = SplitSequencesByTokens(offsets, groups, 64);
    if (starts.empty()) continue;
    ASSERT_EQ(starts.front(), 0u);
    ASSERT_EQ(starts.back(), static_cast<size_t>(n));
    ASSERT_LE(starts.size(), static_cast<size_t>(groups) + 1);
    for (size_t g = 0; g + 1 < starts.size(); ++g) {
      ASSERT_LT(starts[g], starts[g + 1]);
      ASSERT_GE(offsets[starts[g + 1]] - offsets[starts[g]], 64);
      // Each boundary is within one sequence of its share of the tokens.
      if (g + 2 < starts.size()) {
        const int64_t target = static_cast<int64_t>(offsets.back()) * (g + 1) / (starts.size() - 1);
        EXPECT_LE(std::abs(offsets[starts[g + 1]] - target), 300) << trial;
      }
    }
  }
}

// A sequence whose keys are all masked reproduces the reference's float32-min mask: uniform
// attention over all keys, finite outputs, independent of the other sequences in the batch.
TEST_F(BackboneTest, FullyMaskedSequenceIsFiniteAndIsolated) {
  SyntheticBackboneShape shape;
  shape.vocab_size = 30;
  ASSERT_TRUE(WriteSyntheticBackbone(Dir("m"), shape, 5, false).ok());
  auto bb = LoadBackbone(Dir("m"), {});
  ASSERT_TRUE(bb.ok());
  PackedBatch masked{{1, 2, 3, 4}, {0, 4}, {0, 0, 0, 0}};
  PackedBatch open{{1, 2, 3, 4}, {0, 4}, {1, 1, 1, 1}};
  auto a = (*bb)->Forward(masked);
  auto b = (*bb)->Forward(open);
  ASSERT_TRUE(a.ok() && b.ok());
  // Uniform attention over all 4 keys equals unmasked attention only if scores were equal, so
  // the two must differ, yet every value is finite.
  float diff = 0;
  for (size_t i = 0; i < a->size(); ++i) {
    ASSERT_TRUE(std::isfinite((*a)[i]));
    diff = std::max(diff, std::abs((*a)[i] - (*b)[i]));
  }
  EXPECT_GT(diff, 1e-4f);
  PackedBatch both{{7, 8, 1, 2, 3, 4}, {0, 2, 6}, {1, 1, 0, 0, 0, 0}};
  auto c = (*bb)->Forward(both);
  ASSERT_TRUE(c.ok());
  const int h = shape.hidden;
  for (size_t i = 0; i < a->size(); ++i) EXPECT_NEAR((*c)[2 * h + i], (*a)[i], 1e-5f);
}

TEST_F(BackboneTest, PrefixedBertCheckpointLoads) {
  SyntheticBackboneShape shape;
  shape.arch = "bert";
  shape.vocab_size = 60;
  shape.layers = 2;
  ASSERT_TRUE(WriteSyntheticBackbone(Dir("plain"), shape, 6, false).ok());
  // Rewrite the same weights with the Stanford "bert." prefix, plus an I64 buffer and an extra
  // head tensor (HF_ColBERT's linear.weight) that the backbone must ignore.
  auto st = SafetensorsFile::Open(Dir("plain") + "/model.safetensors");
  ASSERT_TRUE(st.ok());
  std::vector<NamedTensor> renamed;
  for (const std::string& n : (*st)->Names()) {
    auto info = (*st)->Info(n);
    renamed.push_back({"bert." + n, info->shape, *(*st)->LoadF32(n, info->shape)});
  }
  renamed.push_back({"linear.weight", {8, shape.hidden}, std::vector<float>(8 * shape.hidden)});
  fs::create_directories(Dir("prefixed"));
  fs::copy_file(Dir("plain") + "/config.json", Dir("prefixed") + "/config.json");
  ASSERT_TRUE(WriteSafetensorsF32(Dir("prefixed") + "/model.safetensors", renamed).ok());
  auto a = LoadBackbone(Dir("plain"), {});
  auto b = LoadBackbone(Dir("prefixed"), {});
  ASSERT_TRUE(a.ok() && b.ok()) << b.status();
  const PackedBatch batch = RandomBatch({12}, 60, 1);
  EXPECT_EQ(*(*a)->Forward(batch), *(*b)->Forward(batch));
}

TEST_F(BackboneTest, ShardedCheckpointLoads) {
  SyntheticBackboneShape shape;
  shape.vocab_size = 60;
  ASSERT_TRUE(WriteSyntheticBackbone(Dir("single"), shape, 8, false).ok());
  auto st = SafetensorsFile::Open(Dir("single") + "/model.safetensors");
  ASSERT_TRUE(st.ok());
  std::vector<NamedTensor> first, second;
  std::string map;
  const auto names = (*st)->Names();
  for (size_t i = 0; i < names.size(); ++i) {
    auto info = (*st)->Info(names[i]);
    const bool one = i % 2 == 0;
    (one ? first : second)
        .push_back({names[i], info->shape, *(*st)->LoadF32(names[i], info->shape)});
    map += (map.empty() ? "" : ",") + std::string("\"") + names[i] + "\": \"" +
           (one ? "a.safetensors" : "b.safetensors") + "\"";
  }
  fs::create_directories(Dir("sharded"));
  fs::copy_file(Dir("single") + "/config.json", Dir("sharded") + "/config.json");
  ASSERT_TRUE(WriteSafetensorsF32(Dir("sharded") + "/a.safetensors", first).ok());
  ASSERT_TRUE(WriteSafetensorsF32(Dir("sharded") + "/b.safetensors", second).ok());
  std::ofstream(Dir("sharded") + "/model.safetensors.index.json")
      << "{\"weight_map\": {" << map << "}}";
  auto a = LoadBackbone(Dir("single"), {});
  auto b = LoadBackbone(Dir("sharded"), {});
  ASSERT_TRUE(a.ok() && b.ok()) << b.status();
  const PackedBatch batch = RandomBatch({40, 9}, 60, 2);
  EXPECT_EQ(*(*a)->Forward(batch), *(*b)->Forward(batch));
}

TEST_F(BackboneTest, LoaderErrorsAreClear) {
  // Missing folder / config.json.
  auto none = LoadBackbone(Dir("nothing"), {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("config.json"), std::string::npos) << none.status();

  SyntheticBackboneShape shape;
  shape.vocab_size = 30;
  ASSERT_TRUE(WriteSyntheticBackbone(Dir("m"), shape, 1, false).ok());
  const std::string weights = Dir("m") + "/model.safetensors";

  // Config disagrees with the tensors: the error names the tensor, the file and both shapes.
  {
    std::ifstream in(Dir("m") + "/config.json");
    std::string cfg((std::istreambuf_iterator<char>(in)), {});
    const std::string from = "\"vocab_size\": 30";
    ASSERT_NE(cfg.find(from), std::string::npos);
    fs::create_directories(Dir("shape"));
    std::ofstream(Dir("shape") + "/config.json")
        << cfg.replace(cfg.find(from), from.size(), "\"vocab_size\": 31");
    fs::copy_file(weights, Dir("shape") + "/model.safetensors");
    auto bad = LoadBackbone(Dir("shape"), {});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("embeddings.tok_embeddings.weight"), std::string::npos)
        << bad.status();
    EXPECT_NE(bad.status().message().find("model.safetensors"), std::string::npos);
  }
  // A tensor missing from the checkpoint.
  {
    auto st = SafetensorsFile::Open(weights);
    std::vector<NamedTensor> kept;
    for (const std::string& n : (*st)->Names()) {
      if (n == "layers.2.mlp.Wi.weight") continue;
      auto info = (*st)->Info(n);
      kept.push_back({n, info->shape, *(*st)->LoadF32(n, info->shape)});
    }
    fs::create_directories(Dir("missing"));
    fs::copy_file(Dir("m") + "/config.json", Dir("missing") + "/config.json");
    ASSERT_TRUE(WriteSafetensorsF32(Dir("missing") + "/model.safetensors", kept).ok());
    auto bad = LoadBackbone(Dir("missing"), {});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("layers.2.mlp.Wi.weight"), std::string::npos)
        << bad.status();
  }
  // No weights at all; corrupt weights.
  {
    fs::create_directories(Dir("noweights"));
    fs::copy_file(Dir("m") + "/config.json", Dir("noweights") + "/config.json");
    auto bad = LoadBackbone(Dir("noweights"), {});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("model.safetensors"), std::string::npos);
    std::ofstream(Dir("noweights") + "/model.safetensors") << "\x10\0\0\0\0\0\0\0{not json";
    auto corrupt = LoadBackbone(Dir("noweights"), {});
    ASSERT_FALSE(corrupt.ok());
  }
  // Unknown architecture and malformed JSON.
  {
    fs::create_directories(Dir("arch"));
    std::ofstream(Dir("arch") + "/config.json")
        << R"({"model_type": "gpt2", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
              "num_attention_heads": 2, "intermediate_size": 8})";
    auto bad = LoadBackbone(Dir("arch"), {});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("gpt2"), std::string::npos);
    std::ofstream(Dir("arch") + "/config.json") << "{\"model_type\": ";
    auto broken = LoadBackbone(Dir("arch"), {});
    ASSERT_FALSE(broken.ok());
    EXPECT_NE(broken.status().message().find("config.json"), std::string::npos);
  }
}

TEST_F(BackboneTest, MalformedBatchesAreRejected) {
  SyntheticBackboneShape shape;
  shape.vocab_size = 30;
  shape.max_position = 64;
  ASSERT_TRUE(WriteSyntheticBackbone(Dir("m"), shape, 1, false).ok());
  auto bb = LoadBackbone(Dir("m"), {});
  ASSERT_TRUE(bb.ok());
  EXPECT_FALSE((*bb)->Forward({{1, 30}, {0, 2}, {1, 1}}).ok());       // id out of vocabulary
  EXPECT_FALSE((*bb)->Forward({{1, -1}, {0, 2}, {1, 1}}).ok());       // negative id
  EXPECT_FALSE((*bb)->Forward({{1, 2}, {0, 1}, {1, 1}}).ok());        // offsets do not cover ids
  EXPECT_FALSE((*bb)->Forward({{1, 2}, {0, 2, 1, 2}, {1, 1}}).ok());  // decreasing offsets
  EXPECT_FALSE((*bb)->Forward({{1, 2}, {0, 2}, {1}}).ok());           // key_mask size
  PackedBatch too_long{std::vector<int32_t>(65, 1), {0, 65}, std::vector<uint8_t>(65, 1)};
  EXPECT_FALSE((*bb)->Forward(too_long).ok());
  auto empty = (*bb)->Forward({{}, {0}, {}});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// bf16 products (oneDNN where the CPU has native bf16, else the emulation with identical
// rounding) against float32 on a model of realistic width.
TEST_F(BackboneTest, BFloat16MatchesFloat32OnWideModel) {
  for (const char* arch : {"modernbert", "bert"}) {
    SyntheticBackboneShape shape;
    shape.arch = arch;
    shape.vocab_size = 500;
    shape.hidden = 384;
    shape.heads = 6;
    shape.intermediate = 576;
    shape.layers = 4;
    shape.local_attention = 32;
    ASSERT_TRUE(WriteSyntheticBackbone(Dir(arch), shape, 11, false).ok());
    BackboneOptions opts;
    opts.precision = Precision::kBFloat16;
    opts.emulate_bf16_if_unsupported = true;
    auto fp32 = LoadBackbone(Dir(arch), {});
    auto bf16 = LoadBackbone(Dir(arch), opts);
    ASSERT_TRUE(fp32.ok() && bf16.ok()) << bf16.status();
    EXPECT_EQ((*bf16)->precision(), Precision::kBFloat16);
    const PackedBatch batch = RandomBatch({32, 180, 7}, 500, 12);
    auto a = (*fp32)->Forward(batch);
    auto b = (*bf16)->Forward(batch);
    ASSERT_TRUE(a.ok() && b.ok());
    const int h = shape.hidden;
    double worst = 1.0;
    for (size_t t = 0; t < batch.ids.size(); ++t) {
      double dot = 0, na = 0, nb = 0;
      for (int d = 0; d < h; ++d) {
        const double x = (*a)[t * h + d], y = (*b)[t * h + d];
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
      worst = std::min(worst, dot / std::sqrt(na * nb));
    }
    std::cout << arch << ": bf16 worst per-token cosine vs fp32 " << worst << "\n";
    EXPECT_GE(worst, 0.999) << arch;
  }
}

// Dynamic int8 projections (oneDNN on every x86 CPU) against float32 on the same wide model:
// worst and mean per-token cosine of the last hidden state.
TEST_F(BackboneTest, Int8StaysCloseToFloat32OnWideModel) {
  for (const char* arch : {"modernbert", "bert"}) {
    SyntheticBackboneShape shape;
    shape.arch = arch;
    shape.vocab_size = 500;
    shape.hidden = 384;
    shape.heads = 6;
    shape.intermediate = 576;
    shape.layers = 4;
    shape.local_attention = 32;
    ASSERT_TRUE(WriteSyntheticBackbone(Dir(arch), shape, 11, false).ok());
    BackboneOptions opts;
    opts.precision = Precision::kInt8;
    auto fp32 = LoadBackbone(Dir(arch), {});
    auto int8 = LoadBackbone(Dir(arch), opts);
    ASSERT_TRUE(fp32.ok() && int8.ok()) << int8.status();
    EXPECT_EQ((*int8)->precision(), Precision::kInt8);
    const PackedBatch batch = RandomBatch({32, 180, 7}, 500, 12);
    auto a = (*fp32)->Forward(batch);
    auto b = (*int8)->Forward(batch);
    ASSERT_TRUE(a.ok() && b.ok());
    const int h = shape.hidden;
    double worst = 1.0, sum = 0;
    for (size_t t = 0; t < batch.ids.size(); ++t) {
      double dot = 0, na = 0, nb = 0;
      for (int d = 0; d < h; ++d) {
        const double x = (*a)[t * h + d], y = (*b)[t * h + d];
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
      worst = std::min(worst, dot / std::sqrt(na * nb));
      sum += dot / std::sqrt(na * nb);
    }
    std::cout << arch << ": int8 worst per-token cosine vs fp32 " << worst << ", mean "
              << sum / batch.ids.size() << "\n";
    // Measured with VNNI (8-bit activations): 0.99943 ModernBERT, 0.99974 BERT; 7-bit
    // activations (no VNNI): 0.99839, 0.99947.
    EXPECT_GE(worst, Int8ActivationLevels() == 255 ? 0.999 : 0.997) << arch;
  }
}

TEST(ModelConfigTest, NewerRopeParametersSpelling) {
  auto c = ParseModelConfig(
      R"({"model_type": "modernbert", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 3,
          "num_attention_heads": 2, "intermediate_size": 8,
          "layer_types": ["full_attention", "sliding_attention", "full_attention"],
          "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 80000.0},
                              "sliding_attention": {"rope_type": "default", "rope_theta": 5000.0}},
          "hidden_activation": "gelu_pytorch_tanh"})",
      "test");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->layer_is_global, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(c->global_rope_theta, 80000.0);
  EXPECT_EQ(c->local_rope_theta, 5000.0);
  EXPECT_EQ(c->activation, Activation::kGeluTanh);
  // Old spelling, local theta null -> global theta (transformers 4.48).
  auto old = ParseModelConfig(
      R"({"model_type": "modernbert", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 4,
          "num_attention_heads": 2, "intermediate_size": 8, "global_attn_every_n_layers": 2,
          "global_rope_theta": 1234.0, "local_rope_theta": null})",
      "test");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->layer_is_global, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(old->local_rope_theta, 1234.0);
  EXPECT_FALSE(ParseModelConfig(R"({"model_type": "modernbert", "vocab_size": 10,
      "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 3,
      "intermediate_size": 8})",
                                "test")
                   .ok());  // hidden not divisible by heads
  EXPECT_FALSE(ParseActivation("mish").ok());
}

}  // namespace
}  // namespace tartan::encoder
