#include "services/indexer/lib/shard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "services/indexer/lib/compaction_policy.h"
#include "services/indexer/lib/synthetic_corpus.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

using testing::NaiveTopK;
using testing::RandomDoc;
using testing::TempDir;

constexpr int kDim = 32;

ShardOptions Opts(const std::string& dir, int dim = kDim) {
  ShardOptions o;
  o.data_dir = dir;
  o.dim = dim;
  o.background_compaction = false;
  o.flush_threshold_tokens = 1u << 30;
  o.fsync = ShardOptions::Fsync::kAlways;
  return o;
}

std::vector<Document> Docs(int n, int first_seed = 0) {
  std::vector<Document> docs;
  for (int i = 0; i < n; ++i)
    docs.push_back(RandomDoc("d" + std::to_string(i), 3 + i % 9, kDim, first_seed + i));
  return docs;
}

void ExpectHitsNear(const std::vector<Hit>& got, const std::vector<Hit>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id) << "rank " << i;
    EXPECT_NEAR(got[i].score, want[i].score, 1e-3) << "rank " << i;
  }
}

// A 64-centroid codec trained on random vectors, as outside the shard (null on failure).
std::shared_ptr<const Codec> CodecTrainedElsewhere(uint64_t seed) {
  const std::vector<float> sample = testing::RandomUnit(3000, kDim, seed);
  CodecTrainOptions t;
  t.num_centroids = 64;
  auto codec = TrainCodec(sample.data(), 3000, kDim, t);
  EXPECT_TRUE(codec.ok()) << codec.status();
  return codec.ok() ? std::make_shared<const Codec>(*std::move(codec)) : nullptr;
}

TEST(ShardTest, ExactSearchOnMutableSegmentMatchesNaive) {
  auto shard = Shard::Open(Opts(TempDir("exact")));
  ASSERT_TRUE(shard.ok()) << shard.status();
  auto docs = Docs(60);
  ASSERT_TRUE((*shard)->Upsert(docs).ok());
  auto q = testing::RandomUnit(5, kDim, 999);
  SearchParams p;
  p.k = 7;
  for (bool exact : {true, false}) {
    p.exact = exact;
    auto hits = (*shard)->Search(q.data(), 5, p);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ExpectHitsNear(*hits, NaiveTopK(q.data(), 5, docs, kDim, 7));
  }
}

