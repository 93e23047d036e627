#include "services/indexer/lib/write_log.h"

#include <chrono>
#include <thread>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace tartan::index {
namespace {

void PutU32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }

uint64_t FileSize(const std::string& path) {
  struct stat sb;
  return ::stat(path.c_str(), &sb) == 0 ? uint64_t(sb.st_size) : 0;
}

}  // namespace

std::string EncodeMetadata(const std::map<std::string, std::string>& m) {
  std::string s;
  PutU32(&s, uint32_t(m.size()));
  for (const auto& [k, v] : m) {
    PutU32(&s, uint32_t(k.size()));
    s += k;
    PutU32(&s, uint32_t(v.size()));
    s += v;
  }
  return s;
}

bool DecodeMetadata(const void* data, size_t n, std::map<std::string, std::string>* out) {
  out->clear();
  if (n == 0) return true;
  const char* p = static_cast<const char*>(data);
  const char* end = p + n;
  auto u32 = [&](uint32_t* v) {
    if (end - p < 4) return false;
    std::memcpy(v, p, 4);
    p += 4;
    return true;
  };
  auto str = [&](std::string* s) {
    uint32_t len;
    if (!u32(&len) || uint64_t(end - p) < len) return false;
    s->assign(p, len);
    p += len;
    return true;
  };
  uint32_t count;
  if (!u32(&count)) return false;
  for (uint32_t i = 0; i < count; ++i) {
    std::string k, v;
    if (!str(&k) || !str(&v)) return false;
    (*out)[std::move(k)] = std::move(v);
  }
  return p == end;
}

absl::Status WriteLog::Err(const char* what) const {
  const std::string message =
      absl::StrCat("sqlite ", what, " (", dir_, "/shard.db): ", sqlite3_errmsg(db_));
  // A full disk is the operator's to fix, and the write may be retried once it is.
  if (sqlite3_errcode(db_) == SQLITE_FULL) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::Status WriteLog::Exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "?";
    sqlite3_free(msg);
    const std::string message = absl::StrCat("sqlite (", dir_, "/shard.db) ", sql, ": ", m);
    if (sqlite3_errcode(db_) == SQLITE_FULL) return absl::ResourceExhaustedError(message);
    return absl::InternalError(message);
  }
  return absl::OkStatus();
}

absl::Status WriteLog::Prepare(const char* sql, sqlite3_stmt** stmt) {
  if (sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr) != SQLITE_OK) return Err(sql);
  return absl::OkStatus();
}

WriteLog::~WriteLog() {
  sqlite3_finalize(upsert_);
  sqlite3_finalize(delete_);
  sqlite3_finalize(move_);
  sqlite3_finalize(log_op_);
  if (db_) sqlite3_close(db_);
  if (lsn_fd_ >= 0) ::close(lsn_fd_);
}

