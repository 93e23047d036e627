#include "services/indexer/lib/synthetic_corpus.h"

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"

namespace tartan::index {
namespace {

void Normalize(float* x, int dim) {
  double s = 0;
  for (int k = 0; k < dim; ++k) s += double(x[k]) * x[k];
  const float inv = s > 0 ? float(1.0 / std::sqrt(s)) : 0.f;
  for (int k = 0; k < dim; ++k) x[k] *= inv;
}

// Adds noise with expected norm `scale` (gaussian / sqrt(dim) per coordinate).
void AddNoise(float* x, int dim, float scale, std::mt19937_64* rng) {
  std::normal_distribution<float> n(0.f, scale / std::sqrt(float(dim)));
  for (int k = 0; k < dim; ++k) x[k] += n(*rng);
}

}  // namespace

SyntheticCorpus::SyntheticCorpus(const SyntheticOptions& o) : opts_(o) {
  std::mt19937_64 rng(o.seed);
  const int dim = o.dim;
  std::vector<float> topic(dim);
  clusters_.resize(size_t(o.num_topics) * o.clusters_per_topic * dim);
  for (int t = 0; t < o.num_topics; ++t) {
    std::fill(topic.begin(), topic.end(), 0.f);
    AddNoise(topic.data(), dim, 1.f, &rng);
    Normalize(topic.data(), dim);
    for (int c = 0; c < o.clusters_per_topic; ++c) {
      float* x = clusters_.data() + (size_t(t) * o.clusters_per_topic + c) * dim;
      std::copy(topic.begin(), topic.end(), x);
      AddNoise(x, dim, o.cluster_spread * 2.f, &rng);
      Normalize(x, dim);
    }
  }
}

Document SyntheticCorpus::MakeDocument(int i) const {
  const SyntheticOptions& o = opts_;
  std::mt19937_64 rng(o.seed * 1000003ull + uint64_t(i) * 7919ull + 17);
  Document d;
  d.id = absl::StrCat("doc", i);
  d.num_tokens = o.min_tokens + int(rng() % uint64_t(o.max_tokens - o.min_tokens + 1));
  const int ntopics = 1 + int(rng() % uint64_t(o.topics_per_doc));
  std::vector<int> topics(ntopics);
  for (int& t : topics) t = int(rng() % uint64_t(o.num_topics));
  d.vectors.resize(size_t(d.num_tokens) * o.dim);
  for (int t = 0; t < d.num_tokens; ++t) {
    const int topic = topics[rng() % uint64_t(ntopics)];
    const int cluster = topic * o.clusters_per_topic + int(rng() % uint64_t(o.clusters_per_topic));
    float* x = d.vectors.data() + size_t(t) * o.dim;
    std::copy_n(clusters_.data() + size_t(cluster) * o.dim, o.dim, x);
    AddNoise(x, o.dim, o.token_noise * 2.f, &rng);
    Normalize(x, o.dim);
  }
  d.metadata["topic"] = absl::StrCat(topics[0]);
  d.metadata["parity"] = i % 2 ? "odd" : "even";
  d.metadata["bucket"] = absl::StrCat(i % 10);
  return d;
}

std::vector<float> SyntheticCorpus::MakeQuery(int positive, uint64_t query_seed) const {
  const Document d = MakeDocument(positive);
  std::mt19937_64 rng(query_seed * 31 + uint64_t(positive));
  std::vector<float> q(size_t(opts_.query_tokens) * opts_.dim);
  for (int i = 0; i < opts_.query_tokens; ++i) {
    const int t = int(rng() % uint64_t(d.num_tokens));
    float* x = q.data() + size_t(i) * opts_.dim;
    std::copy_n(d.vectors.data() + size_t(t) * opts_.dim, opts_.dim, x);
    AddNoise(x, opts_.dim, opts_.query_noise * 2.f, &rng);
    Normalize(x, opts_.dim);
  }
  return q;
}

}  // namespace tartan::index
