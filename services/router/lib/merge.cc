#include "services/router/lib/merge.h"

#include <algorithm>
#include <queue>

#include "absl/container/flat_hash_map.h"

namespace tartan::router {

bool BetterHit(const ScoredHit& a, const ScoredHit& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.id < b.id;
}

std::vector<ScoredHit> MergeTopK(const std::vector<std::vector<ScoredHit>>& per_shard, int k) {
  if (k <= 0) return {};
  // An id normally lives on one shard; during a re-balance it may briefly be on two.
  absl::flat_hash_map<std::string, const ScoredHit*> best;
  for (const auto& list : per_shard) {
    for (const ScoredHit& hit : list) {
      auto [it, inserted] = best.try_emplace(hit.id, &hit);
      if (!inserted && BetterHit(hit, *it->second)) it->second = &hit;
    }
  }
  // Min-heap of the k best seen so far (worst on top).
  auto worse_on_top = [](const ScoredHit* a, const ScoredHit* b) { return BetterHit(*a, *b); };
  std::priority_queue<const ScoredHit*, std::vector<const ScoredHit*>, decltype(worse_on_top)> heap(
      worse_on_top);
  for (const auto& [id, hit] : best) {
    if (static_cast<int>(heap.size()) < k) {
      heap.push(hit);
    } else if (BetterHit(*hit, *heap.top())) {
      heap.pop();
      heap.push(hit);
    }
  }
  std::vector<ScoredHit> merged;
  merged.reserve(heap.size());
  while (!heap.empty()) {
    merged.push_back(*heap.top());
    heap.pop();
  }
  std::reverse(merged.begin(), merged.end());
  return merged;
}

}  // namespace tartan::router