namespace {

// Reads meta[key] as an integer; nullopt when absent.
absl::StatusOr<std::optional<int64_t>> ReadMeta(sqlite3* db, const char* key) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key=?1", -1, &st, nullptr) != SQLITE_OK)
    return absl::InternalError(sqlite3_errmsg(db));
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(st);
  std::optional<int64_t> v;
  if (rc == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return absl::InternalError(sqlite3_errmsg(db));
  return v;
}

constexpr int kFormat = 3;

// docs.row_checksum: a document's id and stored metadata, so a changed byte is detected on
// open instead of being served (vectors have their own checksum while fresh; segment files
// checksum theirs).
int64_t RowChecksum(const std::string& id, const void* metadata, size_t metadata_bytes) {
  return int64_t(XXH64(metadata, metadata_bytes, XXH64(id.data(), id.size(), 0)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<WriteLog>> WriteLog::Open(const std::string& dir,
                                                         const Options& options) {
  std::unique_ptr<WriteLog> s(new WriteLog());
  s->dir_ = dir;
  s->retention_ = options.retention;
  s->group_commit_ms_ = options.group_commit_ms;
  const std::string path = dir + "/shard.db";
  if (sqlite3_open_v2(path.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ",
                                            s->db_ ? sqlite3_errmsg(s->db_) : "out of memory"));
  }
  sqlite3_busy_timeout(s->db_, 5000);
  // Takes effect only on a new database (before its first table): freed pages can then be
  // returned a few at a time (incremental_vacuum) instead of by a full VACUUM.
  RETURN_IF_ERROR(s->Exec("PRAGMA auto_vacuum=INCREMENTAL"));
  RETURN_IF_ERROR(s->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(s->Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(
      s->Exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
              "CREATE TABLE IF NOT EXISTS segments(id INTEGER PRIMARY KEY, file TEXT NOT NULL,"
              " num_docs INTEGER NOT NULL, num_tokens INTEGER NOT NULL);"));
  ASSIGN_OR_RETURN(std::optional<int64_t> stored_dim, ReadMeta(s->db_, "dim"));
  if (!stored_dim) {
    RETURN_IF_ERROR(s->Exec(
        "CREATE TABLE docs(id BLOB NOT NULL UNIQUE, segment INTEGER NOT NULL,"
        " local INTEGER NOT NULL, num_tokens INTEGER NOT NULL, metadata BLOB, vectors BLOB,"
        " checksum INTEGER NOT NULL, lsn INTEGER NOT NULL, row_checksum INTEGER NOT NULL);"
        "CREATE TABLE ops(lsn INTEGER PRIMARY KEY, kind INTEGER NOT NULL, id BLOB NOT NULL);"));
    RETURN_IF_ERROR(
        s->Exec(absl::StrCat("INSERT INTO meta VALUES('dim','", options.dim, "'),('format','",
                             kFormat, "'),('last_lsn','0'),('log_trimmed_through','0')")
                    .c_str()));
  } else if (*stored_dim != options.dim) {
    return absl::FailedPreconditionError(absl::StrCat("index in ", dir, " has dim ", *stored_dim,
                                                      " but the shard was opened with dim ",
                                                      options.dim));
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> format, ReadMeta(s->db_, "format"));
  if (!format || *format < 1 || *format > kFormat) {
    return absl::FailedPreconditionError(absl::StrCat(path, " has format ", format ? *format : -1,
                                                      "; this build reads formats 1 to ", kFormat,
                                                      " (a newer Tartan wrote it?)"));
  }
  if (*format < kFormat) RETURN_IF_ERROR(s->Migrate(int(*format)));
  ASSIGN_OR_RETURN(std::optional<int64_t> last_lsn, ReadMeta(s->db_, "last_lsn"));
  ASSIGN_OR_RETURN(std::optional<int64_t> trimmed, ReadMeta(s->db_, "log_trimmed_through"));
  if (!last_lsn || !trimmed || *trimmed > *last_lsn)
    return absl::DataLossError(absl::StrCat(path, ": log positions missing or inconsistent"));
  s->last_lsn_ = uint64_t(*last_lsn);
  s->trimmed_through_ = uint64_t(*trimmed);
  RETURN_IF_ERROR(s->CheckLastLsnRecord());
  RETURN_IF_ERROR(s->Prepare(
      "INSERT INTO docs(id, segment, local, num_tokens, metadata, vectors, checksum, lsn,"
      " row_checksum) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(id) DO UPDATE SET"
      " segment=?2, local=?3, num_tokens=?4, metadata=?5, vectors=?6, checksum=?7, lsn=?8,"
      " row_checksum=?9",
      &s->upsert_));
  RETURN_IF_ERROR(s->Prepare("DELETE FROM docs WHERE id=?1", &s->delete_));
  RETURN_IF_ERROR(s->Prepare(
      "UPDATE docs SET segment=?2, local=?3, vectors=NULL, checksum=0 WHERE id=?1", &s->move_));
  RETURN_IF_ERROR(s->Prepare("INSERT INTO ops(lsn, kind, id) VALUES(?1, ?2, ?3)", &s->log_op_));
  return s;
}

// Upgrades step by step, all in one transaction.
//  1 -> 2: LSNs. Every stored document gets one (in row order; they are distinct ids, so any
//          order is a valid history) and is logged as an upsert.
//  2 -> 3: row checksums over id and metadata.
absl::Status WriteLog::Migrate(int format) {
  RETURN_IF_ERROR(Begin());
  absl::Status st;
  if (format < 2) {
    st = Exec(
        "ALTER TABLE docs ADD COLUMN lsn INTEGER NOT NULL DEFAULT 0;"
        "UPDATE docs SET lsn = rowid;"
        "CREATE TABLE ops(lsn INTEGER PRIMARY KEY, kind INTEGER NOT NULL, id BLOB NOT NULL);"
        "INSERT INTO ops(lsn, kind, id) SELECT lsn, 0, id FROM docs;"
        "INSERT OR REPLACE INTO meta VALUES"
        " ('last_lsn', (SELECT COALESCE(MAX(lsn), 0) FROM docs)), ('log_trimmed_through', '0');");
  }
  if (st.ok() && format < 3) st = AddRowChecksums();
  if (st.ok())
    st = Exec(absl::StrCat("UPDATE meta SET value='", kFormat, "' WHERE key='format'").c_str());
  if (!st.ok()) return Rollback(st);
  RETURN_IF_ERROR(Commit());
  LOG_INFO << dir_ << "/shard.db upgraded from format " << format << " to " << kFormat;
  return absl::OkStatus();
}

absl::Status WriteLog::AddRowChecksums() {
  RETURN_IF_ERROR(Exec("ALTER TABLE docs ADD COLUMN row_checksum INTEGER NOT NULL DEFAULT 0"));
  sqlite3_stmt* read = nullptr;
  sqlite3_stmt* write = nullptr;
  RETURN_IF_ERROR(Prepare("SELECT rowid, id, metadata FROM docs", &read));
  absl::Status st = Prepare("UPDATE docs SET row_checksum=?2 WHERE rowid=?1", &write);
  int rc = SQLITE_DONE;
  while (st.ok() && (rc = sqlite3_step(read)) == SQLITE_ROW) {
    const std::string id(static_cast<const char*>(sqlite3_column_blob(read, 1)),
                         size_t(sqlite3_column_bytes(read, 1)));
    sqlite3_reset(write);
    sqlite3_bind_int64(write, 1, sqlite3_column_int64(read, 0));
    sqlite3_bind_int64(
        write, 2,
        RowChecksum(id, sqlite3_column_blob(read, 2), size_t(sqlite3_column_bytes(read, 2))));
    if (sqlite3_step(write) != SQLITE_DONE) st = Err("add row checksum");
  }
  if (st.ok() && rc != SQLITE_DONE) st = Err("scan docs");
  sqlite3_finalize(read);
  sqlite3_finalize(write);
  return st;
}

absl::Status WriteLog::Begin() { return Exec("BEGIN IMMEDIATE"); }

absl::Status WriteLog::Rollback(absl::Status why) {
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return why;
}

absl::Status WriteLog::Commit() {
  const auto start = std::chrono::steady_clock::now();
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return Rollback(Err("commit"));
  commit_nanos_.fetch_add(uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count()),
                          std::memory_order_relaxed);
  commits_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status WriteLog::SetMeta(const char* key, uint64_t value) {
  return Exec(absl::StrCat("UPDATE meta SET value='", value, "' WHERE key='", key, "'").c_str());
}

absl::Status WriteLog::LogOp(uint64_t lsn, bool is_delete, const std::string& id) {
  sqlite3_reset(log_op_);
  sqlite3_bind_int64(log_op_, 1, int64_t(lsn));
  sqlite3_bind_int(log_op_, 2, is_delete ? 1 : 0);
  sqlite3_bind_blob(log_op_, 3, id.data(), int(id.size()), SQLITE_STATIC);
  if (sqlite3_step(log_op_) != SQLITE_DONE) return Err("log operation");
  return absl::OkStatus();
}

// Keeps the last `retention_` operations readable; older ones leave the ops table.
absl::Status WriteLog::TrimLog() {
  const uint64_t last = last_lsn_.load(std::memory_order_relaxed);
  if (last <= retention_ || last - retention_ <= trimmed_through_) return absl::OkStatus();
  const uint64_t through = last - retention_;
  RETURN_IF_ERROR(Exec(absl::StrCat("DELETE FROM ops WHERE lsn <= ", through).c_str()));
  RETURN_IF_ERROR(SetMeta("log_trimmed_through", through));
  trimmed_through_ = through;
  return absl::OkStatus();
}

// ---- the LSN record ----

// <dir>/shard.lsn: {last LSN, xxh64 of it}, rewritten in place after every commit. Not
// fsynced: it survives a killed process (the page cache keeps it), so a database whose WAL was
// truncated or deleted afterwards — losing acknowledged writes — is refused on open instead of
// starting silently without them.
namespace {
constexpr char kLsnFile[] = "/shard.lsn";
}  // namespace

absl::Status WriteLog::CheckLastLsnRecord() {
  const std::string path = dir_ + kLsnFile;
  lsn_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lsn_fd_ < 0)
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  uint64_t record[2];
  const ssize_t n = ::pread(lsn_fd_, record, sizeof(record), 0);
  if (n == ssize_t(sizeof(record)) && XXH64(&record[0], 8, 0) == record[1] &&
      record[0] > last_lsn()) {
    return absl::DataLossError(
        absl::StrCat(dir_, "/shard.db ends at LSN ", last_lsn(), " but writes up to LSN ",
                     record[0], " were acknowledged (", path,
                     "): its write-ahead log (shard.db-wal) was truncated or "
                     "deleted. Restore it, or move ",
                     path, " away to accept the loss"));
  }
  RecordLastLsn(last_lsn());
  return absl::OkStatus();
}

void WriteLog::RecordLastLsn(uint64_t lsn) {
  const uint64_t record[2] = {lsn, XXH64(&lsn, 8, 0)};
  // Best effort: a failed write only weakens the check on the next open.
  if (lsn_fd_ >= 0 && ::pwrite(lsn_fd_, record, sizeof(record), 0) != ssize_t(sizeof(record))) {
    LOG_WARNING << "cannot record the last LSN in " << dir_ << kLsnFile << ": "
                << std::strerror(errno);
  }
}

// ---- writes (group commit) ----

absl::Status WriteLog::Append(const std::vector<WriteOp>& ops, const ApplyWrites& apply) {
  Pending p{&ops, &apply};
  std::unique_lock<std::mutex> l(queue_mu_);
  if (closed_) return absl::FailedPreconditionError("shard is closed");
  queue_.push_back(&p);
  queue_cv_.wait(l, [&] { return p.done || !leader_active_; });
  if (p.done) return p.status;
  // Leader: give concurrent writers a moment to join, then commit everyone in one fsync.
  leader_active_ = true;
  if (group_commit_ms_ > 0) {
    l.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(group_commit_ms_));
    l.lock();
  }
  std::vector<Pending*> batch(queue_.begin(), queue_.end());
  queue_.clear();
  l.unlock();
  CommitBatch(batch);
  l.lock();
  for (Pending* b : batch) b->done = true;
  leader_active_ = false;
  l.unlock();
  queue_cv_.notify_all();
  return p.status;
}

void WriteLog::CommitBatch(const std::vector<Pending*>& batch) {
  std::lock_guard<std::mutex> w(commit_mu_);
  auto fail_all = [&](const absl::Status& st) {
    for (Pending* p : batch) p->status = st;
  };
  if (db_ == nullptr) return fail_all(absl::FailedPreconditionError("shard is closed"));
  if (absl::Status st = Begin(); !st.ok()) return fail_all(st);
  uint64_t lsn = last_lsn_.load(std::memory_order_relaxed);
  std::vector<std::vector<AppliedWrite>> applied(batch.size());
  absl::Status st;
  for (size_t b = 0; b < batch.size() && st.ok(); ++b) {
    const std::vector<WriteOp>& ops = *batch[b]->ops;
    for (size_t i = 0; i < ops.size() && st.ok(); ++i) {
      const WriteOp& op = ops[i];
      ++lsn;
      if (op.is_delete) {
        sqlite3_reset(delete_);
        sqlite3_bind_blob(delete_, 1, op.id.data(), int(op.id.size()), SQLITE_STATIC);
        if (sqlite3_step(delete_) != SQLITE_DONE) {
          st = Err("delete");
          break;
        }
        applied[b].push_back(AppliedWrite{i, lsn, sqlite3_changes(db_) > 0});
      } else {
        const DocRow& r = *op.row;
        const std::string meta = EncodeMetadata(r.metadata);
        const size_t vbytes = r.vectors.size() * sizeof(float);
        sqlite3_reset(upsert_);
        sqlite3_bind_blob(upsert_, 1, r.id.data(), int(r.id.size()), SQLITE_STATIC);
        sqlite3_bind_int64(upsert_, 2, kFreshSegmentRow);
        sqlite3_bind_int64(upsert_, 3, 0);
        sqlite3_bind_int64(upsert_, 4, r.num_tokens);
        sqlite3_bind_blob(upsert_, 5, meta.data(), int(meta.size()), SQLITE_TRANSIENT);
        sqlite3_bind_blob(upsert_, 6, r.vectors.data(), int(vbytes), SQLITE_STATIC);
        sqlite3_bind_int64(upsert_, 7, int64_t(XXH64(r.vectors.data(), vbytes, 0)));
        sqlite3_bind_int64(upsert_, 8, int64_t(lsn));
        sqlite3_bind_int64(upsert_, 9, RowChecksum(r.id, meta.data(), meta.size()));
        if (sqlite3_step(upsert_) != SQLITE_DONE) {
          st = Err("upsert");
          break;
        }
        applied[b].push_back(AppliedWrite{i, lsn, false});
      }
      st = LogOp(lsn, op.is_delete, op.id);
    }
  }
  const uint64_t previous = last_lsn_.load(std::memory_order_relaxed);
  if (st.ok()) st = SetMeta("last_lsn", lsn);
  if (st.ok()) {
    last_lsn_.store(lsn, std::memory_order_relaxed);
    st = TrimLog();
  }
  if (st.ok()) st = Commit();
  if (!st.ok()) {
    if (sqlite3_get_autocommit(db_) == 0) st = Rollback(st);  // still in the transaction
    last_lsn_.store(previous, std::memory_order_relaxed);
    return fail_all(st);
  }
  RecordLastLsn(lsn);
  for (size_t b = 0; b < batch.size(); ++b) (*batch[b]->apply)(applied[b]);
}

// ---- manifest ----

absl::Status WriteLog::CommitManifest(
    const std::function<absl::StatusOr<ManifestChange>()>& plan,
    const std::function<void(const ManifestChange&, uint64_t first_lsn)>& apply) {
  std::lock_guard<std::mutex> w(commit_mu_);
  if (db_ == nullptr) return absl::FailedPreconditionError("shard is closed");
  ASSIGN_OR_RETURN(const ManifestChange change, plan());
  RETURN_IF_ERROR(Begin());
  const uint64_t previous = last_lsn_.load(std::memory_order_relaxed);
  auto fail = [&](absl::Status st) {
    last_lsn_.store(previous, std::memory_order_relaxed);
    return Rollback(std::move(st));
  };
  const SegmentRow& added = change.added;
  if (added.id != 0) {
    sqlite3_stmt* st = nullptr;
    RETURN_IF_ERROR(Prepare("INSERT INTO segments VALUES(?1, ?2, ?3, ?4)", &st));
    sqlite3_bind_int64(st, 1, added.id);
    sqlite3_bind_text(st, 2, added.file.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, int64_t(added.num_docs));
    sqlite3_bind_int64(st, 4, int64_t(added.num_tokens));
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(Err("insert segment"));
  }
  for (int64_t id : change.removed) {
    if (absl::Status st = Exec(absl::StrCat("DELETE FROM segments WHERE id=", id).c_str());
        !st.ok())
      return fail(st);
  }
  for (const auto& [id, local] : change.moves) {
    sqlite3_reset(move_);
    sqlite3_bind_blob(move_, 1, id.data(), int(id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(move_, 2, added.id);
    sqlite3_bind_int64(move_, 3, local);
    if (sqlite3_step(move_) != SQLITE_DONE) return fail(Err("move document"));
  }
  const uint64_t first_lsn = previous + 1;
  uint64_t lsn = previous;
  const std::string meta = EncodeMetadata(change.imported_metadata);
  for (size_t i = 0; i < change.imported_ids.size(); ++i) {
    const std::string& id = change.imported_ids[i];
    ++lsn;
    sqlite3_reset(upsert_);
    sqlite3_bind_blob(upsert_, 1, id.data(), int(id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 2, added.id);
    sqlite3_bind_int64(upsert_, 3, int64_t(i));
    sqlite3_bind_int64(upsert_, 4, 0);
    sqlite3_bind_blob(upsert_, 5, meta.data(), int(meta.size()), SQLITE_STATIC);
    sqlite3_bind_null(upsert_, 6);
    sqlite3_bind_int64(upsert_, 7, 0);
    sqlite3_bind_int64(upsert_, 8, int64_t(lsn));
    sqlite3_bind_int64(upsert_, 9, RowChecksum(id, meta.data(), meta.size()));
    if (sqlite3_step(upsert_) != SQLITE_DONE) return fail(Err("insert imported document"));
    if (absl::Status st = LogOp(lsn, false, id); !st.ok()) return fail(st);
  }
  if (lsn != previous) {
    if (absl::Status st = SetMeta("last_lsn", lsn); !st.ok()) return fail(st);
    last_lsn_.store(lsn, std::memory_order_relaxed);
    if (absl::Status st = TrimLog(); !st.ok()) return fail(st);
  }
  if (absl::Status st = Commit(); !st.ok()) {
    last_lsn_.store(previous, std::memory_order_relaxed);
    return st;
  }
  if (lsn != previous) RecordLastLsn(lsn);
  apply(change, first_lsn);
  // The moved vectors left free pages behind: give them back to the file system (cost in
  // proportion to the pages freed; a no-op on databases created before auto_vacuum, whose
  // free pages are reused by later writes) and truncate the WAL. Never a full VACUUM here:
  // it would rewrite the whole database under the commit lock. Best effort: failure costs
  // disk space, not correctness.
  if (!change.moves.empty()) {
    sqlite3_exec(db_, "PRAGMA incremental_vacuum", nullptr, nullptr, nullptr);
    sqlite3_exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  }
  return absl::OkStatus();
}

// ---- reads ----

absl::Status WriteLog::ForEachDoc(const std::function<absl::Status(DocRow&&)>& fn) {
  std::lock_guard<std::mutex> w(commit_mu_);
  sqlite3_stmt* st = nullptr;
  RETURN_IF_ERROR(Prepare(
      "SELECT id, segment, local, num_tokens, metadata, vectors, checksum, lsn, row_checksum"
      " FROM docs",
      &st));
  absl::Status status;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    DocRow r;
    r.id.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)), sqlite3_column_bytes(st, 0));
    r.segment = sqlite3_column_int64(st, 1);
    r.local = uint32_t(sqlite3_column_int64(st, 2));
    r.num_tokens = sqlite3_column_int(st, 3);
    r.lsn = uint64_t(sqlite3_column_int64(st, 7));
    if (RowChecksum(r.id, sqlite3_column_blob(st, 4), size_t(sqlite3_column_bytes(st, 4))) !=
        sqlite3_column_int64(st, 8)) {
      status =
          absl::DataLossError(absl::StrCat("checksum mismatch for the id or metadata of "
                                           "document '",
                                           r.id, "' in ", dir_, "/shard.db"));
      break;
    }
    if (!DecodeMetadata(sqlite3_column_blob(st, 4), sqlite3_column_bytes(st, 4), &r.metadata)) {
      status = absl::DataLossError(
          absl::StrCat("corrupt metadata for document '", r.id, "' in ", dir_, "/shard.db"));
      break;
    }
    if (r.segment == kFreshSegmentRow) {
      const void* v = sqlite3_column_blob(st, 5);
      const size_t n = size_t(sqlite3_column_bytes(st, 5));
      if (n % sizeof(float) != 0 || int64_t(XXH64(v, n, 0)) != sqlite3_column_int64(st, 6)) {
        status = absl::DataLossError(
            absl::StrCat("checksum mismatch for document '", r.id, "' in ", dir_, "/shard.db"));
        break;
      }
      r.vectors.resize(n / sizeof(float));
      if (n) std::memcpy(r.vectors.data(), v, n);
    }
    status = fn(std::move(r));
    if (!status.ok()) break;
  }
  if (status.ok() && rc != SQLITE_DONE && rc != SQLITE_ROW) status = Err("scan docs");
  sqlite3_finalize(st);
  return status;
}

absl::StatusOr<std::vector<SegmentRow>> WriteLog::Segments() {
  std::lock_guard<std::mutex> w(commit_mu_);
  sqlite3_stmt* st = nullptr;
  RETURN_IF_ERROR(Prepare("SELECT id, file, num_docs, num_tokens FROM segments ORDER BY id", &st));
  std::vector<SegmentRow> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    SegmentRow r;
    r.id = sqlite3_column_int64(st, 0);
    r.file = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    r.num_docs = uint64_t(sqlite3_column_int64(st, 2));
    r.num_tokens = uint64_t(sqlite3_column_int64(st, 3));
    out.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Err("scan segments");
  return out;
}

absl::StatusOr<std::vector<LogEntry>> WriteLog::ReadOps(uint64_t after, size_t limit) {
  std::lock_guard<std::mutex> w(commit_mu_);
  if (db_ == nullptr) return absl::FailedPreconditionError("shard is closed");
  if (after < trimmed_through_) {
    return absl::OutOfRangeError(absl::StrCat("operations after LSN ", after,
                                              " are no longer retained (the log starts after ",
                                              trimmed_through_, ")"));
  }
  sqlite3_stmt* st = nullptr;
  RETURN_IF_ERROR(
      Prepare("SELECT o.lsn, o.kind, o.id, d.lsn IS NOT NULL"
              " FROM ops o LEFT JOIN docs d ON d.id = o.id AND d.lsn = o.lsn"
              " WHERE o.lsn > ?1 ORDER BY o.lsn LIMIT ?2",
              &st));
  sqlite3_bind_int64(st, 1, int64_t(after));
  sqlite3_bind_int64(st, 2, int64_t(std::min<size_t>(limit, INT64_MAX)));
  std::vector<LogEntry> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    LogEntry e;
    e.lsn = uint64_t(sqlite3_column_int64(st, 0));
    e.is_delete = sqlite3_column_int(st, 1) != 0;
    e.id.assign(static_cast<const char*>(sqlite3_column_blob(st, 2)), sqlite3_column_bytes(st, 2));
    e.current = !e.is_delete && sqlite3_column_int(st, 3) != 0;
    out.push_back(std::move(e));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Err("read log");
  return out;
}

uint64_t WriteLog::FileBytes() const {
  return FileSize(dir_ + "/shard.db") + FileSize(dir_ + "/shard.db-wal");
}

void WriteLog::Close() {
  {
    std::lock_guard<std::mutex> l(queue_mu_);
    closed_ = true;
  }
  std::lock_guard<std::mutex> w(commit_mu_);
  sqlite3_finalize(upsert_);
  sqlite3_finalize(delete_);
  sqlite3_finalize(move_);
  sqlite3_finalize(log_op_);
  upsert_ = delete_ = move_ = log_op_ = nullptr;
  if (db_) sqlite3_close(db_);
  db_ = nullptr;
  if (lsn_fd_ >= 0) ::close(lsn_fd_);
  lsn_fd_ = -1;
}

}  // namespace tartan::index
