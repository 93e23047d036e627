// The skewed synthetic generator: deterministic, well-formed, skewed as configured (stop-word
// share per document, Zipf-ranked stop words and topics), and its queries find their positive.
#include "services/indexer/lib/synthetic_corpus.h"

#include <cmath>
#include <map>

#include "gtest/gtest.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

float Dot(const float* a, const float* b, int dim) {
  float s = 0;
  for (int k = 0; k < dim; ++k) s += a[k] * b[k];
  return s;
}

// The stop word token t sits on (dot > 0.8; stop-word tokens are ~0.95 from their direction,
// other tokens ~0 in expectation), or -1.
int StopwordOf(const SkewedSyntheticCorpus& corpus, const float* x) {
  for (int s = 0; s < corpus.options().num_stopwords; ++s) {
    if (Dot(corpus.stopword(s), x, corpus.options().dim) > 0.8f) return s;
  }
  return -1;
}

SkewedSyntheticOptions SmallOptions() {
  SkewedSyntheticOptions o;
  o.dim = 64;
  o.num_docs = 300;
  o.num_topics = 50;
  o.clusters_per_topic = 16;
  o.min_tokens = 20;
  o.max_tokens = 60;
  o.query_tokens = 16;
  return o;
}

TEST(SkewedSyntheticCorpusTest, DeterministicInSeedAndIndex) {
  const SkewedSyntheticOptions o = SmallOptions();
  const SkewedSyntheticCorpus a(o), b(o);
  EXPECT_EQ(a.MakeDocument(7).vectors, b.MakeDocument(7).vectors);
  EXPECT_EQ(a.MakeQuery(7, 3), b.MakeQuery(7, 3));
  EXPECT_NE(a.MakeDocument(7).vectors, a.MakeDocument(8).vectors);
  EXPECT_NE(a.MakeQuery(7, 3), a.MakeQuery(7, 4));
  SkewedSyntheticOptions other = o;
  other.seed = o.seed + 1;
  EXPECT_NE(SkewedSyntheticCorpus(other).MakeDocument(7).vectors, a.MakeDocument(7).vectors);
}

TEST(SkewedSyntheticCorpusTest, DocumentsAreWellFormed) {
  const SkewedSyntheticOptions o = SmallOptions();
  const SkewedSyntheticCorpus corpus(o);
  for (int i = 0; i < 50; ++i) {
    const Document d = corpus.MakeDocument(i);
    EXPECT_EQ(d.id, "doc" + std::to_string(i));
    ASSERT_GE(d.num_tokens, o.min_tokens);
    ASSERT_LE(d.num_tokens, o.max_tokens);
    ASSERT_EQ(d.vectors.size(), size_t(d.num_tokens) * o.dim);
    for (int t = 0; t < d.num_tokens; ++t) {
      const float* x = d.vectors.data() + size_t(t) * o.dim;
      EXPECT_NEAR(Dot(x, x, o.dim), 1.f, 1e-4f);
    }
    EXPECT_TRUE(d.metadata.contains("topic"));
    EXPECT_EQ(d.metadata.at("parity"), i % 2 ? "odd" : "even");
  }
  const std::vector<float> q = corpus.MakeQuery(3, 1);
  ASSERT_EQ(q.size(), size_t(o.query_tokens) * o.dim);
  for (int t = 0; t < o.query_tokens; ++t) {
    EXPECT_NEAR(Dot(q.data() + size_t(t) * o.dim, q.data() + size_t(t) * o.dim, o.dim), 1.f, 1e-4f);
  }
}

TEST(SkewedSyntheticCorpusTest, StopWordsHoldTheirShareWithZipfRanks) {
  const SkewedSyntheticOptions o = SmallOptions();
  const SkewedSyntheticCorpus corpus(o);
  std::vector<int> per_stopword(o.num_stopwords, 0);
  for (int i = 0; i < o.num_docs; ++i) {
    const Document d = corpus.MakeDocument(i);
    int stop = 0;
    for (int t = 0; t < d.num_tokens; ++t) {
      const int s = StopwordOf(corpus, d.vectors.data() + size_t(t) * o.dim);
      if (s >= 0) ++per_stopword[s], ++stop;
    }
    EXPECT_EQ(stop, std::lround(o.stopword_fraction * d.num_tokens)) << d.id;
  }
  // Zipf exponent 1 over 8 ranks: rank 0 expects 8x the draws of rank 7.
  EXPECT_GT(per_stopword[0], 4 * per_stopword[o.num_stopwords - 1]);
  EXPECT_GT(per_stopword[0], per_stopword[1]);
}

TEST(SkewedSyntheticCorpusTest, TopicsFollowZipf) {
  const SkewedSyntheticOptions o = SmallOptions();
  const SkewedSyntheticCorpus corpus(o);
  std::map<std::string, int> docs_per_topic;
  for (int i = 0; i < o.num_docs; ++i)
    ++docs_per_topic[corpus.MakeDocument(i).metadata.at("topic")];
  // Rank 0 of 50 topics with exponent 1 is drawn with probability 1/H(50) = 0.22 (uniform:
  // 0.02, i.e. 6 of 300 documents).
  EXPECT_GT(docs_per_topic["0"], 40);
  EXPECT_GT(docs_per_topic["0"], 4 * docs_per_topic["10"]);
}

TEST(SkewedSyntheticCorpusTest, NoStopWordsWhenDisabled) {
  SkewedSyntheticOptions o = SmallOptions();
  o.stopword_fraction = 0.f;
  const SkewedSyntheticCorpus corpus(o);
  for (int i = 0; i < 20; ++i) {
    const Document d = corpus.MakeDocument(i);
    for (int t = 0; t < d.num_tokens; ++t) {
      EXPECT_EQ(StopwordOf(corpus, d.vectors.data() + size_t(t) * o.dim), -1);
    }
  }
}

TEST(SkewedSyntheticCorpusTest, QueriesFindTheirPositiveByExactMaxSim) {
  const SkewedSyntheticOptions o = SmallOptions();
  const SkewedSyntheticCorpus corpus(o);
  std::vector<Document> docs;
  for (int i = 0; i < o.num_docs; ++i) docs.push_back(corpus.MakeDocument(i));
  int top1 = 0;
  constexpr int kQueries = 30;
  for (int qi = 0; qi < kQueries; ++qi) {
    const int positive = qi * 7;
    const std::vector<float> q = corpus.MakeQuery(positive, 11);
    const std::vector<Hit> hits = testing::NaiveTopK(q.data(), o.query_tokens, docs, o.dim, 1);
    ASSERT_EQ(hits.size(), 1u);
    top1 += hits[0].id == docs[positive].id;
  }
  EXPECT_GE(top1, kQueries * 9 / 10);
}

}  // namespace
}  // namespace tartan::index
