// SegmentFile::Open on hostile segment files. Each case forges header or section fields of a
// valid segment and RECOMPUTES the trailing xxh64, so only the structural checks at open can
// catch it (the checksum detects accidents, it is not a security boundary).
#include "services/indexer/lib/segment_file.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/half.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

// Byte offsets of header fields (segment_file.cc: struct Header).
constexpr size_t kDim = 12, kNumCentroids = 20, kNumDocs = 24, kNumTokens = 32, kCodeBytes = 60;
constexpr size_t kSections = 64;
enum {
  kCentroids,
  kCutoffs,
  kWeights,
  kDocOffsets,
  kCodes,
  kResiduals,
  kIvfOffsets,
  kIvfDocs,
  kIdOffsets,
  kIdBytes,
  kExact
};
constexpr size_t kVersionField = 8;

class SegmentFileTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(false); }
  // tail_is_six: the last 8 bytes of the weights section (just before the doc offsets) read as
  // the u64 6 (== num_tokens), so an index that wraps to -1 lands on a plausible value.
  // exact: also a rerank store, token t's vector being t + dimension / 8 (exact in f16).
  void Build(bool tail_is_six, bool exact = false) {
    path_ = testing::TempDir("segment_file") + "/s.tseg";
    Codec codec;
    codec.dim = 8;
    codec.nbits = 2;
    codec.num_centroids = 4;
    codec.normalize = true;
    codec.trained_tokens = 6;
    for (int i = 0; i < 4 * 8; ++i)
      codec.centroids.push_back(float(i % 5) * 0.25f);  // exact in fp16
    for (int d = 0; d < 8; ++d) {
      codec.bucket_cutoffs.insert(codec.bucket_cutoffs.end(), {-0.1f, 0.0f, 0.1f});
      codec.bucket_weights.insert(codec.bucket_weights.end(), {-0.2f, -0.05f, 0.05f, 0.2f});
    }
    if (tail_is_six) {
      const uint32_t six = 6;
      std::memcpy(&codec.bucket_weights[codec.bucket_weights.size() - 2], &six, 4);
      codec.bucket_weights.back() = 0.0f;
    }
    codec.Finalize();
    SegmentData data;
    data.ids = {"a", "bb", "ccc"};
    data.doc_offsets = {0, 2, 5, 6};
    data.codes = {0, 1, 1, 2, 3, 0};
    data.residuals.assign(6 * 2, 0x1b);
    if (exact) {
      data.exact_source = [](uint64_t first, uint64_t n, uint16_t* out) {
        for (uint64_t t = 0; t < n; ++t)
          for (int d = 0; d < 8; ++d) out[t * 8 + d] = FloatToHalf(float(first + t) + d / 8.f);
        return absl::OkStatus();
      };
    }
    ASSERT_TRUE(WriteSegment(path_, codec, data).ok());
    std::ifstream in(path_, std::ios::binary);
    bytes_.assign(std::istreambuf_iterator<char>(in), {});
    ASSERT_GT(bytes_.size(), 256u + 8u);
  }
  template <typename T>
  T Get(size_t at) const {
    T v;
    std::memcpy(&v, bytes_.data() + at, sizeof(T));
    return v;
  }
  template <typename T>
  void Put(size_t at, T v) {
    std::memcpy(bytes_.data() + at, &v, sizeof(T));
  }
  uint64_t SectionOffset(int s) const { return Get<uint64_t>(kSections + 16 * s); }
  size_t SectionOffsetField(int s) const { return kSections + 16 * s; }
  size_t SectionSizeField(int s) const { return kSections + 16 * s + 8; }
  // Writes bytes_ with a freshly computed checksum and opens it (verify on).
  absl::Status ResealAndOpen() {
    const uint64_t digest = XXH64(bytes_.data(), bytes_.size() - 8, 0);
    std::memcpy(bytes_.data() + bytes_.size() - 8, &digest, 8);
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes_;
    return SegmentFile::Open(path_).status();
  }
  std::string path_;
  std::string bytes_;
};

