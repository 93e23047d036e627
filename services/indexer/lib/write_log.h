// The write log: the durable record of a shard apart from its segment files. SQLite in WAL
// journal mode with synchronous=FULL, so every COMMIT has fsynced the WAL before it returns
// (the WAL's frame checksums let SQLite drop a torn tail on recovery). NORMAL would be faster
// but a commit acknowledged under NORMAL can vanish on power loss, which the durability
// contract forbids; group commit recovers the throughput by batching concurrent writers into
// one transaction.
//
// Every applied write (upsert or delete) gets a log sequence number (LSN): consecutive,
// durable, never reused, unchanged by flush and compaction. Tables (format 3):
//   meta(key, value)   dim, format, last_lsn, log_trimmed_through
//   docs(id, segment, local, num_tokens, metadata, vectors, checksum, lsn, row_checksum)
//                      each live document and the LSN of the write that stored it (checksum:
//                      of the vectors; row_checksum: of id and metadata); segment -1
//                      means the fresh segment, with its vectors in this row; otherwise the
//                      document is row `local` of that compressed segment (tombstones are
//                      implicit: a segment row no docs row points at is dead)
//   segments(id, file, num_docs, num_tokens)   the manifest
//   ops(lsn, kind, id) the operations after log_trimmed_through, for ReadOps
// Formats 1 (no LSNs) and 2 (no row checksums) are upgraded in place on open.
//
// Ordering: one commit lock serialises every durable change with its in-memory effect (the
// apply callbacks run under it, in LSN order), so memory always reflects a prefix of the log.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tartan::index {

// The segment id the docs table uses for "in the fresh segment" (segment.h kFreshSegmentId).
inline constexpr int64_t kFreshSegmentRow = -1;

struct DocRow {
  std::string id;
  int64_t segment = kFreshSegmentRow;
  uint32_t local = 0;
  int num_tokens = 0;
  std::map<std::string, std::string> metadata;
  std::vector<float> vectors;  // only for fresh rows: [num_tokens, dim]
  uint64_t lsn = 0;
};

struct SegmentRow {
  int64_t id = 0;
  std::string file;
  uint64_t num_docs = 0, num_tokens = 0;
};

// One write of a group-committed transaction.
struct WriteOp {
  bool is_delete = false;
  std::string id;
  const DocRow* row = nullptr;  // upserts (its lsn is assigned by the log)
};

// What a committed write did, handed to the apply callback in LSN order.
struct AppliedWrite {
  size_t op;  // index into the caller's ops
  uint64_t lsn;
  bool deleted;  // a delete that removed a document
};

// One atomic change of the manifest: a new segment, segments leaving, documents moving.
struct ManifestChange {
  SegmentRow added;              // added.id == 0: none
  std::vector<int64_t> removed;  // segment ids
  // Existing documents that now live at (added.id, local); LSNs unchanged.
  std::vector<std::pair<std::string, uint32_t>> moves;
  // Imports: documents written straight into rows 0..n-1 of `added`, replacing any with the
  // same id; each is a new upsert with its own LSN.
  std::vector<std::string> imported_ids;
  std::map<std::string, std::string> imported_metadata;
};

// An operation read back from the log.
struct LogEntry {
  uint64_t lsn = 0;
  bool is_delete = false;
  std::string id;
  bool current = false;  // an upsert no later write replaced or deleted
};

class WriteLog {
 public:
  struct Options {
    int dim = 128;            // stored on creation; a different one is rejected
    uint64_t retention = 0;   // operations ReadOps can return after they are applied
    int group_commit_ms = 0;  // the group leader waits this long for concurrent writers
  };
  // Opens or creates <dir>/shard.db (upgrading formats 1 and 2).
  static absl::StatusOr<std::unique_ptr<WriteLog>> Open(const std::string& dir,
                                                        const Options& options);
  ~WriteLog();

  using ApplyWrites = std::function<void(std::span<const AppliedWrite>)>;
  // Durably logs `ops` (group-committed with concurrent callers), then calls apply with their
  // LSNs under the commit lock.
  absl::Status Append(const std::vector<WriteOp>& ops, const ApplyWrites& apply);

  // plan() runs under the commit lock (no write can interleave) and returns the change; once
  // it is durable, apply(change, first_lsn) runs under the same lock (first_lsn: the LSN of
  // imported_ids[0]). A failed commit leaves nothing changed.
  absl::Status CommitManifest(
      const std::function<absl::StatusOr<ManifestChange>()>& plan,
      const std::function<void(const ManifestChange&, uint64_t first_lsn)>& apply);

  // Every document row (vectors only for fresh rows), checksums verified. Recovery only.
  absl::Status ForEachDoc(const std::function<absl::Status(DocRow&&)>& fn);
  absl::StatusOr<std::vector<SegmentRow>> Segments();
  // Operations with LSN in (after, last_lsn], oldest first, at most limit. OUT_OF_RANGE when
  // some were trimmed.
  absl::StatusOr<std::vector<LogEntry>> ReadOps(uint64_t after, size_t limit);

  uint64_t last_lsn() const { return last_lsn_.load(std::memory_order_relaxed); }
  uint64_t FileBytes() const;  // db + wal
  // Durable commits so far and the time spent in them (COMMIT: WAL append + fsync).
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  double commit_seconds() const { return commit_nanos_.load(std::memory_order_relaxed) * 1e-9; }
  // Refuses further writes and waits for the one in progress.
  void Close();

 private:
  struct Pending {
    const std::vector<WriteOp>* ops;
    const ApplyWrites* apply;
    absl::Status status;
    bool done = false;
  };
  WriteLog() = default;
  absl::Status Exec(const char* sql);
  absl::Status Prepare(const char* sql, sqlite3_stmt** stmt);
  absl::Status Err(const char* what) const;
  absl::Status Migrate(int format);
  absl::Status AddRowChecksums();  // format 2 -> 3, inside Migrate's transaction
  // <dir>/shard.lsn: refuses a database that ends before the LSN recorded there.
  absl::Status CheckLastLsnRecord();
  void RecordLastLsn(uint64_t lsn);
  absl::Status Begin();
  absl::Status Commit();  // COMMIT, timed; rolls back on failure
  absl::Status Rollback(absl::Status why);
  absl::Status SetMeta(const char* key, uint64_t value);
  // Inside a transaction: one logged operation, and trimming past the retention.
  absl::Status LogOp(uint64_t lsn, bool is_delete, const std::string& id);
  absl::Status TrimLog();
  // Group commit: the leader writes every queued batch in one transaction.
  void CommitBatch(const std::vector<Pending*>& batch);

  std::string dir_;
  uint64_t retention_ = 0;
  std::atomic<uint64_t> commits_{0}, commit_nanos_{0};
  std::atomic<uint64_t> last_lsn_{0};
  uint64_t trimmed_through_ = 0;  // guarded by commit_mu_
  int lsn_fd_ = -1;               // shard.lsn; written under commit_mu_

  std::mutex commit_mu_;  // the database and the order of in-memory effects
  sqlite3* db_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* move_ = nullptr;
  sqlite3_stmt* log_op_ = nullptr;

  std::mutex queue_mu_;  // group commit queue
  std::condition_variable queue_cv_;
  std::deque<Pending*> queue_;
  bool leader_active_ = false;
  bool closed_ = false;  // guarded by queue_mu_
  int group_commit_ms_ = 0;
};

std::string EncodeMetadata(const std::map<std::string, std::string>& m);
bool DecodeMetadata(const void* data, size_t n, std::map<std::string, std::string>* out);

}  // namespace tartan::index
