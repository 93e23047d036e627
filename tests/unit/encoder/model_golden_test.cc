// Backbone hidden states against the reference (transformers, float32, eager attention) for the
// golden tiny checkpoints in $TARTAN_SHARED_DIR/golden.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "npy.h"
#include "services/encoder/lib/arch/backbone.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/blas/packed_matmul.h"

namespace tartan::encoder {
namespace {

namespace fs = std::filesystem;

struct GoldenCase {
  std::string id;
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
  std::vector<int> degenerate;
  testing::NpyArray hidden;
};

std::string SharedDir() {
  const char* env = std::getenv("TARTAN_SHARED_DIR");
  return env != nullptr ? env : "../shared";
}

std::vector<GoldenCase> LoadCases(const std::string& model) {
  const fs::path dir = fs::path(SharedDir()) / "golden" / model;
  std::ifstream in(dir / "golden.json");
  nlohmann::json g = nlohmann::json::parse(in);
  std::vector<GoldenCase> cases;
  for (const auto& c : g.at("cases")) {
    GoldenCase gc;
    gc.id = c.at("id").get<std::string>();
    gc.ids = c.at("ids").get<std::vector<int32_t>>();
    for (int m : c.at("attention_mask").get<std::vector<int>>()) gc.mask.push_back(m ? 1 : 0);
    if (c.contains("degenerate_positions")) {
      gc.degenerate = c.at("degenerate_positions").get<std::vector<int>>();
    }
    auto npy = testing::ReadNpyF32((dir / c.at("hidden_npy").get<std::string>()).string());
    EXPECT_TRUE(npy.ok()) << npy.status();
    if (!npy.ok()) continue;
    gc.hidden = std::move(*npy);
    cases.push_back(std::move(gc));
  }
  return cases;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    golden_dir_ = fs::path(SharedDir()) / "golden" / GetParam();
    model_dir_ = fs::path(SharedDir()) / "golden" / "models" / GetParam();
    if (!fs::exists(golden_dir_ / "golden.json") || !fs::exists(model_dir_ / "config.json")) {
      GTEST_SKIP() << "golden data missing under " << SharedDir() << " (set TARTAN_SHARED_DIR)";
    }
    cases_ = LoadCases(GetParam());
    ASSERT_FALSE(cases_.empty());
  }
  fs::path golden_dir_, model_dir_;
  std::vector<GoldenCase> cases_;
};

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST_P(GoldenTest, EveryCaseMatchesReferenceHiddenState) {
  auto backbone = LoadBackbone(model_dir_.string(), {});
  ASSERT_TRUE(backbone.ok()) << backbone.status();
  EXPECT_EQ((*backbone)->architecture(), GetParam().substr(0, GetParam().find('-')));
  const int h = (*backbone)->hidden_size();
  int degenerate_cases = 0;
  float worst = 0.0f;
  for (const GoldenCase& c : cases_) {
    PackedBatch batch{c.ids, {0, static_cast<int32_t>(c.ids.size())}, c.mask};
    auto out = (*backbone)->Forward(batch);
    ASSERT_TRUE(out.ok()) << c.id << ": " << out.status();
    ASSERT_EQ(c.hidden.shape, (std::vector<int64_t>{static_cast<int64_t>(c.ids.size()), h}))
        << c.id;
    const float diff = MaxAbsDiff(*out, c.hidden.data);
    worst = std::max(worst, diff);
    EXPECT_LE(diff, 1e-4f) << "case " << c.id;
    degenerate_cases += c.degenerate.empty() ? 0 : 1;
  }
  std::cout << GetParam() << ": " << cases_.size() << " cases (" << degenerate_cases
            << " with degenerate rows), worst max-abs diff " << worst << "\n";
}

TEST_P(GoldenTest, PackedBatchEqualsOneAtATime) {
  auto backbone = LoadBackbone(model_dir_.string(), {.num_threads = 2});
  ASSERT_TRUE(backbone.ok()) << backbone.status();
  const int h = (*backbone)->hidden_size();
  PackedBatch packed;
  packed.offsets.push_back(0);
  for (const GoldenCase& c : cases_) {
    packed.ids.insert(packed.ids.end(), c.ids.begin(), c.ids.end());
    packed.key_mask.insert(packed.key_mask.end(), c.mask.begin(), c.mask.end());
    packed.offsets.push_back(static_cast<int32_t>(packed.ids.size()));
  }
  auto out = (*backbone)->Forward(packed);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), packed.ids.size() * h);
  for (size_t b = 0; b < cases_.size(); ++b) {
    const GoldenCase& c = cases_[b];
    PackedBatch single{c.ids, {0, static_cast<int32_t>(c.ids.size())}, c.mask};
    auto one = (*backbone)->Forward(single);
    ASSERT_TRUE(one.ok());
    std::vector<float> slice(out->begin() + static_cast<int64_t>(packed.offsets[b]) * h,
                             out->begin() + static_cast<int64_t>(packed.offsets[b + 1]) * h);
    // BLAS blocking depends on the row count, so packing changes float summation order.
    EXPECT_LE(MaxAbsDiff(slice, *one), 5e-5f) << c.id;
    EXPECT_LE(MaxAbsDiff(slice, c.hidden.data), 1e-4f) << c.id;
  }
}