TEST(ShardTest, ExactSearchOnCompressedSegmentMatchesNaiveOnDecodedVectors) {
  auto shard = Shard::Open(Opts(TempDir("exact_seg")));
  ASSERT_TRUE(shard.ok());
  auto docs = Docs(80);
  ASSERT_TRUE((*shard)->Upsert(docs).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  EXPECT_EQ((*shard)->Stats().segments, 1u);
  EXPECT_EQ((*shard)->Stats().mutable_documents, 0u);
  std::vector<std::string> ids;
  for (auto& d : docs) ids.push_back(d.id);
  auto stored = (*shard)->Get(ids);
  ASSERT_TRUE(stored.ok());
  std::vector<Document> decoded;
  for (auto& d : *stored) {
    ASSERT_TRUE(d.has_value());
    decoded.push_back(*d);
  }
  auto q = testing::RandomUnit(4, kDim, 5);
  SearchParams p;
  p.k = 10;
  p.exact = true;
  auto hits = (*shard)->Search(q.data(), 4, p);
  ASSERT_TRUE(hits.ok());
  ExpectHitsNear(*hits, NaiveTopK(q.data(), 4, decoded, kDim, 10));
  // PLAID search with generous parameters finds the same documents with the same scores.
  p.exact = false;
  p.nprobe = 1000;
  p.n_rerank_exact = 1000;
  p.centroid_score_threshold = -10;
  auto approx = (*shard)->Search(q.data(), 4, p);
  ASSERT_TRUE(approx.ok());
  ExpectHitsNear(*approx, *hits);
}

// With the rerank store, exact search and the final stage score MaxSim on the vectors as
// written (to f16 rounding), through flush, restart, compaction and a codec retrain; without
// it they score the decompressed vectors, which differ.
TEST(ShardTest, TheRerankStoreGivesScoresOnTheVectorsAsWritten) {
  const std::string dir = TempDir("rerank_store");
  ShardOptions o = Opts(dir);
  o.rerank_store = true;
  o.retrain_growth_factor = 3;
  auto docs = Docs(200);
  auto q = testing::RandomUnit(4, kDim, 77);
  const auto want = NaiveTopK(q.data(), 4, docs, kDim, 10);
  SearchParams exact;
  exact.k = 10;
  exact.exact = true;
  SearchParams plaid;  // generous enough to find the true top 10
  plaid.k = 10;
  plaid.nprobe = 1000;
  plaid.n_rerank_exact = 1000;
  plaid.centroid_score_threshold = -10;
  {
    auto shard = Shard::Open(o);
    ASSERT_TRUE(shard.ok()) << shard.status();
    ASSERT_TRUE((*shard)->Upsert({docs.begin(), docs.begin() + 40}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
    ASSERT_TRUE((*shard)->Close().ok());
  }
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok()) << shard.status();
  ASSERT_TRUE((*shard)->Upsert({docs.begin() + 40, docs.end()}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());  // retrains: two segments under two codecs
  ASSERT_EQ((*shard)->Stats().segments, 2u);
  for (bool compacted : {false, true}) {
    if (compacted) ASSERT_TRUE((*shard)->Compact().ok());
    const ShardStats st = (*shard)->Stats();
    EXPECT_EQ(st.segments, compacted ? 1u : 2u);
    EXPECT_EQ(st.bytes_rerank_store, st.token_vectors * kDim * 2);
    for (const SearchParams& p : {exact, plaid}) {
      auto hits = (*shard)->Search(q.data(), 4, p);
      ASSERT_TRUE(hits.ok()) << hits.status();
      ExpectHitsNear(*hits, want);
    }
    auto got = (*shard)->Get({"d3", "d150"});
    ASSERT_TRUE(got.ok());
    for (int which = 0; which < 2; ++which) {
      const Document& orig = docs[which == 0 ? 3 : 150];
      ASSERT_EQ((*got)[which]->vectors.size(), orig.vectors.size());
      for (size_t i = 0; i < orig.vectors.size(); ++i)
        ASSERT_NEAR((*got)[which]->vectors[i], orig.vectors[i], 1e-3);
    }
  }
  // The same documents without the store: the exact scores are those of the decompressed
  // vectors, off by more than f16 rounding.
  auto plain = Shard::Open(Opts(TempDir("rerank_store_off")));
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE((*plain)->Upsert(docs).ok());
  ASSERT_TRUE((*plain)->Flush().ok());
  EXPECT_EQ((*plain)->Stats().bytes_rerank_store, 0u);
  auto hits = (*plain)->Search(q.data(), 4, exact);
  ASSERT_TRUE(hits.ok());
  float worst = 0;
  for (const Hit& h : *hits) {
    for (const Hit& w : NaiveTopK(q.data(), 4, docs, kDim, 200))
      if (w.id == h.id) worst = std::max(worst, std::abs(w.score - h.score));
  }
  EXPECT_GT(worst, 1e-2);
}

// Turning the store on for an index that has segments without one: new flushes keep it, and
// a merge with an older segment keeps none rather than passing decompressed rows for exact.
// The default depth of the exact stage (n_rerank_exact 0): every stage-2 survivor on a shard
// whose segments keep the rerank store (stage 3's ranking is skipped), 32 without the store.
TEST(ShardTest, TheDefaultExactDepthScoresEveryApproxSurvivorOnlyWithTheRerankStore) {
  auto docs = Docs(300);
  auto q = testing::RandomUnit(4, kDim, 21);
  for (const bool store : {true, false}) {
    ShardOptions o = Opts(TempDir(store ? "depth_store" : "depth_plain"));
    o.rerank_store = store;
    auto shard = Shard::Open(o);
    ASSERT_TRUE(shard.ok()) << shard.status();
    ASSERT_TRUE((*shard)->Upsert(docs).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
    SearchParams p;
    p.k = 10;
    p.nprobe = 1000;  // every document is a candidate
    p.n_candidates_approx = 100;
    SearchTrace trace;
    p.trace = &trace;
    ASSERT_TRUE((*shard)->Search(q.data(), 4, p).ok());
    EXPECT_EQ(trace.candidates, docs.size());
    EXPECT_EQ(trace.exact_scored, store ? 100u : 32u) << "store " << store;
  }
}

TEST(ShardTest, CompactionKeepsTheRerankStoreOnlyWhenEverySegmentHasOne) {
  const std::string dir = TempDir("rerank_store_mixed");
  auto docs = Docs(60);
  {
    auto shard = Shard::Open(Opts(dir));
    ASSERT_TRUE(shard.ok());
    ASSERT_TRUE((*shard)->Upsert({docs.begin(), docs.begin() + 30}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
    ASSERT_TRUE((*shard)->Close().ok());
  }
  ShardOptions o = Opts(dir);
  o.rerank_store = true;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok());
  ASSERT_TRUE((*shard)->Upsert({docs.begin() + 30, docs.end()}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  uint64_t new_tokens = 0;
  for (int i = 30; i < 60; ++i) new_tokens += uint64_t(docs[i].num_tokens);
  EXPECT_EQ((*shard)->Stats().bytes_rerank_store, new_tokens * kDim * 2);
  ASSERT_TRUE((*shard)->Compact().ok());
  EXPECT_EQ((*shard)->Stats().segments, 1u);
  EXPECT_EQ((*shard)->Stats().bytes_rerank_store, 0u);
  EXPECT_EQ((*shard)->Stats().documents, 60u);
}

TEST(ShardTest, UpsertReplacesAndDeleteRemoves) {
  auto shard = Shard::Open(Opts(TempDir("replace")));
  ASSERT_TRUE(shard.ok());
  ASSERT_TRUE((*shard)->Upsert(Docs(10)).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  // Replace d3 (now in a segment) and d4 twice (mutable).
  Document d3 = RandomDoc("d3", 4, kDim, 1234);
  ASSERT_TRUE((*shard)->Upsert({d3}).ok());
  ASSERT_TRUE((*shard)->Upsert({RandomDoc("d4", 5, kDim, 77)}).ok());
  Document d4 = RandomDoc("d4", 6, kDim, 78);
  ASSERT_TRUE((*shard)->Upsert({d4}).ok());
  EXPECT_EQ((*shard)->Stats().documents, 10u);
  auto got = (*shard)->Get({"d3", "d4", "nope"});
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE((*got)[0].has_value());
  EXPECT_EQ((*got)[0]->vectors, d3.vectors);  // mutable: stored exactly
  EXPECT_EQ((*got)[1]->num_tokens, 6);
  EXPECT_FALSE((*got)[2].has_value());
  // A query equal to d3's tokens finds d3 first, with its self-similarity.
  SearchParams p;
  p.k = 3;
  auto hits = (*shard)->Search(d3.vectors.data(), 4, p);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].id, "d3");
  EXPECT_NEAR((*hits)[0].score, 4.0, 1e-4);
  auto n = (*shard)->Delete({"d3", "d0", "missing", "d0"});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ((*shard)->Stats().documents, 8u);
  p.k = 100;
  hits = (*shard)->Search(d3.vectors.data(), 4, p);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->size(), 8u);
  for (const Hit& h : *hits) EXPECT_TRUE(h.id != "d3" && h.id != "d0");
}

TEST(ShardTest, RestartRecoversMutableSegmentsAndDeletes) {
  const std::string dir = TempDir("restart");
  auto docs = Docs(30);
  std::vector<Hit> before;
  auto q = testing::RandomUnit(3, kDim, 17);
  SearchParams p;
  p.k = 30;
  p.exact = true;
  {
    auto shard = Shard::Open(Opts(dir));
    ASSERT_TRUE(shard.ok());
    ASSERT_TRUE((*shard)->Upsert({docs.begin(), docs.begin() + 20}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
    ASSERT_TRUE((*shard)->Upsert({docs.begin() + 20, docs.end()}).ok());
    ASSERT_TRUE((*shard)->Delete({"d1", "d25"}).ok());
    before = *(*shard)->Search(q.data(), 3, p);
    ASSERT_TRUE((*shard)->Close().ok());
  }
  auto shard = Shard::Open(Opts(dir));
  ASSERT_TRUE(shard.ok()) << shard.status();
  auto st = (*shard)->Stats();
  EXPECT_EQ(st.documents, 28u);
  EXPECT_EQ(st.segments, 1u);
  EXPECT_EQ(st.mutable_documents, 9u);
  auto after = (*shard)->Search(q.data(), 3, p);
  ASSERT_TRUE(after.ok());
  ExpectHitsNear(*after, before);
  auto got = (*shard)->Get({"d7", "d1"});
  EXPECT_EQ((*got)[0]->metadata.at("seed"), "7");
  EXPECT_FALSE((*got)[1].has_value());
}

TEST(ShardTest, DimMismatchIsRejected) {
  const std::string dir = TempDir("dim");
  { ASSERT_TRUE(Shard::Open(Opts(dir)).ok()); }
  auto again = Shard::Open(Opts(dir, 64));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("dim"), std::string::npos);
  auto shard = Shard::Open(Opts(dir));
  ASSERT_TRUE(shard.ok());
  Document bad = RandomDoc("x", 3, kDim, 1);
  bad.vectors.pop_back();
  EXPECT_EQ((*shard)->Upsert({bad}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE((*shard)->Upsert({RandomDoc("", 1, kDim, 1)}).ok());
}

TEST(ShardTest, FiltersAndIdSubsetsReturnExactlyTheMatchingTopK) {
  auto shard = Shard::Open(Opts(TempDir("filter")));
  ASSERT_TRUE(shard.ok());
  auto docs = Docs(200);
  for (size_t i = 0; i < docs.size(); ++i) {
    docs[i].metadata["color"] = i % 3 == 0 ? "red" : (i % 3 == 1 ? "green" : "blue");
    docs[i].metadata["rare"] = i == 17 || i == 150 ? "yes" : "no";
  }
  ASSERT_TRUE((*shard)->Upsert({docs.begin(), docs.begin() + 150}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  ASSERT_TRUE((*shard)->Upsert({docs.begin() + 150, docs.end()}).ok());
  std::vector<std::string> ids;
  for (auto& d : docs) ids.push_back(d.id);
  std::vector<Document> stored;
  auto got = (*shard)->Get(ids);
  ASSERT_TRUE(got.ok());
  for (auto& d : *got) stored.push_back(*d);
  auto q = testing::RandomUnit(4, kDim, 3);

  struct Case {
    Filter filter;
    std::vector<std::string> subset;
  };
  std::vector<Case> cases = {
      {Filter::Eq("color", "red"), {}},
      {Filter::Eq("rare", "yes"), {}},  // selective: both must come back
      {Filter::Or({Filter::Eq("rare", "yes"), Filter::In("color", {"green", "blue"})}), {}},
      {Filter::And({Filter::Eq("color", "red"), Filter::Not(Filter::Eq("rare", "no"))}), {}},
      {Filter::And({}), {"d5", "d180", "d33", "d170"}},
      {Filter::Eq("color", "blue"), {"d5", "d180", "d33", "d170"}},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    std::vector<Document> matching;
    for (const Document& d : stored) {
      bool in_subset =
          cases[c].subset.empty() ||
          std::find(cases[c].subset.begin(), cases[c].subset.end(), d.id) != cases[c].subset.end();
      if (in_subset && cases[c].filter.Matches(d.metadata)) matching.push_back(d);
    }
    for (bool exact : {true, false}) {
      SearchParams p;
      p.k = 10;
      p.exact = exact;
      p.nprobe = 2;  // narrow probing: the filter must still fill k
      p.filter = &cases[c].filter;
      p.id_subset = cases[c].subset;
      auto hits = (*shard)->Search(q.data(), 4, p);
      ASSERT_TRUE(hits.ok());
      auto want = NaiveTopK(q.data(), 4, matching, kDim, 10);
      if (exact) {
        ExpectHitsNear(*hits, want);
      } else {
        ASSERT_EQ(hits->size(), want.size()) << "case " << c;
        for (const Hit& h : *hits) {
          bool found = false;
          for (const Document& m : matching) found |= m.id == h.id;
          EXPECT_TRUE(found) << h.id << " does not match case " << c;
        }
      }
    }
  }
}

TEST(ShardTest, CompactionPurgesDeletesAndKeepsResults) {
  auto shard = Shard::Open(Opts(TempDir("compact")));
  ASSERT_TRUE(shard.ok());
  auto docs = Docs(90);
  for (int part = 0; part < 3; ++part) {
    ASSERT_TRUE((*shard)->Upsert({docs.begin() + part * 30, docs.begin() + part * 30 + 30}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
  }
  ASSERT_TRUE((*shard)->Delete({"d0", "d40", "d80"}).ok());
  auto q = testing::RandomUnit(4, kDim, 8);
  SearchParams p;
  p.k = 87;
  p.exact = true;
  auto before = (*shard)->Search(q.data(), 4, p);
  auto st = (*shard)->Stats();
  EXPECT_EQ(st.segments, 3u);
  EXPECT_EQ(st.dead_documents, 3u);
  ASSERT_TRUE((*shard)->Compact().ok());
  st = (*shard)->Stats();
  EXPECT_EQ(st.segments, 1u);
  EXPECT_EQ(st.dead_documents, 0u);
  EXPECT_EQ(st.documents, 87u);
  EXPECT_EQ(st.compactions, 1u);
  auto after = (*shard)->Search(q.data(), 4, p);
  ExpectHitsNear(*after, *before);
}

TEST(ShardTest, CodecRetrainsWhenTheIndexOutgrowsItAndCompactionReencodes) {
  ShardOptions o = Opts(TempDir("retrain"));
  o.retrain_growth_factor = 3;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok());
  auto docs = Docs(400);
  ASSERT_TRUE((*shard)->Upsert({docs.begin(), docs.begin() + 40}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  const int first_k = (*shard)->Stats().num_centroids;
  ASSERT_TRUE((*shard)->Upsert({docs.begin() + 40, docs.end()}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  EXPECT_GT((*shard)->Stats().num_centroids, first_k);
  ASSERT_TRUE((*shard)->Compact().ok());
  EXPECT_EQ((*shard)->Stats().segments, 1u);
  EXPECT_EQ((*shard)->Stats().documents, 400u);
  // Documents of the first segment went through decode + re-encode; they stay close.
  auto got = (*shard)->Get({"d3", "d300"});
  ASSERT_TRUE(got.ok());
  for (int which = 0; which < 2; ++which) {
    const Document& orig = docs[which == 0 ? 3 : 300];
    const Document& back = *(*got)[which];
    ASSERT_EQ(back.num_tokens, orig.num_tokens);
    for (int t = 0; t < orig.num_tokens; ++t) {
      double dot = 0;
      for (int k = 0; k < kDim; ++k) dot += orig.vectors[t * kDim + k] * back.vectors[t * kDim + k];
      EXPECT_GT(dot, 0.85) << orig.id << " token " << t;
    }
  }
}

TEST(ShardTest, InTheBackgroundARetrainRunsBesideFlushesAndTheIndexConvergesOnItsCodec) {
  ShardOptions o = Opts(TempDir("background_retrain"));
  o.background_compaction = true;  // the loop never flushes here (threshold 2^30): Flush() does
  o.retrain_growth_factor = 3;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok()) << shard.status();
  auto docs = Docs(400);
  ASSERT_TRUE((*shard)->Upsert({docs.begin(), docs.begin() + 40}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());  // no codec yet: trained within the flush
  const int first_k = (*shard)->Stats().num_centroids;
  const uint64_t first_codec = (*shard)->Stats().codec_id;
  ASSERT_TRUE((*shard)->Upsert({docs.begin() + 40, docs.end()}).ok());
  // The index outgrew the codec: this flush starts the retrain and encodes with the old one.
  ASSERT_TRUE((*shard)->Flush().ok());
  EXPECT_EQ((*shard)->Stats().segments, 2u);
  // Once trained, with no further write or call, the new codec becomes current and both
  // segments are re-encoded with it into one.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto converged = [&] {
    const ShardStats st = (*shard)->Stats();
    return st.codec_id != first_codec && st.segments == 1 && st.compactions == 1 &&
           !st.retrain_running && !st.compaction_running;
  };
  while (!converged() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(converged()) << "the retrained codec never landed";
  EXPECT_GT((*shard)->Stats().num_centroids, first_k);
  EXPECT_EQ((*shard)->Stats().documents, 400u);
  SearchParams p;
  p.k = 1;
  for (const int i : {7, 333}) {
    auto hits = (*shard)->Search(docs[i].vectors.data(), docs[i].num_tokens, p);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].id, docs[i].id);
  }
  EXPECT_TRUE((*shard)->Close().ok());
}

// A re-encode after a retrain runs for minutes on a large index; writes that wait for a flush
// (backpressure) were refused meanwhile. A flush now runs beside a compaction.
TEST(ShardTest, AFlushDoesNotWaitForARunningCompaction) {
  ShardOptions o = Opts(TempDir("flush_beside_compaction"));
  o.shared_codec = CodecTrainedElsewhere(11);  // 64 centroids: the flushes below train nothing
  o.build_threads = 1;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok()) << shard.status();
  std::vector<Document> docs;
  for (int i = 0; i < 2000; ++i) docs.push_back(RandomDoc("d" + std::to_string(i), 100, kDim, i));
  ASSERT_TRUE((*shard)->Upsert(docs).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  // A codec of 4,096 centroids, adopted: its compaction re-assigns 200k tokens to them.
  const std::vector<float> sample = testing::RandomUnit(8192, kDim, 12);
  CodecTrainOptions t;
  t.num_centroids = 4096;
  t.iterations = 1;
  auto big = TrainCodec(sample.data(), 8192, kDim, t);
  ASSERT_TRUE(big.ok()) << big.status();
  const auto adopted = std::make_shared<const Codec>(*std::move(big));
  absl::Status adopt_status;
  std::thread compaction([&] { adopt_status = (*shard)->AdoptCodec(adopted); });
  while (!(*shard)->Stats().compaction_running && (*shard)->Stats().compactions == 0)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  const Document late = RandomDoc("late", 8, kDim, 5000);
  ASSERT_TRUE((*shard)->Upsert({late}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  const ShardStats during = (*shard)->Stats();
  compaction.join();
  ASSERT_TRUE(adopt_status.ok()) << adopt_status;
  EXPECT_TRUE(during.compaction_running) << "the flush waited for the compaction to end";
  EXPECT_EQ(during.mutable_documents, 0u);
  // Both builds landed: the re-encoded merge and the flushed segment, under the adopted codec.
  const ShardStats after = (*shard)->Stats();
  EXPECT_FALSE(after.compaction_running);
  EXPECT_EQ(after.segments, 2u);
  EXPECT_EQ(after.documents, 2001u);
  EXPECT_EQ(after.codec_id, adopted->id);
  SearchParams p;
  p.k = 1;
  for (const Document* d : std::vector<const Document*>{&late, &docs[1234]}) {
    auto hits = (*shard)->Search(d->vectors.data(), d->num_tokens, p);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].id, d->id);
  }
  EXPECT_TRUE((*shard)->Close().ok());
}

TEST(CompactionPolicyTest, MergesTiersOfSimilarSizeAndPurgesDeadSegments) {
  CompactionPolicy p;  // min_merge 4, dead_fraction 0.2, size_ratio 2
  auto seg = [](int64_t id, uint64_t tokens, uint64_t docs = 100, uint64_t dead = 0) {
    return SegmentSize{id, tokens, docs, dead};
  };
  auto sorted = [](std::vector<int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  // Three flushes: not yet a tier of four.
  EXPECT_TRUE(PickCompaction({seg(1, 1000), seg(2, 1100), seg(3, 950)}, p).empty());
  // A fourth flush of similar size: the four merge; the big merged segment stays out.
  EXPECT_EQ(sorted(PickCompaction(
                {seg(9, 40000), seg(1, 1000), seg(2, 1100), seg(3, 950), seg(4, 1050)}, p)),
            (std::vector<int64_t>{1, 2, 3, 4}));
  // Once the small ones outweigh half of a bigger one, it joins their tier.
  EXPECT_EQ(sorted(PickCompaction({seg(9, 4000), seg(1, 1000), seg(2, 1000), seg(3, 1000)}, p)),
            (std::vector<int64_t>{1, 2, 3, 9}));
  // A segment with 20 % dead documents is rewritten on its own.
  EXPECT_EQ(PickCompaction({seg(9, 40000, 400, 80), seg(1, 1000)}, p), (std::vector<int64_t>{9}));
  // Sixteen segments each 3x the last never form a tier: the four smallest merge anyway.
  std::vector<SegmentSize> growing;
  uint64_t size = 1000;
  for (int i = 0; i < 16; ++i, size *= 3) growing.push_back(seg(i, size));
  EXPECT_EQ(sorted(PickCompaction(growing, p)), (std::vector<int64_t>{0, 1, 2, 3}));
  growing.pop_back();
  EXPECT_TRUE(PickCompaction(growing, p).empty());
}

TEST(ShardTest, CorruptedAndTruncatedSegmentsGiveClearErrors) {
  const std::string dir = TempDir("corrupt");
  {
    auto shard = Shard::Open(Opts(dir));
    ASSERT_TRUE(shard.ok());
    ASSERT_TRUE((*shard)->Upsert(Docs(20)).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
  }
  std::string seg;
  for (auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".tseg") seg = e.path().string();
  ASSERT_FALSE(seg.empty());
  const std::string backup = seg + ".bak";
  std::filesystem::copy_file(seg, backup);
  {  // flip one byte in the middle
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::filesystem::file_size(seg) / 2);
    char c;
    f.read(&c, 1);
    f.seekp(std::filesystem::file_size(seg) / 2);
    c ^= 0x5a;
    f.write(&c, 1);
  }
  auto r = Shard::Open(Opts(dir));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos) << r.status();
  std::filesystem::copy_file(backup, seg, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(seg, 300);
  r = Shard::Open(Opts(dir));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status();
  std::filesystem::remove(seg);
  r = Shard::Open(Opts(dir));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(seg), std::string::npos) << r.status();
  std::filesystem::copy_file(backup, seg);
  EXPECT_TRUE(Shard::Open(Opts(dir)).ok());
}

TEST(ShardTest, CompressedSearchRecallFloorOnSyntheticCorpus) {
  SyntheticOptions so;
  so.dim = 64;
  so.num_docs = 1500;
  so.min_tokens = 20;
  so.max_tokens = 60;
  so.num_topics = 40;
  so.clusters_per_topic = 16;
  so.query_tokens = 16;
  SyntheticCorpus corpus(so);
  ShardOptions o = Opts(TempDir("recall"), so.dim);
  o.nbits = 4;
  o.kmeans_iterations = 4;
  o.kmeans_sample_per_centroid = 8;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok());
  std::vector<Document> docs;
  for (int i = 0; i < so.num_docs; ++i) docs.push_back(corpus.MakeDocument(i));
  ASSERT_TRUE((*shard)->Upsert(docs).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  const int nq = 40;
  double recall = 0, mrr = 0;
  for (int i = 0; i < nq; ++i) {
    const int pos = (i * 37) % so.num_docs;
    auto q = corpus.MakeQuery(pos, i);
    auto want = NaiveTopK(q.data(), so.query_tokens, docs, so.dim, 10);  // originals
    SearchParams p;
    auto got = (*shard)->Search(q.data(), so.query_tokens, p);
    ASSERT_TRUE(got.ok());
    int overlap = 0;
    for (const Hit& g : *got)
      for (const Hit& w : want) overlap += g.id == w.id;
    recall += overlap / 10.0;
    for (size_t r = 0; r < got->size(); ++r)
      if ((*got)[r].id == "doc" + std::to_string(pos)) mrr += 1.0 / (r + 1);
  }
  recall /= nq;
  mrr /= nq;
  EXPECT_GE(recall, 0.85) << "recall@10 vs exact MaxSim on the original vectors";
  EXPECT_GE(mrr, 0.8);
}

}  // namespace
}  // namespace tartan::index

namespace tartan::index {
namespace {

TEST(ShardTest, RewritingOneDocumentKeepsOnlyTheLastVersion) {
  auto shard = Shard::Open(Opts(TempDir("rewrite")));
  ASSERT_TRUE(shard.ok()) << shard.status();
  // Versions of one id within one batch and across batches: the last write wins, and the
  // dead versions' slots are reclaimed (more than kMinFreshSlotsToRenumber of them).
  for (int round = 0; round < 10; ++round) {
    std::vector<Document> batch;
    for (int v = 0; v < 800; ++v) {
      Document d = RandomDoc("same", 4, kDim, round * 1000 + v);
      d.metadata["version"] = std::to_string(round * 1000 + v);
      batch.push_back(std::move(d));
    }
    ASSERT_TRUE((*shard)->Upsert(batch).ok());
  }
  const ShardStats stats = (*shard)->Stats();
  EXPECT_EQ(stats.documents, 1u);
  EXPECT_EQ(stats.mutable_documents, 1u);
  EXPECT_EQ(stats.mutable_tokens, 4u);
  // Unbounded, the 8,000 slots would take 128 KB; renumbered, at most 1,024 + 800 remain.
  EXPECT_LT(stats.bytes_in_ram, 32u * 1024) << "dead versions must not be kept";
  auto got = (*shard)->Get({"same"});
  ASSERT_TRUE(got.ok() && (*got)[0]);
  EXPECT_EQ((*got)[0]->metadata.at("version"), "9799");
  const Document last = RandomDoc("same", 4, kDim, 9799);
  EXPECT_EQ((*got)[0]->vectors, last.vectors);
  SearchParams p;
  p.k = 5;
  auto hits = (*shard)->Search(last.vectors.data(), 4, p);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].id, "same");
}

TEST(ShardTest, ASecondOpenOfTheSameDirectoryFailsUntilTheFirstCloses) {
  const std::string dir = TempDir("lock");
  auto first = Shard::Open(Opts(dir));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Shard::Open(Opts(dir));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(second.status().message().find("in use"), std::string_view::npos);
  ASSERT_TRUE((*first)->Close().ok());
  auto third = Shard::Open(Opts(dir));
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(ShardTest, WritesWaitForBackgroundFlushesInsteadOfGrowingWithoutBound) {
  ShardOptions o = Opts(TempDir("backpressure"));
  o.background_compaction = true;
  o.flush_threshold_tokens = 60;
  o.max_unflushed_tokens = 120;
  o.kmeans_iterations = 2;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok()) << shard.status();
  uint64_t most_fresh = 0;
  for (int i = 0; i < 100; ++i) {
    std::vector<Document> batch;
    for (int j = 0; j < 4; ++j)
      batch.push_back(RandomDoc("d" + std::to_string(i * 4 + j), 5, kDim, i * 4 + j));
    ASSERT_TRUE((*shard)->Upsert(batch).ok()) << "write " << i << " was refused";
    most_fresh = std::max(most_fresh, (*shard)->Stats().mutable_tokens);
  }
  EXPECT_LE(most_fresh, 120u + 20u) << "the fresh segment outgrew its bound";
  EXPECT_GT((*shard)->Stats().flushes, 1u);
  EXPECT_EQ((*shard)->Stats().documents, 400u);

  o.data_dir = TempDir("backpressure_bad");
  o.max_unflushed_tokens = 100;  // below 2 x flush_threshold_tokens
  EXPECT_EQ(Shard::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShardTest, OnceACodecExistsNewDocumentsAreIndexedWithinTheDelay) {
  ShardOptions o = Opts(TempDir("index_delay"));
  o.background_compaction = true;
  o.index_delay_ms = 50;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok()) << shard.status();
  // Before any codec: below the flush threshold, documents stay fresh.
  ASSERT_TRUE((*shard)->Upsert(Docs(100)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ((*shard)->Stats().mutable_documents, 100u);
  ASSERT_TRUE((*shard)->Flush().ok());  // trains the codec
  const std::vector<Document> later = Docs(10, 1000);
  std::vector<Document> renamed;
  for (Document d : later) {
    d.id = "late-" + d.id;
    renamed.push_back(std::move(d));
  }
  ASSERT_TRUE((*shard)->Upsert(renamed).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  // The flush count moves just after the documents do.
  while (((*shard)->Stats().mutable_documents != 0 || (*shard)->Stats().flushes < 2) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const ShardStats st = (*shard)->Stats();
  EXPECT_EQ(st.mutable_documents, 0u) << "fresh documents were not indexed";
  EXPECT_EQ(st.documents, 110u);
  EXPECT_GE(st.flushes, 2u);
  // Found through the index: the query is one of the new documents' own vectors.
  SearchParams p;
  p.k = 1;
  auto hits = (*shard)->Search(renamed[3].vectors.data(), renamed[3].num_tokens, p);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].id, renamed[3].id);

  o.data_dir = TempDir("index_delay_bad");
  o.index_delay_ms = -1;
  EXPECT_EQ(Shard::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShardTest, ShardsSharingACodecScoreADocumentAlike) {
  // A codec trained once, elsewhere (as tartanctl train-codec does).
  const std::shared_ptr<const Codec> shared = CodecTrainedElsewhere(4242);
  ASSERT_NE(shared, nullptr);
  const auto docs = Docs(80);
  auto q = testing::RandomUnit(6, kDim, 77);
  std::vector<std::vector<Hit>> results;
  for (int s = 0; s < 2; ++s) {
    ShardOptions o = Opts(TempDir("shared_codec" + std::to_string(s)));
    o.shared_codec = shared;
    auto shard = Shard::Open(o);
    ASSERT_TRUE(shard.ok()) << shard.status();
    // Different companions: a shard training its own codec would get different centroids.
    std::vector<Document> companions;
    for (int i = 0; i < 40 + 60 * s; ++i)
      companions.push_back(RandomDoc("c" + std::to_string(i), 6, kDim, 5000 + 100 * s + i));
    ASSERT_TRUE((*shard)->Upsert(companions).ok());
    ASSERT_TRUE((*shard)->Upsert(docs).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
    EXPECT_EQ((*shard)->Stats().num_centroids, 64);  // never trained its own
    SearchParams p;
    p.k = 5;
    p.id_subset = {"d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8"};
    auto hits = (*shard)->Search(q.data(), 6, p);
    ASSERT_TRUE(hits.ok()) << hits.status();
    results.push_back(*hits);
  }
  ExpectHitsNear(results[1], results[0]);

  ShardOptions bad = Opts(TempDir("shared_codec_dim"), 64);
  bad.shared_codec = shared;
  EXPECT_EQ(Shard::Open(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShardTest, AnAdoptedCodecReplacesTheShardsOwnAndReencodesItsSegments) {
  // The index's codec, trained by another shard (CodecFollower fetches it at run time).
  const std::shared_ptr<const Codec> leader = CodecTrainedElsewhere(4243);
  ASSERT_NE(leader, nullptr);

  const auto docs = Docs(120);
  auto q = testing::RandomUnit(6, kDim, 78);
  SearchParams p;
  p.k = 5;
  p.id_subset = {"d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8"};
  // What a shard pinned to the codec from the start returns.
  // With the rerank store, re-encoding starts from the vectors as written, so the adopted
  // shard ends up with exactly the codes of a shard pinned to the codec from the start.
  ShardOptions pinned_opts = Opts(TempDir("adopt_reference"));
  pinned_opts.shared_codec = leader;
  pinned_opts.rerank_store = true;
  auto reference = Shard::Open(pinned_opts);
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_TRUE((*reference)->Upsert(docs).ok());
  ASSERT_TRUE((*reference)->Flush().ok());
  auto want = (*reference)->Search(q.data(), 6, p);
  ASSERT_TRUE(want.ok()) << want.status();

  ShardOptions o = Opts(TempDir("adopt"));
  o.rerank_store = true;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok()) << shard.status();
  ASSERT_TRUE((*shard)->Upsert(std::vector<Document>(docs.begin(), docs.begin() + 60)).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  ASSERT_TRUE((*shard)->Upsert(std::vector<Document>(docs.begin() + 60, docs.end())).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  ASSERT_NE((*shard)->codec(), nullptr);
  EXPECT_NE((*shard)->codec()->id, leader->id);  // trained its own first

  ASSERT_TRUE((*shard)->AdoptCodec(leader).ok());
  ShardStats st = (*shard)->Stats();
  EXPECT_EQ(st.codec_id, leader->id);
  EXPECT_EQ(st.codec_nbits, leader->nbits);
  EXPECT_EQ(st.segments, 1u);  // both segments re-encoded into one under the adopted codec
  EXPECT_EQ(st.documents, 120u);
  auto got = (*shard)->Search(q.data(), 6, p);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectHitsNear(*got, *want);

  // Later flushes keep the adopted codec: the shard no longer trains its own.
  ASSERT_TRUE((*shard)->Upsert(Docs(400, 1000)).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  EXPECT_EQ((*shard)->Stats().codec_id, leader->id);

  ShardOptions narrow = Opts(TempDir("adopt_dim"), 64);
  auto other = Shard::Open(narrow);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)->AdoptCodec(leader).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*other)->AdoptCodec(nullptr).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShardTest, AnInterruptedSearchStopsWithTheInterruptsStatus) {
  auto shard = Shard::Open(Opts(TempDir("interrupt")));
  ASSERT_TRUE(shard.ok()) << shard.status();
  ASSERT_TRUE((*shard)->Upsert(Docs(200)).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  ASSERT_TRUE((*shard)->Upsert(Docs(20, 500)).ok());  // a fresh segment too
  auto q = testing::RandomUnit(4, kDim, 7);
  for (bool exact : {false, true}) {
    int polls = 0;
    SearchParams p;
    p.exact = exact;
    p.interrupt = [&] {
      return ++polls > 1 ? absl::CancelledError("caller gone") : absl::OkStatus();
    };
    auto hits = (*shard)->Search(q.data(), 4, p);
    EXPECT_EQ(hits.status().code(), absl::StatusCode::kCancelled) << "exact=" << exact;
    EXPECT_EQ(polls, 2) << "the search went on after the interrupt said stop";
    p.interrupt = [] { return absl::OkStatus(); };
    EXPECT_TRUE((*shard)->Search(q.data(), 4, p).ok());
  }
}

}  // namespace
}  // namespace tartan::index
