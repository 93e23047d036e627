#include "services/indexer/lib/kernels.h"

#include <gtest/gtest.h>

#include <random>

#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/synthetic.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

using testing::NaiveMaxSim;
using testing::RandomUnit;

TEST(MaxSimTest, ScalarMatchesNaive) {
  for (int dim : {8, 96, 128}) {
    auto q = RandomUnit(7, dim, 1), d = RandomUnit(13, dim, 2);
    EXPECT_NEAR(kernels::MaxSimScalar(q.data(), 7, d.data(), 13, dim),
                NaiveMaxSim(q.data(), 7, d.data(), 13, dim), 1e-4);
  }
}

TEST(MaxSimTest, Avx2MatchesScalarIncludingTails) {
  if (!kernels::HasAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  for (int dim : {8, 13, 64, 96, 128, 130}) {
    for (int nd : {0, 1, 3, 4, 5, 31}) {
      auto q = RandomUnit(5, dim, dim), d = RandomUnit(std::max(nd, 1), dim, nd + 100);
      EXPECT_NEAR(kernels::MaxSimAvx2(q.data(), 5, d.data(), nd, dim),
                  kernels::MaxSimScalar(q.data(), 5, d.data(), nd, dim), 1e-4)
          << "dim=" << dim << " nd=" << nd;
    }
  }
}

TEST(MaxSimTest, PublicMaxSimDispatches) {
  auto q = RandomUnit(32, 128, 3), d = RandomUnit(100, 128, 4);
  EXPECT_NEAR(MaxSim(q.data(), 32, d.data(), 100, 128),
              NaiveMaxSim(q.data(), 32, d.data(), 100, 128), 1e-3);
}

TEST(MaxSimTest, BlockMatchesPerDocument) {
  const int dim = 64;
  std::vector<uint32_t> offsets = {0, 10, 10, 25, 26};  // includes an empty document
  auto d = RandomUnit(26, dim, 5), q = RandomUnit(9, dim, 6);
  std::vector<float> out(4), scratch;
  kernels::MaxSimBlock(q.data(), 9, d.data(), offsets.data(), 4, dim, out.data(), &scratch);
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(out[i],
                NaiveMaxSim(q.data(), 9, d.data() + offsets[i] * dim, offsets[i + 1] - offsets[i], dim),
                1e-4);
}

TEST(CodecTest, PackUnpackRoundTrip) {
  std::mt19937 rng(1);
  for (int nbits : {1, 2, 4}) {
    const int dim = 64;
    std::vector<uint8_t> buckets(dim), packed(dim * nbits / 8);
    for (auto& b : buckets) b = uint8_t(rng() % (1u << nbits));
    PackBuckets(buckets.data(), dim, nbits, packed.data());
    for (int d = 0; d < dim; ++d) ASSERT_EQ(UnpackBucket(packed.data(), d, nbits), buckets[d]);
  }
  // numpy.packbits order: dimension 0's least significant bit is the byte's top bit.
  std::vector<uint8_t> b = {1, 0, 0, 0, 0, 0, 0, 0}, p(2);
  PackBuckets(b.data(), 8, 2, p.data());
  EXPECT_EQ(p[0], 0x80);
}

TEST(CodecTest, LutDecodeMatchesScalarAndApproximates) {
  const int dim = 64, n = 2000;
  auto x = RandomUnit(n, dim, 9);
  double prev_err = 1e9;
  for (int nbits : {1, 2, 4}) {
    CodecTrainOptions o;
    o.nbits = nbits;
    o.num_centroids = 32;
    auto codec = TrainCodec(x.data(), n, dim, o);
    ASSERT_TRUE(codec.ok()) << codec.status();
    EXPECT_TRUE(codec->normalize);
    std::vector<uint32_t> codes(n);
    std::vector<uint8_t> packed(size_t(n) * codec->packed_bytes());
    codec->Encode(x.data(), n, codes.data(), packed.data());
    std::vector<float> a(size_t(n) * dim), b(size_t(n) * dim);
    codec->Decode(codes.data(), packed.data(), n, a.data());
    codec->DecodeScalar(codes.data(), packed.data(), n, b.data());
    double err = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_NEAR(a[i], b[i], 1e-5);
      err += (a[i] - x[i]) * (a[i] - x[i]);
    }
    err /= n;
    EXPECT_LT(err, prev_err) << "more bits must reconstruct better, nbits=" << nbits;
    prev_err = err;
  }
  EXPECT_LT(prev_err, 0.05);  // 4 bits: mean squared error per unit vector
}