TEST_F(SegmentFileTest, TheUnmodifiedSegmentOpensAndReads) {
  ASSERT_TRUE(SegmentFile::Open(path_).ok()) << SegmentFile::Open(path_).status();
  ASSERT_TRUE(ResealAndOpen().ok()) << ResealAndOpen();
  auto seg = SegmentFile::Open(path_);
  ASSERT_TRUE(seg.ok()) << seg.status();
  EXPECT_EQ((*seg)->num_docs(), 3u);
  EXPECT_EQ((*seg)->id(2), "ccc");
  std::vector<uint32_t> docs;
  (*seg)->IvfDocs(1, &docs);
  EXPECT_EQ(docs, (std::vector<uint32_t>{0, 1}));
}

TEST_F(SegmentFileTest, TheRerankStoreIsReadBackAsTheVectorsWritten) {
  auto plain = SegmentFile::Open(path_);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE((*plain)->has_exact());
  std::vector<float> decompressed(3 * 8);
  (*plain)->DecodeDoc(1, decompressed.data());
  Build(false, /*exact=*/true);
  auto seg = SegmentFile::Open(path_);
  ASSERT_TRUE(seg.ok()) << seg.status();
  ASSERT_TRUE((*seg)->has_exact());
  EXPECT_EQ((*seg)->file_bytes() - (*plain)->file_bytes(), 6u * 8 * 2)
      << "the store is 2 x dim bytes per token";
  std::vector<float> out(3 * 8);
  (*seg)->DecodeDoc(1, out.data());  // tokens 2..4
  for (int t = 0; t < 3; ++t)
    for (int d = 0; d < 8; ++d) EXPECT_EQ(out[t * 8 + d], float(2 + t) + d / 8.f);
  EXPECT_NE(out, decompressed);
}

