// Acceptance test of the ColBERT encoder against PyLate's reference outputs for the golden tiny
// checkpoints ($TARTAN_SHARED_DIR/golden): token ids exactly, vectors within 1e-4 (pooled rows
// matched by minimum-cost assignment).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "golden_cases.h"
#include "gtest/gtest.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/colbert/colbert_encoder.h"

namespace tartan::golden {
namespace {

using encoder::ColbertEncoder;
using encoder::EncodedText;
using encoder::EncodeParams;
using encoder::EncoderOptions;

constexpr double kTolerance = 1e-4;

EncodeParams ParamsOf(const GoldenCase& c) {
  EncodeParams p;
  p.is_query = c.is_query;
  p.prompt_name = c.prompt_name;
  p.pool_factor = c.pool_factor;
  p.pooling_version =
      c.pool_version == "v1.4.0" ? encoder::PoolingVersion::kV140 : encoder::PoolingVersion::kMain;
  return p;
}

using GroupKey = std::tuple<bool, std::string, int, std::string>;
GroupKey KeyOf(const GoldenCase& c) {
  return {c.is_query, c.prompt_name.value_or(""), c.pool_factor, c.pool_version};
}

class GoldenEncoderTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    shared_ = SharedDir();
    if (shared_.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR (golden outputs) not available";
    auto cases = LoadCases(shared_ + "/golden/" + GetParam() + "/cases.jsonl");
    ASSERT_TRUE(cases.ok()) << cases.status();
    cases_ = std::move(*cases);
    ASSERT_GE(cases_.size(), 50u);
  }

  std::unique_ptr<ColbertEncoder> LoadEncoder(const EncoderOptions& options) {
    auto enc = ColbertEncoder::Load(shared_ + "/golden/models/" + GetParam(), options);
    EXPECT_TRUE(enc.ok()) << enc.status();
    return enc.ok() ? std::move(*enc) : nullptr;
  }

  // Encodes every case, grouped into one Encode call per parameter set (so texts of different
  // lengths share packed batches), and checks each against the reference. Returns the number
  // of cases checked.
  int CheckAll(const ColbertEncoder& enc) {
    std::map<GroupKey, std::vector<const GoldenCase*>> groups;
    for (const GoldenCase& c : cases_) groups[KeyOf(c)].push_back(&c);
    int checked = 0;
    for (const auto& [key, members] : groups) {
      std::vector<std::string> texts;
      for (const GoldenCase* c : members) texts.push_back(c->text);
      auto results = enc.Encode(texts, ParamsOf(*members.front()));
      EXPECT_TRUE(results.ok()) << results.status();
      if (!results.ok()) continue;
      EXPECT_EQ(results->size(), members.size());
      for (size_t i = 0; i < members.size() && i < results->size(); ++i) {
        CheckCase(*members[i], (*results)[i]);
        ++checked;
      }
    }
    return checked;
  }

  static void CheckCase(const GoldenCase& c, const EncodedText& r) {
    SCOPED_TRACE("case " + c.id);
    EXPECT_EQ(r.ids, c.ids);
    ASSERT_EQ(r.dim, c.dim);
    ASSERT_EQ(r.num_tokens, c.rows);
    EXPECT_LE(MatchedMaxAbsDiff(r.vectors, c.embeddings, c.rows, c.dim), kTolerance);
  }

  std::string shared_;
  std::vector<GoldenCase> cases_;
};

TEST_P(GoldenEncoderTest, EveryCaseMatchesPyLate) {
  auto enc = LoadEncoder(EncoderOptions());
  ASSERT_NE(enc, nullptr);
  EXPECT_EQ(CheckAll(*enc), static_cast<int>(cases_.size()));
}

TEST_P(GoldenEncoderTest, TinyBatchesAndThreadsGiveTheSameVectors) {
  EncoderOptions options;
  options.max_batch_tokens = 40;  // most texts alone, short ones paired
  options.max_batch_size = 3;
  options.num_threads = 2;
  auto enc = LoadEncoder(options);
  ASSERT_NE(enc, nullptr);
  EXPECT_EQ(CheckAll(*enc), static_cast<int>(cases_.size()));
}

TEST_P(GoldenEncoderTest, OneTextAtATimeEqualsBatched) {
  auto enc = LoadEncoder(EncoderOptions());
  ASSERT_NE(enc, nullptr);
  for (const GoldenCase& c : cases_) {
    if (c.pool_factor > 1) continue;
    auto single = enc->Encode({c.text}, ParamsOf(c));
    ASSERT_TRUE(single.ok()) << single.status();
    CheckCase(c, (*single)[0]);
  }
}

TEST_P(GoldenEncoderTest, ConcurrentCallersGetReferenceVectors) {
  auto enc = LoadEncoder(EncoderOptions());
  ASSERT_NE(enc, nullptr);
  std::vector<int> checked(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] { checked[t] = CheckAll(*enc); });
  }
  for (auto& th : threads) th.join();
  for (int n : checked) EXPECT_EQ(n, static_cast<int>(cases_.size()));
}

