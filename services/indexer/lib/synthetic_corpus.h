// Structured synthetic ColBERT-like corpus for tests and benchmarks: topics are directions
// on the unit sphere, each topic owns token clusters around it, documents mix a few topics
// with varying length, and each query is derived from one document (noisy copies of some of
// its tokens), so its positive is known.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "services/indexer/lib/shard_types.h"

namespace tartan::index {

struct SyntheticOptions {
  int dim = 128;
  int num_docs = 1000;
  int min_tokens = 60, max_tokens = 140;  // document length, uniform
  int num_topics = 200;
  int clusters_per_topic = 64;
  int topics_per_doc = 3;        // 1..this many
  float cluster_spread = 0.55f;  // cluster centre = normalize(topic + spread * noise)
  float token_noise = 0.35f;     // token = normalize(cluster + noise * gaussian/sqrt(dim)*...)
  int query_tokens = 32;
  float query_noise = 0.3f;
  uint64_t seed = 42;
};

class SyntheticCorpus {
 public:
  explicit SyntheticCorpus(const SyntheticOptions& options);
  // Document i (deterministic in seed and i). id = "doc<i>".
  Document MakeDocument(int i) const;
  // A query [query_tokens, dim] derived from document `positive`.
  std::vector<float> MakeQuery(int positive, uint64_t query_seed) const;
  const SyntheticOptions& options() const { return opts_; }

 private:
  SyntheticOptions opts_;
  std::vector<float> clusters_;  // [num_topics * clusters_per_topic, dim], unit norm
};

}  // namespace tartan::index
