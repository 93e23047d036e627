// Immutable compressed segment: one file, memory-mapped, versioned and checksummed.
//
// Layout (little endian): a 256-byte header (magic "TARTSEG\0", version, dims, counts, codec
// id, a table of section {offset, size}), 64-byte aligned sections, and a trailing xxh64 of
// every preceding byte. Sections: centroids f16 [nc, dim]; bucket cutoffs f32 [dim, 2^b-1];
// bucket weights f32 [dim, 2^b]; doc offsets u64 [ndocs+1] (token rows); codes u16 or u32
// [ntokens]; residuals u8 [ntokens, dim*nbits/8]; inverted lists: byte offsets u64 [nc+1]
// into a byte array holding, per centroid, its sorted unique local doc numbers as LEB128
// varint deltas (about 1-2 bytes per entry instead of 4); ids: offsets u32 [ndocs+1] + bytes;
// since version 2, optionally the rerank store: every token vector as f16 [ntokens, dim]
// (2 * dim bytes per token; empty when the shard keeps none). Version 1 files, which have no
// rerank store, still open.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/indexer/lib/codec.h"

namespace tartan::index {

// Fills the residual rows [first, first + codes.size()), whose codes are `codes`, into out
// [codes.size(), packed_bytes].
using ResidualSource =
    std::function<absl::Status(uint64_t first, std::span<const uint32_t> codes, uint8_t* out)>;

// Input of WriteSegment.
struct SegmentData {
  std::vector<std::string> ids;       // [ndocs]
  std::vector<uint64_t> doc_offsets;  // [ndocs + 1], token rows
  std::vector<uint32_t> codes;        // [ntokens]
  // [ntokens, codec.packed_bytes()], or empty when residual_source supplies the rows: the
  // residuals are most of a segment, so compaction streams them from the source segments
  // instead of holding the merged ones in memory.
  std::vector<uint8_t> residuals;
  ResidualSource residual_source;
  // When set, the segment keeps the rerank store: fills f16 rows [first, first + n) of the
  // token vectors into out [n, dim].
  std::function<absl::Status(uint64_t first, uint64_t n, uint16_t* out)> exact_source;
};

// Writes `path` durably: temp file, fsync, rename, fsync of the directory. Residual rows from
// data.residual_source are asked for in chunks of about kSegmentWriteChunkBytes.
constexpr size_t kSegmentWriteChunkBytes = 1 << 20;
absl::Status WriteSegment(const std::string& path, const Codec& codec, const SegmentData& data);
// A codec file: a segment file holding no documents, only the codec (what `tartanctl
// train-codec` writes, tartan-indexer --codec_file reads and GetCodec sends). path must name
// a file in an existing folder; written atomically, like every segment.
absl::Status WriteCodecFile(const std::string& path, const Codec& codec);

class SegmentFile {
 public:
  // Maps the file and validates magic, version, section bounds and (when verify) the checksum.
  static absl::StatusOr<std::shared_ptr<SegmentFile>> Open(const std::string& path,
                                                           bool verify = true);
  ~SegmentFile();
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  const std::shared_ptr<const Codec>& codec() const { return codec_; }
  // Lets segments trained together share one Codec object (same id).
  void ShareCodec(std::shared_ptr<const Codec> codec) { codec_ = std::move(codec); }
  uint32_t num_docs() const { return num_docs_; }
  uint64_t num_tokens() const { return num_tokens_; }
  uint64_t doc_begin(uint32_t doc) const { return doc_offsets_[doc]; }
  uint32_t doc_len(uint32_t doc) const {
    return uint32_t(doc_offsets_[doc + 1] - doc_offsets_[doc]);
  }
  uint32_t code(uint64_t token) const { return codes16_ ? codes16_[token] : codes32_[token]; }
  // Every token's code: u16 when the codec has at most 65,536 centroids, else u32; the other
  // one is null.
  const uint16_t* codes16() const { return codes16_; }
  const uint32_t* codes32() const { return codes32_; }
  const uint8_t* residual(uint64_t token) const { return residuals_ + token * packed_bytes_; }
  // Local doc numbers (ascending) whose tokens include centroid c, appended to *out.
  void IvfDocs(uint32_t c, std::vector<uint32_t>* out) const;
  std::string_view id(uint32_t doc) const {
    return std::string_view(id_bytes_ + id_offsets_[doc], id_offsets_[doc + 1] - id_offsets_[doc]);
  }
  size_t file_bytes() const { return size_; }
  // Whether the file keeps the rerank store (full-precision f16 token vectors).
  bool has_exact() const { return exact_ != nullptr; }
  // f16 rows of the rerank store from token row `token` on; only when has_exact().
  const uint16_t* exact(uint64_t token) const { return exact_ + token * uint64_t(dim_); }
  // doc's token vectors into out [doc_len, dim]: from the rerank store when the file keeps
  // one, else decompressed (centroid + residual).
  void DecodeDoc(uint32_t doc, float* out) const;
  // Codes of the doc's tokens as u32.
  void DocCodes(uint32_t doc, uint32_t* out) const;

 private:
  SegmentFile() = default;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  std::shared_ptr<const Codec> codec_;
  uint32_t num_docs_ = 0;
  uint64_t num_tokens_ = 0;
  int packed_bytes_ = 0;
  int dim_ = 0;
  const uint64_t* doc_offsets_ = nullptr;
  const uint16_t* codes16_ = nullptr;
  const uint32_t* codes32_ = nullptr;
  const uint8_t* residuals_ = nullptr;
  const uint64_t* ivf_offsets_ = nullptr;
  const uint8_t* ivf_bytes_ = nullptr;
  const uint32_t* id_offsets_ = nullptr;
  const char* id_bytes_ = nullptr;
  const uint16_t* exact_ = nullptr;
};

// fsyncs a directory so a rename or unlink in it is durable.
absl::Status FsyncDir(const std::string& dir);

}  // namespace tartan::index