TEST_F(SegmentFileTest, ARerankStoreOfTheWrongSizeIsRejected) {
  Build(false, /*exact=*/true);
  Put<uint64_t>(SectionSizeField(kExact), Get<uint64_t>(SectionSizeField(kExact)) - 16);
  EXPECT_EQ(ResealAndOpen().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SegmentFileTest, VersionOneFilesStillOpenWithoutARerankStore) {
  // A version 1 header ends after the id sections: zeros where version 2 has the store.
  Put<uint32_t>(kVersionField, 1);
  Put<uint64_t>(SectionOffsetField(kExact), 0);
  Put<uint64_t>(SectionSizeField(kExact), 0);
  ASSERT_TRUE(ResealAndOpen().ok()) << ResealAndOpen();
  auto seg = SegmentFile::Open(path_);
  ASSERT_TRUE(seg.ok());
  EXPECT_FALSE((*seg)->has_exact());
  // But a version 1 file claiming a store is corrupt, and so is an unknown version.
  Build(false, /*exact=*/true);
  Put<uint32_t>(kVersionField, 1);
  EXPECT_EQ(ResealAndOpen().code(), absl::StatusCode::kDataLoss);
  Put<uint32_t>(kVersionField, 3);
  EXPECT_EQ(ResealAndOpen().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SegmentFileTest, OutOfRangeCodesAreRejected) {
  // Codes are u16 here; code 4 would index past the 4-centroid table on decode.
  Put<uint16_t>(SectionOffset(kCodes) + 2 * 3, 4);
  absl::Status s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  Put<uint16_t>(SectionOffset(kCodes) + 2 * 3, 0xffff);
  s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(SegmentFileTest, IdOffsetsMustBeMonotoneAndInsideTheIdBytes) {
  // ids "a" "bb" "ccc": offsets 0 1 3 6. 7 > 6 made id(1) read past the id bytes; the last
  // offset still matches so the old check passed.
  Put<uint32_t>(SectionOffset(kIdOffsets) + 4 * 2, 7);
  absl::Status s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  // Decreasing: id(1) would have a length of 2^32 - 2.
  Put<uint32_t>(SectionOffset(kIdOffsets) + 4 * 2, 0);
  Put<uint32_t>(SectionOffset(kIdOffsets) + 4 * 1, 2);
  s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(SegmentFileTest, IdOffsetsMustStartAtZero) {
  Put<uint32_t>(SectionOffset(kIdOffsets), 1);
  absl::Status s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(SegmentFileTest, TokenCountsThatOverflowTheSectionSizesAreRejected) {
  // num_tokens 2^63 with 2-byte codes: 2^64 wraps to 0, so empty code and residual sections
  // matched (with 2 residual bytes per token too). doc offsets end at num_tokens.
  const uint64_t ntokens = uint64_t(1) << 63;
  Put<uint64_t>(kNumTokens, ntokens);
  Put<uint64_t>(SectionSizeField(kCodes), 0);
  Put<uint64_t>(SectionSizeField(kResiduals), 0);
  Put<uint64_t>(SectionOffset(kDocOffsets) + 8 * 1, ntokens);
  Put<uint64_t>(SectionOffset(kDocOffsets) + 8 * 2, ntokens);
  Put<uint64_t>(SectionOffset(kDocOffsets) + 8 * 3, ntokens);
  absl::Status s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(SegmentFileTest, DocumentCountsThatOverflowAreRejected) {
  // num_docs 2^62 - 1: (num_docs + 1) * 8 and * 4 wrap to 0, so empty doc and id offset
  // sections matched; doc_offsets_[num_docs] then read 8 bytes before the section (made to
  // hold num_tokens here) and the monotonicity loop walked on past the section (it stopped only
  // because the bytes that follow happen to decrease).
  Build(true);
  ASSERT_TRUE(SegmentFile::Open(path_).ok());
  ASSERT_EQ(Get<uint64_t>(SectionOffset(kDocOffsets) - 8), 6u);
  Put<uint64_t>(kNumDocs, (uint64_t(1) << 62) - 1);
  Put<uint64_t>(SectionSizeField(kDocOffsets), 0);
  Put<uint64_t>(SectionSizeField(kIdOffsets), 0);
  absl::Status s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  // 2^32 documents would truncate to 0 in num_docs() (also caught by the section sizes).
  SetUp();
  Put<uint64_t>(kNumDocs, uint64_t(1) << 32);
  s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(SegmentFileTest, DimensionsThatOverflowAreRejected) {
  // dim 2^30: dim * nbits was computed in 32 bits (packed bytes 0).
  Put<uint32_t>(kDim, uint32_t(1) << 30);
  absl::Status s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  SetUp();
  Put<uint32_t>(kNumCentroids, 0x80000000u);  // int(num_centroids) < 0
  s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(SegmentFileTest, SectionBoundsAreCheckedWithoutOverflow) {
  // offset + size wraps around 2^64 to a small number.
  Put<uint64_t>(SectionOffsetField(kIdBytes), 256);
  Put<uint64_t>(SectionSizeField(kIdBytes), ~uint64_t(0) - 100);
  absl::Status s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  SetUp();
  Put<uint64_t>(SectionOffsetField(kDocOffsets), SectionOffset(kDocOffsets) + 1);  // unaligned
  s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(SegmentFileTest, DocOffsetsAndInvertedListsStayChecked) {
  Put<uint64_t>(SectionOffset(kDocOffsets) + 8 * 1, 7);  // 0 7 5 6: decreases
  absl::Status s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  SetUp();
  Put<uint64_t>(SectionOffset(kIvfOffsets) + 8 * 1, 1000);  // past the list bytes
  s = ResealAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(SegmentFileTest, WideCodesAreCheckedToo) {
  // Switch to 4-byte codes by rewriting the header (sizes must follow).
  Put<uint32_t>(kCodeBytes, 4);
  Put<uint64_t>(SectionSizeField(kCodes), 6 * 4);
  absl::Status s = ResealAndOpen();
  // 24 bytes overlap the residuals section; codes read from them are 0x1b1b1b1b >= 4.
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

// Compaction hands WriteSegment a residual source instead of the rows: the file must be the
// one the rows would give, byte for byte (same format), and the source is asked for bounded
// chunks, in order, each with the codes of its rows.
TEST(SegmentWriteTest, StreamedResidualsGiveTheSameFileInBoundedChunks) {
  Codec codec;
  codec.dim = 128;
  codec.nbits = 4;
  codec.num_centroids = 300;  // codes are u16 on disk, narrowed in chunks
  codec.normalize = true;
  for (int i = 0; i < 300 * 128; ++i) codec.centroids.push_back(float(i % 7) * 0.125f);
  for (int d = 0; d < 128; ++d) {
    for (int b = 0; b < 15; ++b) codec.bucket_cutoffs.push_back(-0.07f + 0.01f * float(b));
    for (int b = 0; b < 16; ++b) codec.bucket_weights.push_back(-0.075f + 0.01f * float(b));
  }
  codec.Finalize();
  const size_t pb = size_t(codec.packed_bytes());
  const uint64_t ntok = 3 * kSegmentWriteChunkBytes / pb + 123;  // 4 chunks, the last partial
  SegmentData rows;
  rows.doc_offsets.push_back(0);
  for (uint64_t t = 0; t < ntok;) {
    const uint64_t n = std::min<uint64_t>(ntok - t, 1 + rows.ids.size() % 300);
    rows.ids.push_back("doc" + std::to_string(rows.ids.size()));
    t += n;
    rows.doc_offsets.push_back(t);
  }
  for (uint64_t t = 0; t < ntok; ++t) rows.codes.push_back(uint32_t((t * 7919) % 300));
  rows.residuals.resize(ntok * pb);
  for (size_t i = 0; i < rows.residuals.size(); ++i) rows.residuals[i] = uint8_t(i * 131 + i / 97);

  const std::string dir = testing::TempDir("segment_write");
  ASSERT_TRUE(WriteSegment(dir + "/rows.tseg", codec, rows).ok());

  SegmentData streamed = rows;
  streamed.residuals.clear();
  uint64_t next = 0, calls = 0, max_rows = 0;
  streamed.residual_source = [&](uint64_t first, std::span<const uint32_t> codes, uint8_t* out) {
    EXPECT_EQ(first, next);
    for (size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(codes[i], rows.codes[first + i]);
    std::memcpy(out, rows.residuals.data() + first * pb, codes.size() * pb);
    next = first + codes.size();
    max_rows = std::max<uint64_t>(max_rows, codes.size());
    ++calls;
    return absl::OkStatus();
  };
  ASSERT_TRUE(WriteSegment(dir + "/streamed.tseg", codec, streamed).ok());
  EXPECT_EQ(next, ntok);
  EXPECT_EQ(calls, 4u);
  EXPECT_LE(max_rows * pb, kSegmentWriteChunkBytes);

  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read(dir + "/streamed.tseg"), read(dir + "/rows.tseg"));
  auto f = SegmentFile::Open(dir + "/streamed.tseg");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->num_tokens(), ntok);
  EXPECT_EQ(0, std::memcmp((*f)->residual(ntok - 1), rows.residuals.data() + (ntok - 1) * pb, pb));

  // A source that fails (a source segment unreadable, say) fails the write: no file, no litter.
  SegmentData failing = streamed;
  failing.residual_source = [](uint64_t first, std::span<const uint32_t>, uint8_t*) {
    return first > 0 ? absl::DataLossError("source gone") : absl::OkStatus();
  };
  const absl::Status st = WriteSegment(dir + "/failed.tseg", codec, failing);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_FALSE(std::filesystem::exists(dir + "/failed.tseg"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/failed.tseg.tmp"));
}

}  // namespace
}  // namespace tartan::index
