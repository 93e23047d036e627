// The segment set: the shard's published segments (the fresh one and the compressed ones),
// where each document lives, reader snapshots, and the one Publish through which recovery's
// successors — flush, compaction and import — make a new compressed segment visible.
//
// Locking: mu_ guards the segment list, the fresh version, the locations and the current
// and pinned codecs. Readers hold it shared only to take a snapshot. Writers change it
// exclusively, and only from inside a WriteLog callback (under the log's commit lock), so the
// in-memory state always matches a prefix of the log; the one exception is Pin, which the
// log does not record (the pinned codec is configuration), and UseCodec (a retrained codec,
// persisted by the first segment encoded with it). Lock order: maintenance → log commit lock
// → mu_.
#pragma once

#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/indexer/lib/compressed_segment.h"
#include "services/indexer/lib/fresh_segment.h"
#include "services/indexer/lib/segment_build.h"
#include "services/indexer/lib/write_log.h"

namespace tartan::index {

// What one reader sees: immutable segments (but for alive bits) it may use without locks.
struct SegmentSnapshot {
  std::shared_ptr<const FreshSegment> fresh;
  std::vector<std::shared_ptr<const CompressedSegment>> compressed;  // manifest order
  std::shared_ptr<const Codec> codec;  // the codec new segments are encoded with (or null)
  std::vector<const Segment*> all() const;
};

// A document found by id: its segment (kept alive by the pointer) and slot.
struct DocRef {
  std::shared_ptr<const Segment> segment;
  uint32_t local = 0;
};

class SegmentSet {
 public:
  // pinned: the codec every new segment is encoded with, whatever the loaded segments use
  // (ShardOptions::shared_codec); null: the newest segment's codec.
  SegmentSet(std::string dir, int dim, std::shared_ptr<const Codec> pinned);

  // Recovery, before any other use: opens the manifest's segments, places every document
  // the log holds, and removes segment files the manifest does not list (an interrupted
  // flush or compaction).
  absl::Status Load(WriteLog& log);

  SegmentSnapshot Snapshot() const;
  // Pins `codec` from now on (a codec adopted from another shard at run time): it becomes
  // current, and every new segment is encoded with it. Segments under other codecs stay
  // searchable until compaction re-encodes them.
  void Pin(std::shared_ptr<const Codec> codec);
  std::shared_ptr<const Codec> pinned() const;
  // Makes `codec` current (new segments are encoded with it) unless one is pinned. It is
  // persisted in the first segment encoded with it; a restart before that finds the newest
  // segment's codec current again. Builds under way keep the codec they started with.
  void UseCodec(std::shared_ptr<const Codec> codec);
  std::vector<std::optional<DocRef>> Find(const std::vector<std::string>& ids) const;
  uint64_t num_documents() const;
  uint64_t fresh_tokens() const;

  // Applies committed writes (a WriteLog::ApplyWrites callback). rows[i] belongs to ops[i]
  // for upserts; their vectors and metadata are moved out.
  void ApplyWrites(std::span<const AppliedWrite> applied, const std::vector<WriteOp>& ops,
                   std::vector<DocRow>& rows);

  // Writes the segment file, then commits the manifest change through the log and swaps
  // the in-memory state in the same critical section. Removes replaced segments' files.
  absl::Status Publish(WriteLog& log, SegmentBuild build);

  // documents, token_vectors, segments, dead documents, bytes, RAM, centroids.
  void AddStats(ShardStats* stats) const;

 private:
  struct Location {
    int64_t segment;
    uint32_t local;
  };
  // Needs mu_ held. The published segment with this id, or null.
  Segment* FindSegmentLocked(int64_t id) const;
  // Needs mu_ exclusive: marks the document's current version dead and forgets its location.
  void RemoveLocked(const std::string& id);
  // Needs mu_ exclusive: a new fresh version; relocates the documents it holds.
  void SetFreshLocked(std::shared_ptr<FreshSegment> fresh);

  const std::string dir_;
  const int dim_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<FreshSegment> fresh_;
  std::vector<std::shared_ptr<CompressedSegment>> compressed_;
  absl::flat_hash_map<std::string, Location> locations_;
  std::shared_ptr<const Codec> codec_;
  std::shared_ptr<const Codec> pinned_;
  int64_t next_segment_id_ = 1;
};

}  // namespace tartan::index
