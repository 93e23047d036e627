// The durable part of a shard that is not vector segments: SQLite in WAL journal mode with
// synchronous=FULL, so every COMMIT has fsynced the WAL before it returns (the WAL's frame
// checksums let SQLite drop a torn tail on recovery). NORMAL would be faster but a commit
// acknowledged under NORMAL can vanish on power loss, which the durability contract forbids;
// the group-commit policy recovers the throughput by batching writers per transaction.
//
// Tables: meta(key, value) — dim and format; docs(id, segment, local, num_tokens, metadata,
// vectors, checksum) — segment -1 means "in the mutable segment, vectors in this row";
// segments(id, file, num_docs, num_tokens) — the manifest. A document lives in segment s at
// row `local` iff its docs row says so: tombstones are implicit.
// Not thread-safe: the shard serialises calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tartan::index {

inline constexpr int64_t kMutableSegment = -1;

struct DocRow {
  std::string id;
  int64_t segment = kMutableSegment;
  uint32_t local = 0;
  int num_tokens = 0;
  std::map<std::string, std::string> metadata;
  std::vector<float> vectors;  // only for mutable rows: [num_tokens, dim]
};

struct SegmentRow {
  int64_t id = 0;
  std::string file;
  uint64_t num_docs = 0, num_tokens = 0;
};

// One write in a group-committed transaction.
struct WriteOp {
  bool is_delete = false;
  std::string id;
  const DocRow* row = nullptr;  // upserts
};

class DocStore {
 public:
  // Opens or creates <dir>/shard.db; stores `dim` on creation and rejects a different one.
  static absl::StatusOr<std::unique_ptr<DocStore>> Open(const std::string& dir, int dim);
  ~DocStore();

  // One transaction; deleted[i] = 1 if ops[i] was a delete that removed a row.
  absl::Status Apply(const std::vector<WriteOp>& ops, std::vector<int>* deleted);
  // Every document row (vectors only for mutable rows), checksums verified.
  absl::Status ForEachDoc(const std::function<absl::Status(DocRow&&)>& fn);
  absl::StatusOr<std::vector<SegmentRow>> Segments();
  // Atomically: add `added` (if id != 0), remove segments `removed`, and move documents:
  // moves[i] = {doc id, local row in added}; their vectors are dropped from the db.
  absl::Status CommitSegments(const SegmentRow& added, const std::vector<int64_t>& removed,
                              const std::vector<std::pair<std::string, uint32_t>>& moves);
  // Atomically adds segment `added` whose rows 0..ids.size()-1 are the given documents,
  // inserting or replacing their rows (used by imports, which have no mutable phase).
  absl::Status CommitImport(const SegmentRow& added, const std::vector<std::string>& ids,
                            const std::map<std::string, std::string>& metadata);
  uint64_t FileBytes() const;  // db + wal

  // Durable commits so far and the time spent in them (COMMIT: WAL append + fsync under
  // synchronous=FULL), for the WAL latency metric.
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  double commit_seconds() const { return commit_nanos_.load(std::memory_order_relaxed) * 1e-9; }

 private:
  DocStore() = default;
  absl::Status Exec(const char* sql);
  absl::Status Prepare(const char* sql, sqlite3_stmt** stmt);
  absl::Status Err(const char* what) const;
  absl::Status Commit();  // COMMIT, timed
  // Inside an open transaction: adds one row to the segment list (the manifest).
  bool InsertSegment(const SegmentRow& row);

  std::string dir_;
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> commit_nanos_{0};
  sqlite3* db_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* move_ = nullptr;
};

std::string EncodeMetadata(const std::map<std::string, std::string>& m);
bool DecodeMetadata(const void* data, size_t n, std::map<std::string, std::string>* out);

}  // namespace tartan::index
