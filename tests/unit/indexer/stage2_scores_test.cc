// Stage 2's 8-bit centroid-score table (stage2_scores.h): quantisation and pruning, and the
// SIMD max-sum equal to the scalar reference and to the definition for query lengths around
// the kernel's 32-token blocks, u16 and u32 codes.
#include "services/indexer/lib/stage2_scores.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace tartan::index {
namespace {

TEST(Stage2ScoresTest, QuantisesNonNegativeScoresAndZeroesPrunedCentroids) {
  // 3 centroids x 2 query tokens; centroid 1's best score (0.2) is below the threshold 0.3.
  const std::vector<float> st = {0.8f, -0.5f, 0.2f, 0.1f, 0.3f, 0.6f};
  const std::vector<float> best = {0.8f, 0.2f, 0.6f};
  Stage2Table table;
  QuantizeStage2Table(st.data(), best.data(), 3, 2, 0.3f, &table);
  EXPECT_FLOAT_EQ(table.step, 0.8f / 255.f);
  ASSERT_EQ(table.scores.size(), 6 + kStage2RowPad);
  const std::vector<uint8_t> want = {255, 0, 0, 0, 96, 191};  // 95.6, 191.25 steps
  EXPECT_EQ(std::vector<uint8_t>(table.scores.begin(), table.scores.begin() + 6), want);
}

TEST(Stage2ScoresTest, SimdMaxSumEqualsTheDefinitionForEveryQueryLength) {
  std::mt19937 rng(11);
  for (const int nq : {1, 7, 31, 32, 33, 64, 100}) {
    constexpr int kCentroids = 300;
    std::vector<float> st(size_t(kCentroids) * nq), best(kCentroids, -1.f);
    std::uniform_real_distribution<float> u(-0.5f, 1.f);
    for (int c = 0; c < kCentroids; ++c)
      for (int i = 0; i < nq; ++i) {
        st[size_t(c) * nq + i] = u(rng);
        best[c] = std::max(best[c], st[size_t(c) * nq + i]);
      }
    Stage2Table table;
    QuantizeStage2Table(st.data(), best.data(), kCentroids, nq, 0.5f, &table);
    // Garbage in the padding must not reach the sums.
    std::fill(table.scores.end() - kStage2RowPad, table.scores.end(), uint8_t{255});
    for (const int n : {0, 1, 5, 40}) {
      std::vector<uint32_t> codes32(n);
      for (uint32_t& c : codes32) c = rng() % kCentroids;
      codes32.push_back(kCentroids - 1);  // the last row: its block reads into the padding
      const std::vector<uint16_t> codes16(codes32.begin(), codes32.end());
      uint32_t want = 0;
      for (int i = 0; i < nq; ++i) {
        uint8_t m = 0;
        for (const uint32_t c : codes32) m = std::max(m, table.scores[size_t(c) * nq + i]);
        want += m;
      }
      SCOPED_TRACE(testing::Message() << "nq " << nq << ", tokens " << codes32.size());
      EXPECT_EQ(Stage2MaxSumScalar(table, nq, codes32.data(), codes32.size()), want);
      EXPECT_EQ(Stage2MaxSum(table, nq, codes32.data(), codes32.size()), want);
      EXPECT_EQ(Stage2MaxSum(table, nq, codes16.data(), codes16.size()), want);
    }
    EXPECT_EQ(Stage2MaxSum(table, nq, static_cast<const uint32_t*>(nullptr), 0), 0u);
  }
}

}  // namespace
}  // namespace tartan::index
