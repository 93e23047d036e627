// services/indexer/lib/codec: bit packing, LUT decode against the scalar reference,
// Lloyd-Max buckets, the two-level assignment, and results independent of the thread count.
#include "services/indexer/lib/codec.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "common/half.h"
#include "services/indexer/lib/synthetic_corpus.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

using testing::RandomUnit;

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
  std::vector<uint32_t> fast(n), exact(n), fast_one_thread(n);
  codec->Assign(x.data(), n, fast.data());
  codec->AssignExactly(x.data(), n, exact.data());
  codec->Assign(x.data(), n, fast_one_thread.data(), /*threads=*/1);
  EXPECT_EQ(fast, fast_one_thread) << "the thread count must not change the assignment";
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

// k-means, assignment and encoding give the same bits for a seed whatever the thread count.
// Sized so that assignment is worth several threads (4 chunks of 2048 rows, ~0.5 GFLOP).
TEST(CodecTest, ThreadCountDoesNotChangeTheResult) {
  const int dim = 64, n = 8192;
  auto x = RandomUnit(n, dim, 21);
  std::vector<uint64_t> ids;
  std::vector<std::vector<uint32_t>> all_codes;
  std::vector<std::vector<uint8_t>> all_packed;
  for (int threads : {1, 4, 0}) {
    CodecTrainOptions o;
    o.nbits = 2;
    o.num_centroids = 512;
    o.threads = threads;
    auto codec = TrainCodec(x.data(), n, dim, o);
    ASSERT_TRUE(codec.ok()) << codec.status();
    ids.push_back(codec->id);
    std::vector<uint32_t> codes(n);
    std::vector<uint8_t> packed(size_t(n) * codec->packed_bytes());
    codec->Encode(x.data(), n, codes.data(), packed.data(), threads);
    all_codes.push_back(codes);
    all_packed.push_back(packed);
  }
  for (size_t t = 1; t < ids.size(); ++t) {
    EXPECT_EQ(ids[t], ids[0]) << "trained codec differs, run " << t;
    EXPECT_EQ(all_codes[t], all_codes[0]) << "run " << t;
    EXPECT_EQ(all_packed[t], all_packed[0]) << "run " << t;
  }
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
