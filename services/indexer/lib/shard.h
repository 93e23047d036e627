// One index shard: durable multi-vector (ColBERT) storage with PLAID-style MaxSim search.
// The front door of the shard engine (docs/architecture.md):
//   WriteLog (write_log.h)      every write, with its log sequence number (LSN), and the
//                               manifest, durable before it is acknowledged;
//   SegmentSet (segment_set.h)  the fresh in-memory segment and the compressed segments,
//                               reader snapshots and the one Publish;
//   Searcher (searcher.h)       the search stages over the Segment interface (segment.h);
//   Maintenance (maintenance.h) background flush, codec retraining, tiered compaction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/indexer/lib/shard_types.h"

namespace tartan::index {

class DirLock;
struct DocRow;
class WriteLog;
class SegmentSet;
class Maintenance;

class Shard {
 public:
  // Creates the shard in options.data_dir or recovers it. Fails when the stored dim differs.
  static absl::StatusOr<std::unique_ptr<Shard>> Open(const ShardOptions& options);
  ~Shard();

  // Durable (per the fsync policy) when it returns; replaces documents with the same id.
  absl::Status Upsert(std::vector<Document> docs);
  // Returns how many of `ids` existed and were deleted.
  absl::StatusOr<int> Delete(const std::vector<std::string>& ids);
  // query: [num_query_tokens, dim]. Scores are MaxSim on the stored (decompressed) vectors.
  absl::StatusOr<std::vector<Hit>> Search(const float* query, int num_query_tokens,
                                          const SearchParams& params) const;
  // Documents with metadata and (when options.vectors) their vectors as stored, decompressed
  // for compressed segments; nullopt for unknown ids.
  absl::StatusOr<std::vector<std::optional<Document>>> Get(const std::vector<std::string>& ids,
                                                           const GetOptions& options = {}) const;
  // The applied operations with LSN > after_lsn, oldest first, at most `limit`. OUT_OF_RANGE
  // when some of them are no longer retained (options.log_retention_ops).
  absl::StatusOr<std::vector<LoggedOperation>> ReadLog(uint64_t after_lsn, size_t limit) const;
  ShardStats Stats() const;
  absl::Status Flush();    // mutable segment -> compressed segment
  absl::Status Compact();  // merge every segment into one, purge deleted documents
  // The codec new segments are encoded with (null before the first flush).
  std::shared_ptr<const Codec> codec() const;
  // Adopts another shard's codec (the index's shared one) for good: the shard stops training
  // its own and re-encodes its segments with it before returning. INVALID_ARGUMENT when its
  // dim differs from the shard's.
  absl::Status AdoptCodec(std::shared_ptr<const Codec> codec);
  // Imports a fast-plaid / PyLate PLAID index directory as one segment. Document ids are
  // id_prefix + passage number; existing ids are replaced.
  absl::StatusOr<int> ImportPlaidIndex(const std::string& plaid_dir, const std::string& id_prefix);
  absl::Status Close();

 private:
  explicit Shard(const ShardOptions& options);
  absl::Status Recover();
  // RESOURCE_EXHAUSTED when the write would take the fresh segment past its bound.
  absl::Status CheckBackpressure(const std::vector<DocRow>& rows);

  const ShardOptions opts_;
  std::unique_ptr<DirLock> lock_;  // held from Open to Close
  std::unique_ptr<WriteLog> log_;
  std::unique_ptr<SegmentSet> segments_;
  std::unique_ptr<Maintenance> maintenance_;
};

}  // namespace tartan::index
