#include "services/indexer/lib/synthetic_corpus.h"

#include <algorithm>
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

// Cumulative weights 1/(r+1)^exponent for r = 0..n-1, normalised so the last is 1.
std::vector<double> ZipfCdf(int n, double exponent) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (int r = 0; r < n; ++r) cdf[r] = sum += 1.0 / std::pow(r + 1.0, exponent);
  for (double& c : cdf) c /= sum;
  return cdf;
}

// A rank drawn from `cdf` (53 random bits, the same on every platform).
int SampleRank(const std::vector<double>& cdf, std::mt19937_64* rng) {
  const double u = double((*rng)() >> 11) * 0x1.0p-53;
  const auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
  return std::min(int(it - cdf.begin()), int(cdf.size()) - 1);
}

// Writes normalize(base + noise) to x, noise of expected norm `noise`.
void NoisyCopy(const float* base, int dim, float noise, std::mt19937_64* rng, float* x) {
  std::copy_n(base, dim, x);
  AddNoise(x, dim, noise, rng);
  Normalize(x, dim);
}

// num_topics random unit topic directions, each with clusters_per_topic noisy copies (noise
// of expected norm `spread`); returns the clusters, topic-major: [topics * clusters, dim].
std::vector<float> TopicClusters(int num_topics, int clusters_per_topic, int dim, float spread,
                                 std::mt19937_64* rng) {
  std::vector<float> topic(dim);
  std::vector<float> clusters(size_t(num_topics) * clusters_per_topic * dim);
  for (int t = 0; t < num_topics; ++t) {
    std::fill(topic.begin(), topic.end(), 0.f);
    AddNoise(topic.data(), dim, 1.f, rng);
    Normalize(topic.data(), dim);
    for (int c = 0; c < clusters_per_topic; ++c) {
      NoisyCopy(topic.data(), dim, spread, rng,
                clusters.data() + (size_t(t) * clusters_per_topic + c) * dim);
    }
  }
  return clusters;
}

// A query of `tokens` noisy copies of random tokens of `d` (noise of expected norm `noise`).
std::vector<float> QueryFrom(const Document& d, int tokens, int dim, float noise,
                             std::mt19937_64* rng) {
  std::vector<float> q(size_t(tokens) * dim);
  for (int i = 0; i < tokens; ++i) {
    const int t = int((*rng)() % uint64_t(d.num_tokens));
    NoisyCopy(d.vectors.data() + size_t(t) * dim, dim, noise, rng, q.data() + size_t(i) * dim);
  }
  return q;
}

void SetMetadata(int i, int topic, Document* d) {
  d->metadata["topic"] = absl::StrCat(topic);
  d->metadata["parity"] = i % 2 ? "odd" : "even";
  d->metadata["bucket"] = absl::StrCat(i % 10);
}

}  // namespace

SyntheticCorpus::SyntheticCorpus(const SyntheticOptions& o) : opts_(o) {
  std::mt19937_64 rng(o.seed);
  clusters_ =
      TopicClusters(o.num_topics, o.clusters_per_topic, o.dim, o.cluster_spread * 2.f, &rng);
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
    NoisyCopy(clusters_.data() + size_t(cluster) * o.dim, o.dim, o.token_noise * 2.f, &rng,
              d.vectors.data() + size_t(t) * o.dim);
  }
  SetMetadata(i, topics[0], &d);
  return d;
}

std::vector<float> SyntheticCorpus::MakeQuery(int positive, uint64_t query_seed) const {
  std::mt19937_64 rng(query_seed * 31 + uint64_t(positive));
  return QueryFrom(MakeDocument(positive), opts_.query_tokens, opts_.dim, opts_.query_noise * 2.f,
                   &rng);
}

SkewedSyntheticCorpus::SkewedSyntheticCorpus(const SkewedSyntheticOptions& o)
    : opts_(o),
      topic_cdf_(ZipfCdf(o.num_topics, o.topic_zipf)),
      cluster_cdf_(ZipfCdf(o.clusters_per_topic, o.cluster_zipf)),
      stopword_cdf_(ZipfCdf(std::max(o.num_stopwords, 1), o.stopword_zipf)) {
  std::mt19937_64 rng(o.seed ^ 0x5eedc0ffee5eedull);
  const int dim = o.dim;
  clusters_ = TopicClusters(o.num_topics, o.clusters_per_topic, dim, o.cluster_spread * 2.f, &rng);
  stopwords_.assign(size_t(o.num_stopwords) * dim, 0.f);
  for (int s = 0; s < o.num_stopwords; ++s) {
    float* x = stopwords_.data() + size_t(s) * dim;
    AddNoise(x, dim, 1.f, &rng);
    Normalize(x, dim);
  }
}

Document SkewedSyntheticCorpus::MakeDocument(int i) const {
  const SkewedSyntheticOptions& o = opts_;
  std::mt19937_64 rng(o.seed * 1000033ull + uint64_t(i) * 7927ull + 29);
  Document d;
  d.id = absl::StrCat("doc", i);
  d.num_tokens = o.min_tokens + int(rng() % uint64_t(o.max_tokens - o.min_tokens + 1));
  const int ntopics = 1 + int(rng() % uint64_t(o.topics_per_doc));
  std::vector<int> topics(ntopics);
  for (int& t : topics) t = SampleRank(topic_cdf_, &rng);
  // A fixed share of stop words per document (rounded), at random positions.
  const int num_stop =
      o.num_stopwords > 0 ? int(std::lround(double(o.stopword_fraction) * d.num_tokens)) : 0;
  std::vector<bool> is_stop(d.num_tokens, false);
  std::fill_n(is_stop.begin(), num_stop, true);
  std::shuffle(is_stop.begin(), is_stop.end(), rng);
  d.vectors.resize(size_t(d.num_tokens) * o.dim);
  for (int t = 0; t < d.num_tokens; ++t) {
    float* x = d.vectors.data() + size_t(t) * o.dim;
    if (is_stop[t]) {
      NoisyCopy(stopword(SampleRank(stopword_cdf_, &rng)), o.dim, o.stopword_noise * 2.f, &rng, x);
      continue;
    }
    const int topic = topics[rng() % uint64_t(ntopics)];
    const int cluster = topic * o.clusters_per_topic + SampleRank(cluster_cdf_, &rng);
    NoisyCopy(clusters_.data() + size_t(cluster) * o.dim, o.dim, o.token_noise * 2.f, &rng, x);
  }
  SetMetadata(i, topics[0], &d);
  return d;
}

std::vector<float> SkewedSyntheticCorpus::MakeQuery(int positive, uint64_t query_seed) const {
  std::mt19937_64 rng(query_seed * 37 + uint64_t(positive));
  return QueryFrom(MakeDocument(positive), opts_.query_tokens, opts_.dim, opts_.query_noise * 2.f,
                   &rng);
}

}  // namespace tartan::index