// Lossy precisions: token ids exactly, vectors by their worst per-token cosine against the
// reference (PyLate fp32). Pooled cases are left out: Ward clustering of near-tied tokens may
// merge differently under rounding, which is a different (not a less accurate) answer.
double WorstCosineOfUnpooledCases(const ColbertEncoder& enc, const std::vector<GoldenCase>& cases,
                                  int* checked) {
  double worst = 1.0;
  *checked = 0;
  for (const GoldenCase& c : cases) {
    if (c.pool_factor > 1) continue;
    auto r = enc.Encode({c.text}, ParamsOf(c));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return -1.0;
    const EncodedText& e = (*r)[0];
    EXPECT_EQ(e.ids, c.ids) << c.id;
    EXPECT_EQ(e.num_tokens, c.rows) << c.id;
    if (e.num_tokens != c.rows) return -1.0;
    for (int t = 0; t < c.rows; ++t) {
      double dot = 0, na = 0, nb = 0;
      for (int d = 0; d < c.dim; ++d) {
        const double x = e.vectors[static_cast<size_t>(t) * c.dim + d];
        const double y = c.embeddings[static_cast<size_t>(t) * c.dim + d];
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
      worst = std::min(worst, dot / std::sqrt(na * nb));
    }
    ++*checked;
  }
  return worst;
}

// bf16 (oneDNN where the CPU has native bf16, else the emulation with the same rounding).
TEST_P(GoldenEncoderTest, BFloat16StaysWithinCosineTolerance) {
  EncoderOptions options;
  options.precision = encoder::Precision::kBFloat16;
  options.emulate_bf16_if_unsupported = true;
  auto enc = LoadEncoder(options);
  ASSERT_NE(enc, nullptr);
  ASSERT_EQ(enc->info().precision, encoder::Precision::kBFloat16);
  int checked = 0;
  const double worst = WorstCosineOfUnpooledCases(*enc, cases_, &checked);
  std::cout << GetParam() << ": bf16 (" << enc->info().matmul_impl << ") worst per-token cosine "
            << "vs PyLate fp32 over " << checked << " cases: " << worst << "\n";
  // The tiny ModernBERT checkpoint (64 wide, random) is ill-conditioned for bf16: rounding its
  // weights to bf16 with every product in fp32 already gives 0.9962 on the golden documents,
  // PyTorch's bf16 autocast 0.9936 (bench/encoder/bf16_floor.py); Tartan measures 0.9953-0.996.
  // On ModernBERT-base-wide layers the same code measures 0.99997 (model_backbone_test). The
  // target 0.999 applies to BERT here.
  EXPECT_GE(worst, GetParam() == "modernbert-colbert-tiny" ? 0.99 : 0.999);
}

// int8 (dynamic per-token u8 activations, per-channel s8 weights; oneDNN int8 on every x86
// CPU). Tolerances as measured here plus margin; README "Precision" states them.
TEST_P(GoldenEncoderTest, Int8StaysWithinCosineTolerance) {
  EncoderOptions options;
  options.precision = encoder::Precision::kInt8;
  auto enc = LoadEncoder(options);
  ASSERT_NE(enc, nullptr);
  ASSERT_EQ(enc->info().precision, encoder::Precision::kInt8);
  int checked = 0;
  const double worst = WorstCosineOfUnpooledCases(*enc, cases_, &checked);
  std::cout << GetParam() << ": int8 (" << enc->info().matmul_impl << ") worst per-token cosine "
            << "vs PyLate fp32 over " << checked << " cases: " << worst << "\n";
  // Measured with VNNI (8-bit activations): 0.9148 ModernBERT, 0.9975 BERT; 7-bit activations
  // (CPUs without VNNI): 0.876, 0.9945. The 64-wide random ModernBERT is ill-conditioned (bf16
  // gives 0.995 on it); on 384-wide layers int8 measures 0.9994 (model_backbone_test).
  const bool modernbert = GetParam() == "modernbert-colbert-tiny";
  if (encoder::Int8ActivationLevels() == 255) {
    EXPECT_GE(worst, modernbert ? 0.9 : 0.995);
  } else {
    EXPECT_GE(worst, modernbert ? 0.85 : 0.99);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenEncoderTest,
                         ::testing::Values("modernbert-colbert-tiny", "bert-colbert-tiny"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace tartan::golden
