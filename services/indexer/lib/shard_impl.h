// Internal state of a Shard, shared by shard.cc (writes, flush, compaction, recovery) and
// shard_search.cc (search). Not part of the public API.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/indexer/lib/doc_store.h"
#include "services/indexer/lib/segment.h"
#include "services/indexer/lib/shard.h"

namespace tartan::index {

using Metadata = std::map<std::string, std::string>;

struct MutableDoc {
  std::string id;
  int num_tokens = 0;
  std::vector<float> vectors;  // [num_tokens, dim]
  Metadata metadata;
  uint64_t seq = 0;  // write sequence number: detects replacement during a flush
};

// A published segment plus its tombstones. Everything but the alive bits is immutable once
// published; bits only go from alive to dead (relaxed atomics; publication and the
// happens-before of "delete returned -> search started" come from the shard mutex).
struct SegmentHandle {
  int64_t id = 0;
  std::string file;
  std::shared_ptr<Segment> seg;
  std::vector<std::shared_ptr<const Metadata>> metadata;  // [num_docs]
  std::unique_ptr<std::atomic<uint64_t>[]> alive;          // bitset [num_docs]
  std::atomic<uint64_t> live_docs{0}, live_tokens{0};

  void Init(uint32_t num_docs);
  bool IsAlive(uint32_t local) const {
    return (alive[local >> 6].load(std::memory_order_relaxed) >> (local & 63)) & 1;
  }
  void SetAlive(uint32_t local);
  void Kill(uint32_t local);
};

struct Loc {
  int64_t segment = kMutableSegment;
  uint32_t local = 0;
  uint64_t seq = 0;
};

// What a search sees: taken under the shard mutex, then used without it.
struct Snapshot {
  std::vector<std::shared_ptr<const MutableDoc>> mutable_docs;
  std::vector<std::shared_ptr<SegmentHandle>> segments;
};

class ShardImpl {
 public:
  explicit ShardImpl(const ShardOptions& options) : opts_(options) {}
  ~ShardImpl();

  absl::Status Recover();
  absl::Status Upsert(std::vector<Document> docs);
  absl::StatusOr<int> Delete(const std::vector<std::string>& ids);
  absl::StatusOr<std::vector<Hit>> Search(const float* q, int nq, const SearchParams& p) const;
  absl::StatusOr<std::vector<std::optional<Document>>> Get(const std::vector<std::string>& ids) const;
  ShardStats Stats() const;
  absl::Status Flush();
  absl::Status Compact();  // every segment
  // Merges the segments with these ids (all when empty) into one, purging deletes.
  absl::Status CompactSegments(const std::vector<int64_t>& ids);
  absl::StatusOr<int> ImportPlaid(const std::string& dir, const std::string& prefix);
  absl::Status Close();
  const ShardOptions& options() const { return opts_; }

 private:
  struct Pending {
    std::vector<DocRow> rows;
    std::vector<WriteOp> ops;
    std::vector<int> deleted;
    absl::Status status;
    bool done = false;
  };
  absl::Status Submit(Pending* p);
  void CommitBatch(const std::vector<Pending*>& batch);
  void RemoveLocked(const std::string& id);  // drops id from memory state; needs mu_ exclusive
  Snapshot TakeSnapshot() const;
  // Writes `data` as a new segment and atomically publishes it with the given moves.
  // moved[i] = (index into data, expected location); only docs still at their expected
  // location move. `removed` segments leave the manifest in the same transaction.
  absl::Status Publish(const Codec& codec, SegmentData data,
                       const std::vector<std::shared_ptr<const Metadata>>& metadata,
                       const std::vector<Loc>& expected, const std::vector<int64_t>& removed,
                       std::shared_ptr<const Codec> codec_ptr);
  void BackgroundLoop();
  void Kick();

  ShardOptions opts_;
  std::unique_ptr<DocStore> store_;

  mutable std::shared_mutex mu_;  // guards the state below
  absl::flat_hash_map<std::string, Loc> locs_;
  absl::flat_hash_map<std::string, std::shared_ptr<const MutableDoc>> mutable_;
  uint64_t mutable_tokens_ = 0;
  std::vector<std::shared_ptr<SegmentHandle>> segments_;
  std::shared_ptr<const Codec> codec_;
  uint64_t next_seq_ = 1;
  int64_t next_segment_id_ = 1;
  uint64_t compactions_ = 0, flushes_ = 0;

  std::mutex write_mu_;  // serialises DocStore use and the commit phase of every change
  std::mutex maint_mu_;  // one flush/compaction at a time (their build phase runs unlocked)

  std::mutex queue_mu_;  // group commit
  std::condition_variable queue_cv_;
  std::deque<Pending*> queue_;
  bool leader_active_ = false;

  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool bg_stop_ = false, bg_kick_ = false;
  std::thread bg_;
  std::atomic<bool> closed_{false};
};

}  // namespace tartan::index
