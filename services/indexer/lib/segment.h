// The Segment seam: what search, Get, flush and compaction need from a set of stored
// documents, implemented by the fresh in-memory segment (fresh_segment.h: exact vectors, no
// index) and by compressed segments (compressed_segment.h: an mmapped file with centroids,
// residuals and inverted lists). Callers loop over segments through this interface and
// never ask which kind they hold (as faiss's Index / InvertedListScanner and Qdrant's
// SegmentEntry).
//
// A published segment is immutable except for its alive bits, which only go from alive to
// dead (a delete, or a newer version of the document elsewhere). Documents are addressed by
// their local slot number in [0, num_docs()); dead slots keep their number.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/filter.h"
#include "services/indexer/lib/shard_types.h"
#include "services/indexer/lib/stage2_scores.h"

namespace tartan::index {

using Metadata = std::map<std::string, std::string>;

// Heap bytes of one metadata map (keys, values and per-entry node overhead).
uint64_t MetadataBytes(const Metadata& m);

// Segment id of the fresh segment; compressed segments have manifest ids >= 1.
inline constexpr int64_t kFreshSegmentId = -1;

// One bit per document slot, alive or dead; safe to read while another thread kills.
// Relaxed atomics: publication, and "a delete returned before the search began", are ordered
// by the segment set's mutex.
class AliveBits {
 public:
  explicit AliveBits(uint32_t num_docs);
  bool Get(uint32_t local) const {
    return (words_[local >> 6].load(std::memory_order_relaxed) >> (local & 63)) & 1;
  }
  bool Set(uint32_t local);    // true when it was clear
  bool Clear(uint32_t local);  // true when it was set

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
};

// Which documents a search may return (filter and id subset).
class DocPredicate {
 public:
  explicit DocPredicate(const SearchParams& params);
  bool operator()(std::string_view id, const Metadata& metadata) const;

 private:
  const Filter* filter_;
  absl::flat_hash_set<std::string_view> subset_;  // empty: every id
};

// Per-query scores of the query tokens against one codec's centroids, computed once per
// query and shared by every segment encoded with that codec (searcher.cc builds them).
struct CentroidScores {
  const Codec* codec = nullptr;
  int nq = 0;
  std::vector<float> st;              // [nc, nq] centroid-major: st[c * nq + i] = c . q_i
  std::vector<float> best;            // [nc] max_i st[c, i]
  Stage2Table stage2;                 // stage 2's 8-bit copy of st (stage2_scores.h)
  std::vector<uint32_t> probe_begin;  // [nc + 1] into probed_by: the query tokens that
  std::vector<uint32_t> probed_by;    // probed centroid c (c is probed when non-empty)
  bool probed(uint32_t c) const { return probe_begin[c] != probe_begin[c + 1]; }
  std::vector<float> residual_lut;  // [nq, packed_bytes, 256] (residual_lut.h); stage 3 only
};

// What the search hooks see of one query.
struct SearchQuery {
  const float* q = nullptr;  // [nq, dim]
  int nq = 0;
  int dim = 0;
  const SearchParams* params = nullptr;
  const DocPredicate* eligible = nullptr;
  // One entry per codec the searched segments use.
  const std::vector<std::unique_ptr<CentroidScores>>* centroid_scores = nullptr;
  const CentroidScores& ScoresFor(const Codec* codec) const;
  // params->interrupt's verdict (OK when unset); long loops poll it.
  absl::Status Interrupted() const;
};

// Per-thread scratch buffers of the scoring hooks, reused across documents.
struct ScoreScratch {
  std::vector<float> maxes, row, decoded, block, gemm;
  std::vector<uint32_t> offsets, locals;
};

// A scored document of one segment.
struct SegmentHit {
  uint32_t local;
  float score;
};

class Segment {
 public:
  virtual ~Segment() = default;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  int64_t id() const { return id_; }
  virtual uint32_t num_docs() const = 0;  // slots, dead ones included

  // ---- documents: identity and payload, apart from vectors ----
  virtual std::string_view doc_id(uint32_t local) const = 0;
  virtual uint32_t doc_len(uint32_t local) const = 0;  // token vectors
  virtual const Metadata& metadata(uint32_t local) const = 0;
  virtual std::shared_ptr<const Metadata> shared_metadata(uint32_t local) const = 0;
  virtual uint64_t lsn(uint32_t local) const = 0;  // LSN of the write that stored it
  // The document's vectors as stored: exact in the fresh segment; in a compressed segment
  // from its rerank store when it keeps one, else decompressed. out [doc_len, dim].
  virtual void DecodeDoc(uint32_t local, float* out) const = 0;
  // Whether DecodeDoc returns the vectors as written (to f16 rounding), not an approximation.
  virtual bool decodes_exactly() const = 0;

  bool IsAlive(uint32_t local) const { return alive_.Get(local); }
  // Marks a slot dead (a delete or a newer version elsewhere). Only the segment set calls it,
  // under its mutex.
  void Kill(uint32_t local);
  // Marks a slot alive: only while the segment is being built, before it is published.
  void MarkAlive(uint32_t local);
  uint64_t live_docs() const { return live_docs_.load(std::memory_order_relaxed); }
  uint64_t live_tokens() const { return live_tokens_.load(std::memory_order_relaxed); }

  // The codec this segment's vectors are encoded with; nullptr when stored exactly.
  virtual const std::shared_ptr<const Codec>& codec() const = 0;
  virtual uint64_t file_bytes() const = 0;  // on disk, 0 when in memory only
  virtual uint64_t ram_bytes() const = 0;   // held in RAM beyond mmapped files

  // ---- search hooks, in the order the searcher calls them (searcher.cc) ----
  // Documents this segment scores exactly without an index (all of the fresh segment's,
  // none of a compressed segment's), every eligible live one: exact MaxSim into *out.
  virtual void ScoreUnindexed(const SearchQuery& query, std::vector<SegmentHit>* out,
                              ScoreScratch* scratch) const = 0;
  // Stage 1: eligible live documents found through the index near the query (the probed
  // centroids' inverted lists), appended to *out. widen: every eligible live indexed
  // document instead (when the probed ones are too few for k results).
  virtual void FindCandidates(const SearchQuery& query, bool widen,
                              std::vector<uint32_t>* out) const = 0;
  // Stage 2: a cheap approximate score of a candidate (pruned centroid scores).
  virtual float ApproxScore(const SearchQuery& query, uint32_t local,
                            ScoreScratch* scratch) const = 0;
  // Stage 3: a better approximate score of a candidate (refined with residuals).
  virtual float RefinedScore(const SearchQuery& query, uint32_t local,
                             ScoreScratch* scratch) const = 0;
  // Stage 4 decodes the survivors with DecodeDoc. Brute force (params.exact): exact MaxSim
  // of every eligible live document on its stored vectors, into *out.
  virtual void ScoreExhaustively(const SearchQuery& query, std::vector<SegmentHit>* out,
                                 ScoreScratch* scratch) const = 0;

 protected:
  Segment(int64_t id, uint32_t num_docs) : id_(id), alive_(num_docs) {}

 private:
  const int64_t id_;
  AliveBits alive_;
  std::atomic<uint64_t> live_docs_{0}, live_tokens_{0};
};

}  // namespace tartan::index
