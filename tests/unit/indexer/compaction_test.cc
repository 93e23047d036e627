// Compaction streams the merged segment's residuals from the source segments into the file:
// the merged segment decodes exactly as its sources did (or, for a source under an older
// codec, exactly as the current codec re-encodes it), and the heap never holds the residuals.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/shard.h"
#include "tests/unit/indexer/test_util.h"

// Live and peak bytes handed out by operator new in this process (what std::vector and
// friends allocate; SQLite's malloc is not counted, it holds no segment data).
namespace {
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

void* Counted(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  const int64_t live =
      g_live.fetch_add(int64_t(malloc_usable_size(p))) + int64_t(malloc_usable_size(p));
  int64_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
  return p;
}

void Uncounted(void* p) {
  if (p == nullptr) return;
  g_live.fetch_sub(int64_t(malloc_usable_size(p)));
  std::free(p);
}
}  // namespace

void* operator new(size_t n) { return Counted(n); }
void* operator new[](size_t n) { return Counted(n); }
void operator delete(void* p) noexcept { Uncounted(p); }
void operator delete[](void* p) noexcept { Uncounted(p); }
void operator delete(void* p, size_t) noexcept { Uncounted(p); }
void operator delete[](void* p, size_t) noexcept { Uncounted(p); }

namespace tartan::index {
namespace {

using testing::RandomDoc;
using testing::RandomUnit;
using testing::TempDir;

std::shared_ptr<const Codec> TrainSmallCodec(int dim, int centroids, uint64_t seed) {
  const int n = centroids * 16;
  const std::vector<float> x = RandomUnit(n, dim, seed);
  CodecTrainOptions t;
  t.num_centroids = centroids;
  t.seed = seed;
  t.threads = 1;
  auto codec = TrainCodec(x.data(), size_t(n), dim, t);
  EXPECT_TRUE(codec.ok()) << codec.status();
  return std::make_shared<const Codec>(std::move(*codec));
}

ShardOptions Opts(const std::string& dir, int dim, std::shared_ptr<const Codec> codec) {
  ShardOptions o;
  o.data_dir = dir;
  o.dim = dim;
  o.background_compaction = false;
  o.flush_threshold_tokens = 1u << 30;
  o.build_threads = 1;
  o.shared_codec = std::move(codec);
  return o;
}

std::vector<Document> Docs(int first, int n, int dim) {
  std::vector<Document> docs;
  for (int i = first; i < first + n; ++i) {
    docs.push_back(RandomDoc("d" + std::to_string(i), 2 + i % 11, dim, 100 + i));
    docs.back().metadata = {{"n", std::to_string(i)}, {"tag", i % 2 ? "odd" : "even"}};
  }
  return docs;
}

std::vector<std::string> Ids(const std::vector<Document>& docs) {
  std::vector<std::string> ids;
  for (const Document& d : docs) ids.push_back(d.id);
  return ids;
}

// Three segments (the first under codec A, two under codec B, which is current), some
// documents deleted or replaced: after Compact, one segment whose documents decode exactly as
// before (B's), or as B re-encodes A's decoding, with their metadata; the same after reopening.
TEST(CompactionTest, MergedSegmentDecodesAsItsSources) {
  constexpr int kDim = 32;
  const std::string dir = TempDir("compaction_identity");
  const auto codec_a = TrainSmallCodec(kDim, 16, 1);
  const auto codec_b = TrainSmallCodec(kDim, 32, 2);
  ASSERT_NE(codec_a->id, codec_b->id);
  const std::vector<Document> docs = Docs(0, 90, kDim);
  {
    auto shard = Shard::Open(Opts(dir, kDim, codec_a));
    ASSERT_TRUE(shard.ok()) << shard.status();
    ASSERT_TRUE((*shard)->Upsert({docs.begin(), docs.begin() + 30}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
  }
  auto shard = Shard::Open(Opts(dir, kDim, codec_b));
  ASSERT_TRUE(shard.ok()) << shard.status();
  for (int part = 1; part < 3; ++part) {
    ASSERT_TRUE((*shard)->Upsert({docs.begin() + part * 30, docs.begin() + part * 30 + 30}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
  }
  ASSERT_EQ((*shard)->Delete({"d1", "d40", "d89"}).value(), 3);
  Document replaced = RandomDoc("d50", 4, kDim, 7);
  replaced.metadata = {{"n", "replaced"}};
  ASSERT_TRUE((*shard)->Upsert({replaced}).ok());
  ASSERT_EQ((*shard)->Stats().segments, 3u);

  const std::vector<std::string> ids = Ids(docs);
  auto before = (*shard)->Get(ids);
  ASSERT_TRUE(before.ok()) << before.status();
  // What the merged segment must hold: B's own rows unchanged; A's rows re-encoded by B.
  std::vector<std::optional<Document>> want = *before;
  for (int i = 0; i < 30; ++i) {
    if (!want[i]) continue;
    Document& d = *want[i];
    std::vector<uint32_t> codes(d.num_tokens);
    std::vector<uint8_t> packed(size_t(d.num_tokens) * codec_b->packed_bytes());
    codec_b->Encode(d.vectors.data(), d.num_tokens, codes.data(), packed.data(), 1);
    codec_b->Decode(codes.data(), packed.data(), d.num_tokens, d.vectors.data());
  }

  ASSERT_TRUE((*shard)->Compact().ok());
  const ShardStats st = (*shard)->Stats();
  EXPECT_EQ(st.segments, 1u);
  EXPECT_EQ(st.dead_documents, 0u);
  EXPECT_EQ(st.documents, 87u);
  EXPECT_EQ(st.mutable_documents, 1u);  // the replacement, still unflushed

  auto expect_same = [&](const std::vector<std::optional<Document>>& got) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].has_value(), want[i].has_value()) << ids[i];
      if (!got[i]) continue;
      EXPECT_EQ(got[i]->num_tokens, want[i]->num_tokens) << ids[i];
      EXPECT_EQ(got[i]->metadata, want[i]->metadata) << ids[i];
      // Bit for bit: the residual rows are the source's (or B's encoding of them).
      EXPECT_EQ(got[i]->vectors, want[i]->vectors) << ids[i];
    }
  };
  auto after = (*shard)->Get(ids);
  ASSERT_TRUE(after.ok()) << after.status();
  expect_same(*after);
  EXPECT_EQ((*after)[50]->metadata.at("n"), "replaced");
  EXPECT_FALSE((*after)[1].has_value());

  shard->reset();  // the merged file is durable and reads back the same
  auto reopened = Shard::Open(Opts(dir, kDim, codec_b));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto again = (*reopened)->Get(ids);
  ASSERT_TRUE(again.ok()) << again.status();
  expect_same(*again);
}

// Four segments of 40,000 tokens at dim 128, nbits 4 (64 bytes of residuals per token): the
// heap grows during Compact by far less than the merged residuals (10 MB). Holding them, as
// a merge in RAM does, would exceed the bound; what remains is a few bytes per token (codes,
// inverted lists, the new segment's token index) and one bounded chunk.
TEST(CompactionTest, ResidualsAreStreamedNotHeldInMemory) {
  constexpr int kDim = 128, kDocs = 200, kTokens = 200, kSegments = 4;
  const std::string dir = TempDir("compaction_memory");
  const auto codec = TrainSmallCodec(kDim, 256, 3);
  auto shard = Shard::Open(Opts(dir, kDim, codec));
  ASSERT_TRUE(shard.ok()) << shard.status();
  for (int s = 0; s < kSegments; ++s) {
    std::vector<Document> docs;
    for (int i = 0; i < kDocs; ++i)
      docs.push_back(RandomDoc("s" + std::to_string(s) + "-" + std::to_string(i), kTokens, kDim,
                               uint64_t(s) * kDocs + i));
    ASSERT_TRUE((*shard)->Upsert(std::move(docs)).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
  }
  ASSERT_EQ((*shard)->Stats().segments, uint64_t(kSegments));
  const int64_t residual_bytes = int64_t(kSegments) * kDocs * kTokens * codec->packed_bytes();

  const int64_t base = g_live.load();
  g_peak.store(base);
  ASSERT_TRUE((*shard)->Compact().ok());
  const int64_t growth = g_peak.load() - base;
  EXPECT_EQ((*shard)->Stats().segments, 1u);
  EXPECT_EQ((*shard)->Stats().documents, uint64_t(kSegments) * kDocs);
  std::printf("compaction: peak heap growth %.2f MB, merged residuals %.2f MB\n", growth / 1e6,
              residual_bytes / 1e6);
  EXPECT_LT(growth, residual_bytes / 2) << "the merged residuals were held in memory";
}

}  // namespace
}  // namespace tartan::index
