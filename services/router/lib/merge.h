// Merging per-shard top-k lists into one global top-k (no gRPC).
#pragma once

#include <string>
#include <vector>

namespace tartan::router {

struct ScoredHit {
  std::string id;
  float score = 0;
  int shard = 0;  // index of the shard that returned it
};

// Best first: higher score, then smaller id (a total order, so the result does not depend on
// shard order). Each input list may be in any order; duplicates of an id keep the best.
// Cost: O(total log k).
std::vector<ScoredHit> MergeTopK(const std::vector<std::vector<ScoredHit>>& per_shard, int k);

// The same ordering, for sorting a single list (used by Rerank).
bool BetterHit(const ScoredHit& a, const ScoredHit& b);

}  // namespace tartan::router
