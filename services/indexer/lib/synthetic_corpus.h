// Synthetic ColBERT-like corpora for tests and benchmarks. Both generators share one shape:
// topics are directions on the unit sphere, each topic owns token clusters around it,
// documents mix a few topics with varying length, and each query is derived from one document
// (noisy copies of some of its tokens), so its positive is known.
//  - SyntheticCorpus: uniform choices (every topic and cluster equally likely).
//  - SkewedSyntheticCorpus: Zipf-distributed topics and clusters, plus a few "stop-word"
//    directions that a fixed share of every document's tokens sit on, so a few centroids hold
//    very many tokens, as with real token vectors (punctuation, [D], "the", "of").
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

struct SkewedSyntheticOptions {
  int dim = 128;
  int num_docs = 1000;
  int min_tokens = 60, max_tokens = 140;  // document length, uniform
  int num_topics = 200;
  int clusters_per_topic = 64;
  int topics_per_doc = 3;  // 1..this many
  // Zipf exponents: the topic (cluster, stop word) of rank r is drawn with weight 1/(r+1)^s.
  double topic_zipf = 1.0;
  double cluster_zipf = 1.0;
  double stopword_zipf = 1.0;
  int num_stopwords = 8;            // stop-word directions shared by every document
  float stopword_fraction = 0.25f;  // share of each document's tokens on a stop word
  float stopword_noise = 0.15f;     // stop-word tokens are tight: near-duplicates across docs
  float cluster_spread = 0.55f;     // as in SyntheticOptions
  float token_noise = 0.35f;
  int query_tokens = 32;
  float query_noise = 0.3f;
  uint64_t seed = 42;
};

class SkewedSyntheticCorpus {
 public:
  explicit SkewedSyntheticCorpus(const SkewedSyntheticOptions& options);
  // Document i (deterministic in seed and i). id = "doc<i>"; metadata as SyntheticCorpus.
  Document MakeDocument(int i) const;
  // A query [query_tokens, dim] derived from document `positive` (stop words included, in
  // the share the document has them).
  std::vector<float> MakeQuery(int positive, uint64_t query_seed) const;
  const SkewedSyntheticOptions& options() const { return opts_; }
  // Unit direction of stop word s (0..num_stopwords-1), for tests.
  const float* stopword(int s) const { return stopwords_.data() + size_t(s) * opts_.dim; }

 private:
  SkewedSyntheticOptions opts_;
  std::vector<float> clusters_;   // [num_topics * clusters_per_topic, dim], unit norm
  std::vector<float> stopwords_;  // [num_stopwords, dim], unit norm
  // Cumulative Zipf weights (last = 1) for topics, clusters within a topic, stop words.
  std::vector<double> topic_cdf_, cluster_cdf_, stopword_cdf_;
};

}  // namespace tartan::index