// Lloyd-Max refinement must reconstruct the residuals better than the quantile buckets it
// starts from (same bits).
TEST(CodecTest, LloydMaxBucketsBeatQuantileBuckets) {
  const int dim = 64, n = 4000;
  auto x = RandomUnit(n, dim, 11);
  for (int nbits : {2, 4}) {
    double err[2];
    for (int lloyd : {0, 1}) {
      CodecTrainOptions o;
      o.nbits = nbits;
      o.num_centroids = 16;
      o.lloyd_iterations = lloyd ? 16 : 0;
      auto codec = TrainCodec(x.data(), n, dim, o);
      ASSERT_TRUE(codec.ok()) << codec.status();
      const int nopts = 1 << nbits;
      for (int d = 0; d < dim; ++d) {
        const float* cut = codec->bucket_cutoffs.data() + size_t(d) * (nopts - 1);
        for (int j = 0; j + 1 < nopts - 1; ++j) ASSERT_LE(cut[j], cut[j + 1]);
      }
      std::vector<uint32_t> codes(n);
      std::vector<uint8_t> packed(size_t(n) * codec->packed_bytes());
      codec->Encode(x.data(), n, codes.data(), packed.data());
      std::vector<float> y(size_t(n) * dim);
      codec->Decode(codes.data(), packed.data(), n, y.data());
      err[lloyd] = 0;
      for (size_t i = 0; i < y.size(); ++i) err[lloyd] += (y[i] - x[i]) * (y[i] - x[i]);
    }
    EXPECT_LT(err[1], 0.95 * err[0]) << "nbits=" << nbits;
  }
}

// With many centroids, Assign searches two levels (group means, then the best groups'
// members). It must find the exact nearest centroid for nearly every row of clustered data,
// and lose almost nothing in similarity where it does not.
TEST(CodecTest, TwoLevelAssignmentNearlyMatchesExact) {
  SyntheticOptions so;
  so.dim = 64;
  so.num_docs = 400;
  so.num_topics = 40;
  SyntheticCorpus corpus(so);
  std::vector<float> x;
  for (int i = 0; i < so.num_docs; ++i) {
    Document d = corpus.MakeDocument(i);
    x.insert(x.end(), d.vectors.begin(), d.vectors.end());
  }
  const size_t n = x.size() / so.dim;
  CodecTrainOptions o;
  o.nbits = 2;
  o.num_centroids = 4096;
  o.sample_per_centroid = 8;
  o.iterations = 2;
  auto codec = TrainCodec(x.data(), n, so.dim, o);
  ASSERT_TRUE(codec.ok()) << codec.status();
  ASSERT_EQ(codec->num_centroids, 4096);
  ASSERT_GE(n, 4096u);
  std::vector<uint32_t> fast(n), exact(n);
  codec->Assign(x.data(), n, fast.data());
  codec->AssignExactly(x.data(), n, exact.data());
  size_t same = 0;
  double loss = 0, total = 0;
  for (size_t r = 0; r < n; ++r) {
    same += fast[r] == exact[r];
    auto dot = [&](uint32_t c) {
      double s = 0;
      for (int d = 0; d < so.dim; ++d)
        s += x[r * so.dim + d] * codec->centroids[size_t(c) * so.dim + d];
      return s;
    };
    const double e = dot(exact[r]), f = dot(fast[r]);
    ASSERT_LE(f, e + 1e-5) << "the exact search must be at least as close, row " << r;
    loss += e - f;
    total += e;
  }
  EXPECT_GE(double(same) / double(n), 0.95) << loss / total;
  EXPECT_LT(loss / total, 0.005);
}

TEST(CodecTest, HalfPrecisionRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    ASSERT_EQ(FloatToHalf(HalfToFloat(uint16_t(h))), h) << h;
  }
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f)), 1.0f);
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 4096), FloatToHalf(1.0f));  // ties to even
  EXPECT_EQ(HalfToFloat(FloatToHalf(-0.333333f)), -0.333251953125f);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);  // overflow -> inf
}

TEST(CodecTest, RejectsBadArguments) {
  auto x = RandomUnit(10, 12, 1);
  CodecTrainOptions o;
  EXPECT_FALSE(TrainCodec(x.data(), 10, 12, o).ok());  // dim not a multiple of 8
  o.nbits = 3;
  EXPECT_FALSE(TrainCodec(x.data(), 10, 16, o).ok());
}

}  // namespace
}  // namespace tartan::index
