#include "services/router/lib/merge.h"

#include <random>

#include "gtest/gtest.h"

namespace tartan::router {
namespace {

TEST(MergeTopKTest, EqualsTopKOfTheUnion) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> score(0, 10);
  for (int trial = 0; trial < 50; ++trial) {
    const int shards = 1 + trial % 5;
    std::vector<std::vector<ScoredHit>> lists(shards);
    std::vector<ScoredHit> all;
    for (int s = 0; s < shards; ++s) {
      for (int i = 0; i < 20; ++i) {
        // Coarse scores force ties, which must break by id.
        ScoredHit hit{"d" + std::to_string(s) + "_" + std::to_string(i),
                      static_cast<float>(static_cast<int>(score(rng))), s};
        lists[s].push_back(hit);
        all.push_back(hit);
      }
    }
    const int k = 1 + trial % 30;
    std::sort(all.begin(), all.end(), BetterHit);
    all.resize(std::min<size_t>(k, all.size()));
    const auto merged = MergeTopK(lists, k);
    ASSERT_EQ(merged.size(), all.size());
    for (size_t i = 0; i < merged.size(); ++i) {
      EXPECT_EQ(merged[i].id, all[i].id);
      EXPECT_EQ(merged[i].score, all[i].score);
    }
  }
}

TEST(MergeTopKTest, DuplicateIdKeepsBestScore) {
  const auto merged = MergeTopK({{{"a", 1.0f, 0}, {"b", 3.0f, 0}}, {{"a", 5.0f, 1}}}, 10);
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].id, "a");
  EXPECT_EQ(merged[0].score, 5.0f);
  EXPECT_EQ(merged[0].shard, 1);
  EXPECT_EQ(merged[1].id, "b");
}

TEST(MergeTopKTest, NonPositiveKIsEmpty) { EXPECT_TRUE(MergeTopK({{{"a", 1.0f, 0}}}, 0).empty()); }

}  // namespace
}  // namespace tartan::router
