// Residual lookup tables (residual_lut.h): a query token's score with a compressed token,
// from table lookups on its packed residual, equals the dot product with the decoded token
// (the codec does not renormalise these non-unit vectors), for every nbits.
#include "services/indexer/lib/residual_lut.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "services/indexer/lib/segment_file.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

constexpr int kDim = 32, kDocs = 60, kNq = 5;

class ResidualLutTest : public ::testing::TestWithParam<int> {  // nbits
 protected:
  void SetUp() override {
    // Not unit norm, so the codec does not renormalise on decode and q . (c + r) is exactly
    // the dot product with the decoded vector.
    std::mt19937 rng(7);
    std::normal_distribution<float> g(0.f, 1.f);
    SegmentData data;
    data.doc_offsets.push_back(0);
    std::vector<float> x;
    for (int d = 0; d < kDocs; ++d) {
      const int n = 3 + d % 7;
      for (int t = 0; t < n * kDim; ++t) x.push_back(g(rng));
      data.ids.push_back("d" + std::to_string(d));
      data.doc_offsets.push_back(data.doc_offsets.back() + n);
    }
    const size_t ntok = data.doc_offsets.back();
    CodecTrainOptions t;
    t.nbits = GetParam();
    t.num_centroids = 16;
    auto codec = TrainCodec(x.data(), ntok, kDim, t);
    ASSERT_TRUE(codec.ok()) << codec.status();
    ASSERT_FALSE(codec->normalize);
    data.codes.resize(ntok);
    data.residuals.resize(ntok * codec->packed_bytes());
    codec->Encode(x.data(), ntok, data.codes.data(), data.residuals.data());
    const std::string path = testing::TempDir("residual_lut") + "/s.tseg";
    ASSERT_TRUE(WriteSegment(path, *codec, data).ok());
    auto file = SegmentFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = *file;
    for (int i = 0; i < kNq * kDim; ++i) q_.push_back(g(rng));
  }

  // Centroid scores and lookup tables of the query (no probing needed here).
  CentroidScores Scores() const {
    const Codec& codec = *file_->codec();
    CentroidScores cs;
    cs.codec = &codec;
    cs.nq = kNq;
    const int nc = codec.num_centroids;
    cs.st.resize(size_t(nc) * kNq);
    for (int c = 0; c < nc; ++c)
      for (int i = 0; i < kNq; ++i) {
        float s = 0;
        for (int k = 0; k < kDim; ++k) s += codec.centroids[c * kDim + k] * q_[i * kDim + k];
        cs.st[c * kNq + i] = s;
      }
    BuildResidualLuts(codec, q_.data(), kNq, &cs.residual_lut);
    return cs;
  }

  std::shared_ptr<SegmentFile> file_;
  std::vector<float> q_;
};

TEST_P(ResidualLutTest, TableScoresEqualDotProductsWithDecodedTokens) {
  const CentroidScores cs = Scores();
  std::vector<float> dec(kDim);
  double worst = 0;
  for (uint64_t t = 0; t < file_->num_tokens(); ++t) {
    const uint32_t c = file_->code(t);
    file_->codec()->Decode(&c, file_->residual(t), 1, dec.data());
    for (int i = 0; i < kNq; ++i) {
      double want = 0;
      for (int k = 0; k < kDim; ++k) want += double(dec[k]) * q_[i * kDim + k];
      const double got = ProbedTokenScore(cs, i, c, file_->residual(t));
      worst = std::max(worst, std::abs(got - want));
    }
  }
  EXPECT_LT(worst, 1e-3) << "token score off the decoded dot product";
}

INSTANTIATE_TEST_SUITE_P(Nbits, ResidualLutTest, ::testing::Values(1, 2, 4));

}  // namespace
}  // namespace tartan::index