TEST_P(GoldenTest, BFloat16StaysCloseToFloat32) {
  // Native oneDNN bf16 where the CPU has it, else the emulation with the same numerics.
  auto fp32 = LoadBackbone(model_dir_.string(), {});
  BackboneOptions opts;
  opts.precision = Precision::kBFloat16;
  opts.emulate_bf16_if_unsupported = true;
  auto bf16 = LoadBackbone(model_dir_.string(), opts);
  ASSERT_TRUE(fp32.ok() && bf16.ok()) << bf16.status();
  ASSERT_EQ((*bf16)->precision(), Precision::kBFloat16);
  const int h = (*fp32)->hidden_size();
  double worst = 1.0;
  for (const GoldenCase& c : cases_) {
    PackedBatch batch{c.ids, {0, static_cast<int32_t>(c.ids.size())}, c.mask};
    auto a = (*fp32)->Forward(batch);
    auto b = (*bf16)->Forward(batch);
    ASSERT_TRUE(a.ok() && b.ok());
    for (size_t t = 0; t < c.ids.size(); ++t) {
      double dot = 0, na = 0, nb = 0;
      for (int d = 0; d < h; ++d) {
        const double x = (*a)[t * h + d], y = (*b)[t * h + d];
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
      worst = std::min(worst, dot / std::sqrt(na * nb));
    }
  }
  std::cout << GetParam() << ": bf16 (" << (CpuHasNativeBf16() ? "oneDNN" : "emulated")
            << ") worst per-token cosine vs fp32 " << worst << "\n";
  // These 64-wide random checkpoints are ill-conditioned for bf16 (measured worst 0.9953 for
  // ModernBERT, 0.9998 for BERT); the 0.999 target is checked on a wider model in
  // model_backbone_test (BFloat16MatchesFloat32OnWideModel).
  EXPECT_GE(worst, 0.99);
}

TEST_P(GoldenTest, Int8StaysCloseToFloat32) {
  auto fp32 = LoadBackbone(model_dir_.string(), {});
  BackboneOptions opts;
  opts.precision = Precision::kInt8;
  auto int8 = LoadBackbone(model_dir_.string(), opts);
  ASSERT_TRUE(fp32.ok() && int8.ok()) << int8.status();
  ASSERT_EQ((*int8)->precision(), Precision::kInt8);
  const int h = (*fp32)->hidden_size();
  double worst = 1.0, sum = 0;
  int n = 0;
  for (const GoldenCase& c : cases_) {
    PackedBatch batch{c.ids, {0, static_cast<int32_t>(c.ids.size())}, c.mask};
    auto a = (*fp32)->Forward(batch);
    auto b = (*int8)->Forward(batch);
    ASSERT_TRUE(a.ok() && b.ok());
    for (size_t t = 0; t < c.ids.size(); ++t) {
      double dot = 0, na = 0, nb = 0;
      for (int d = 0; d < h; ++d) {
        const double x = (*a)[t * h + d], y = (*b)[t * h + d];
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
      worst = std::min(worst, dot / std::sqrt(na * nb));
      sum += dot / std::sqrt(na * nb);
      ++n;
    }
  }
  std::cout << GetParam() << ": int8 worst per-token cosine vs fp32 " << worst << ", mean "
            << sum / n << "\n";
  // Measured with VNNI (8-bit activations): 0.9307 ModernBERT, 0.9977 BERT; with 7-bit
  // activations (no VNNI): 0.858, 0.9944. 64-wide random layers are ill-conditioned; the wide
  // model (model_backbone_test) is the realistic figure.
  const bool modernbert = GetParam() == "modernbert-colbert-tiny";
  if (Int8ActivationLevels() == 255) {
    EXPECT_GE(worst, modernbert ? 0.92 : 0.995);
  } else {
    EXPECT_GE(worst, modernbert ? 0.83 : 0.99);
  }
}

TEST_P(GoldenTest, BFloat16WithoutNativeSupportFallsBackToFloat32) {
  if (CpuHasNativeBf16()) GTEST_SKIP() << "CPU has native bf16";
  BackboneOptions opts;
  opts.precision = Precision::kBFloat16;
  auto bb = LoadBackbone(model_dir_.string(), opts);
  ASSERT_TRUE(bb.ok()) << bb.status();
  EXPECT_EQ((*bb)->precision(), Precision::kFloat32);
  const GoldenCase& c = cases_.front();
  auto out = (*bb)->Forward({c.ids, {0, static_cast<int32_t>(c.ids.size())}, c.mask});
  ASSERT_TRUE(out.ok());
  EXPECT_LE(MaxAbsDiff(*out, c.hidden.data), 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenTest,
                         ::testing::Values("modernbert-colbert-tiny", "bert-colbert-tiny"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace tartan::encoder
