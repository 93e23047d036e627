// The token-level first stage (warp_scorer.h) against a reference that decodes every token:
// with every centroid probed, a document's score is MaxSim on its decoded vectors; with one
// centroid probed per query token, each query token contributes its best token among the
// probed centroid's, or the estimate when the document has none there or its best is lower.
#include "services/indexer/lib/warp_scorer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

constexpr int kDim = 32, kDocs = 60, kNq = 5;

class WarpScorerTest : public ::testing::TestWithParam<int> {  // nbits
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
    const std::string path = testing::TempDir("warp_scorer") + "/s.tseg";
    ASSERT_TRUE(WriteSegment(path, *codec, data).ok());
    auto file = SegmentFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = *file;
    for (int i = 0; i < kNq * kDim; ++i) q_.push_back(g(rng));
  }

  // Centroid scores with each query token probing its nprobe best centroids.
  CentroidScores Scores(int nprobe) const {
    const Codec& codec = *file_->codec();
    CentroidScores cs;
    cs.codec = &codec;
    cs.nq = kNq;
    cs.nprobe = nprobe;
    const int nc = codec.num_centroids;
    cs.st.resize(size_t(nc) * kNq);
    for (int c = 0; c < nc; ++c)
      for (int i = 0; i < kNq; ++i) {
        float s = 0;
        for (int k = 0; k < kDim; ++k) s += codec.centroids[c * kDim + k] * q_[i * kDim + k];
        cs.st[c * kNq + i] = s;
      }
    for (int i = 0; i < kNq; ++i) {
      std::vector<uint32_t> order(nc);
      for (int c = 0; c < nc; ++c) order[c] = c;
      std::sort(order.begin(), order.end(),
                [&](uint32_t a, uint32_t b) { return cs.st[a * kNq + i] > cs.st[b * kNq + i]; });
      cs.probes.insert(cs.probes.end(), order.begin(), order.begin() + nprobe);
      cs.missing.push_back(cs.st[order[nprobe - 1] * kNq + i]);
    }
    BuildResidualLuts(codec, q_.data(), kNq, &cs.residual_lut);
    return cs;
  }

  // Reference: decode every token and apply the definition.
  std::map<uint32_t, double> Reference(const CentroidScores& cs) const {
    std::map<uint32_t, double> out;
    std::vector<float> dec(kDim);
    for (uint32_t d = 0; d < file_->num_docs(); ++d) {
      double total = 0;
      bool touched = false;
      for (int i = 0; i < kNq; ++i) {
        const uint32_t* probes = cs.probes.data() + i * cs.nprobe;
        double best = -1e30;
        for (uint64_t t = file_->doc_begin(d); t < file_->doc_begin(d) + file_->doc_len(d); ++t) {
          const uint32_t c = file_->code(t);
          if (std::find(probes, probes + cs.nprobe, c) == probes + cs.nprobe) continue;
          file_->codec()->Decode(&c, file_->residual(t), 1, dec.data());
          double s = 0;
          for (int k = 0; k < kDim; ++k) s += double(dec[k]) * q_[i * kDim + k];
          best = std::max(best, s);
        }
        touched |= best > -1e30;
        total += std::max(best, double(cs.missing[i]));
      }
      if (touched) out[d] = total;
    }
    return out;
  }

  std::shared_ptr<SegmentFile> file_;
  std::vector<float> q_;
};

TEST_P(WarpScorerTest, MatchesTheDefinitionForEveryProbeDepth) {
  const TokenIndex index(*file_);
  for (const int nprobe : {1, 3, 16}) {
    const CentroidScores cs = Scores(nprobe);
    ProbeScratch scratch;
    // Twice with the same scratch: stale per-document slots must not leak into the second.
    for (int round = 0; round < 2; ++round) {
      std::vector<SegmentHit> hits;
      WarpScoreSegment(cs, index, *file_, &scratch, &hits);
      const std::map<uint32_t, double> want = Reference(cs);
      ASSERT_EQ(hits.size(), want.size()) << "nprobe " << nprobe;
      for (const SegmentHit& h : hits) {
        ASSERT_TRUE(want.contains(h.local)) << h.local;
        EXPECT_NEAR(h.score, want.at(h.local), 1e-3) << "doc " << h.local << " nprobe " << nprobe;
      }
    }
    if (nprobe == 16) {
      EXPECT_EQ(Reference(cs).size(), size_t(kDocs));  // all probed: all found
    }
  }
}

TEST_P(WarpScorerTest, TokenIndexListsEveryTokenOnceUnderItsCentroid) {
  const TokenIndex index(*file_);
  std::vector<int> seen(file_->num_tokens(), 0);
  for (int c = 0; c < file_->codec()->num_centroids; ++c) {
    uint32_t last = 0;
    bool first = true;
    for (const TokenIndex::Entry& e : index.list(c)) {
      EXPECT_EQ(file_->code(e.token), uint32_t(c));
      EXPECT_GE(e.token, file_->doc_begin(e.doc));
      EXPECT_LT(e.token, file_->doc_begin(e.doc) + file_->doc_len(e.doc));
      if (!first) {
        EXPECT_GT(e.token, last);  // ascending, so grouped by document
      }
      last = e.token, first = false;
      ++seen[e.token];
    }
  }
  for (int n : seen) EXPECT_EQ(n, 1);
}

INSTANTIATE_TEST_SUITE_P(Nbits, WarpScorerTest, ::testing::Values(2, 4));

}  // namespace
}  // namespace tartan::index
