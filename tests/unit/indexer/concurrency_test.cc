// Concurrent search + upsert + delete + flush/compaction stay correct: documents nobody
// writes are always found with their exact score, churned documents never appear twice,
// and the final state equals a sequential model.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "services/indexer/lib/shard.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

constexpr int kDim = 32;

TEST(ConcurrencyTest, SearchUpsertDeleteCompactionTogether) {
  ShardOptions o;
  o.data_dir = testing::TempDir("concurrent");
  o.dim = kDim;
  o.flush_threshold_tokens = 600;
  o.compaction_max_segments = 3;
  o.background_compaction = true;
  o.group_commit_ms = 1;
  o.kmeans_iterations = 3;
  o.retrain_growth_factor = 1e9;  // re-encoding would change the stable docs' vectors
  auto shard_or = Shard::Open(o);
  ASSERT_TRUE(shard_or.ok());
  Shard& shard = **shard_or;
  // Stable documents: written once, never touched again.
  std::vector<Document> stable;
  for (int i = 0; i < 50; ++i)
    stable.push_back(testing::RandomDoc("s" + std::to_string(i), 6, kDim, i));
  ASSERT_TRUE(shard.Upsert(stable).ok());
  ASSERT_TRUE(shard.Flush().ok());
  std::vector<std::string> stable_ids;
  for (auto& d : stable) stable_ids.push_back(d.id);
  auto decoded = *shard.Get(stable_ids);

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::map<std::string, bool> model;  // churn id -> present (writer thread only)
  std::thread writer([&] {
    std::mt19937_64 rng(1);
    for (int n = 0; n < 1500; ++n) {
      const std::string id = "c" + std::to_string(rng() % 200);
      if (rng() % 4 == 0) {
        if (!shard.Delete({id}).ok()) ++failures;
        model[id] = false;
      } else {
        if (!shard.Upsert({testing::RandomDoc(id, 1 + int(rng() % 8), kDim, rng())}).ok())
          ++failures;
        model[id] = true;
      }
    }
    stop = true;
  });
  std::thread compactor([&] {
    while (!stop) {
      if (!shard.Compact().ok()) ++failures;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      while (!stop) {
        const int s = int(rng() % stable.size());
        SearchParams p;
        p.k = 5;
        p.id_subset = {stable_ids[s], "c1", "c2"};
        p.exact = rng() % 2;
        auto hits = shard.Search(stable[s].vectors.data(), 6, p);
        if (!hits.ok()) {
          ++failures;
          continue;
        }
        bool found = false;
        std::set<std::string> seen;
        for (const Hit& h : *hits) {
          if (!seen.insert(h.id).second) ++failures;
          if (h.id == stable_ids[s]) {
            found = true;
            const auto& d = *decoded[s];
            const double want = testing::NaiveMaxSim(stable[s].vectors.data(), 6, d.vectors.data(),
                                                     d.num_tokens, kDim);
            if (std::abs(h.score - want) > 1e-3) ++failures;
          }
        }
        if (!found) ++failures;
      }
    });
  }
  writer.join();
  compactor.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(shard.Flush().ok());
  ASSERT_TRUE(shard.Compact().ok());
  size_t present = 0;
  std::vector<std::string> ids;
  for (auto& [id, p] : model) ids.push_back(id), present += p;
  auto got = *shard.Get(ids);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(got[i].has_value(), model[ids[i]]) << ids[i];
  EXPECT_EQ(shard.Stats().documents, present + stable.size());
  EXPECT_EQ(shard.Stats().segments, 1u);
}

}  // namespace
}  // namespace tartan::index
