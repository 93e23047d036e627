#include "services/indexer/lib/doc_store.h"

#include <chrono>

#include <sqlite3.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <cstring>

#include "absl/strings/str_cat.h"
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

absl::Status DocStore::Err(const char* what) const {
  return absl::InternalError(
      absl::StrCat("sqlite ", what, " (", dir_, "/shard.db): ", sqlite3_errmsg(db_)));
}

absl::Status DocStore::Exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "?";
    sqlite3_free(msg);
    return absl::InternalError(absl::StrCat("sqlite (", dir_, "/shard.db) ", sql, ": ", m));
  }
  return absl::OkStatus();
}

absl::Status DocStore::Prepare(const char* sql, sqlite3_stmt** stmt) {
  if (sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr) != SQLITE_OK) return Err(sql);
  return absl::OkStatus();
}

DocStore::~DocStore() {
  sqlite3_finalize(upsert_);
  sqlite3_finalize(delete_);
  sqlite3_finalize(move_);
  if (db_) sqlite3_close(db_);
}

absl::StatusOr<std::unique_ptr<DocStore>> DocStore::Open(const std::string& dir, int dim) {
  std::unique_ptr<DocStore> s(new DocStore());
  s->dir_ = dir;
  const std::string path = dir + "/shard.db";
  if (sqlite3_open_v2(path.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK)
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ",
                                            s->db_ ? sqlite3_errmsg(s->db_) : "out of memory"));
  sqlite3_busy_timeout(s->db_, 5000);
  RETURN_IF_ERROR(s->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(s->Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(s->Exec(
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS docs(id BLOB NOT NULL UNIQUE, segment INTEGER NOT NULL,"
      " local INTEGER NOT NULL, num_tokens INTEGER NOT NULL, metadata BLOB, vectors BLOB,"
      " checksum INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS segments(id INTEGER PRIMARY KEY, file TEXT NOT NULL,"
      " num_docs INTEGER NOT NULL, num_tokens INTEGER NOT NULL);"));
  // Dim check / record.
  sqlite3_stmt* st = nullptr;
  RETURN_IF_ERROR(s->Prepare("SELECT value FROM meta WHERE key='dim'", &st));
  int rc = sqlite3_step(st);
  int stored = -1;
  if (rc == SQLITE_ROW) stored = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return s->Err("read meta");
  if (stored < 0) {
    RETURN_IF_ERROR(s->Exec(absl::StrCat("INSERT INTO meta VALUES('dim','", dim,
                                         "'),('format','1')").c_str()));
  } else if (stored != dim) {
    return absl::FailedPreconditionError(absl::StrCat(
        "index in ", dir, " has dim ", stored, " but the shard was opened with dim ", dim));
  }
  RETURN_IF_ERROR(s->Prepare(
      "INSERT INTO docs(id, segment, local, num_tokens, metadata, vectors, checksum)"
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET segment=?2, local=?3,"
      " num_tokens=?4, metadata=?5, vectors=?6, checksum=?7",
      &s->upsert_));
  RETURN_IF_ERROR(s->Prepare("DELETE FROM docs WHERE id=?1", &s->delete_));
  RETURN_IF_ERROR(s->Prepare(
      "UPDATE docs SET segment=?2, local=?3, vectors=NULL, checksum=0 WHERE id=?1", &s->move_));
  return s;
}

absl::Status DocStore::Commit() {
  const auto start = std::chrono::steady_clock::now();
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return Err("commit");
  commit_nanos_.fetch_add(uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count()),
                          std::memory_order_relaxed);
  commits_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status DocStore::Apply(const std::vector<WriteOp>& ops, std::vector<int>* deleted) {
  deleted->assign(ops.size(), 0);
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](const char* what) {
    absl::Status st = Err(what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    if (op.is_delete) {
      sqlite3_reset(delete_);
      sqlite3_bind_blob(delete_, 1, op.id.data(), int(op.id.size()), SQLITE_STATIC);
      if (sqlite3_step(delete_) != SQLITE_DONE) return fail("delete");
      (*deleted)[i] = sqlite3_changes(db_) > 0 ? 1 : 0;
      continue;
    }
    const DocRow& r = *op.row;
    const std::string meta = EncodeMetadata(r.metadata);
    const size_t vbytes = r.vectors.size() * sizeof(float);
    sqlite3_reset(upsert_);
    sqlite3_bind_blob(upsert_, 1, r.id.data(), int(r.id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 2, r.segment);
    sqlite3_bind_int64(upsert_, 3, r.local);
    sqlite3_bind_int64(upsert_, 4, r.num_tokens);
    sqlite3_bind_blob(upsert_, 5, meta.data(), int(meta.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(upsert_, 6, r.vectors.data(), int(vbytes), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 7, int64_t(XXH64(r.vectors.data(), vbytes, 0)));
    if (sqlite3_step(upsert_) != SQLITE_DONE) return fail("upsert");
  }
  if (!Commit().ok()) return fail("commit");
  return absl::OkStatus();
}

absl::Status DocStore::ForEachDoc(const std::function<absl::Status(DocRow&&)>& fn) {
  sqlite3_stmt* st = nullptr;
  RETURN_IF_ERROR(Prepare(
      "SELECT id, segment, local, num_tokens, metadata, vectors, checksum FROM docs", &st));
  absl::Status status;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    DocRow r;
    r.id.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)), sqlite3_column_bytes(st, 0));
    r.segment = sqlite3_column_int64(st, 1);
    r.local = uint32_t(sqlite3_column_int64(st, 2));
    r.num_tokens = sqlite3_column_int(st, 3);
    if (!DecodeMetadata(sqlite3_column_blob(st, 4), sqlite3_column_bytes(st, 4), &r.metadata)) {
      status = absl::DataLossError(absl::StrCat("corrupt metadata for document '", r.id, "' in ",
                                                dir_, "/shard.db"));
      break;
    }
    if (r.segment == kMutableSegment) {
      const void* v = sqlite3_column_blob(st, 5);
      const size_t n = size_t(sqlite3_column_bytes(st, 5));
      if (n % sizeof(float) != 0 ||
          int64_t(XXH64(v, n, 0)) != sqlite3_column_int64(st, 6)) {
        status = absl::DataLossError(absl::StrCat("checksum mismatch for document '", r.id,
                                                  "' in ", dir_, "/shard.db"));
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

absl::StatusOr<std::vector<SegmentRow>> DocStore::Segments() {
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

bool DocStore::InsertSegment(const SegmentRow& row) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "INSERT INTO segments VALUES(?1, ?2, ?3, ?4)", -1, &st, nullptr) !=
      SQLITE_OK)
    return false;
  sqlite3_bind_int64(st, 1, row.id);
  sqlite3_bind_text(st, 2, row.file.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, int64_t(row.num_docs));
  sqlite3_bind_int64(st, 4, int64_t(row.num_tokens));
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE;
}

absl::Status DocStore::CommitSegments(const SegmentRow& added, const std::vector<int64_t>& removed,
                                      const std::vector<std::pair<std::string, uint32_t>>& moves) {
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](const char* what) {
    absl::Status st = Err(what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  };
  if (added.id != 0 && !InsertSegment(added)) return fail("insert segment");
  for (int64_t id : removed) {
    const std::string sql = absl::StrCat("DELETE FROM segments WHERE id=", id);
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return fail("delete segment");
  }
  for (const auto& [id, local] : moves) {
    sqlite3_reset(move_);
    sqlite3_bind_blob(move_, 1, id.data(), int(id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(move_, 2, added.id);
    sqlite3_bind_int64(move_, 3, local);
    if (sqlite3_step(move_) != SQLITE_DONE) return fail("move document");
  }
  if (!Commit().ok()) return fail("commit");
  // The moved vectors left mostly-empty pages behind: rewrite the database (it now holds
  // only ids, metadata and the small mutable segment, so this is cheap) and truncate the WAL.
  // Best effort: failure here costs disk space, not correctness.
  if (!moves.empty()) {
    sqlite3_exec(db_, "VACUUM", nullptr, nullptr, nullptr);
    sqlite3_exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  }
  return absl::OkStatus();
}

absl::Status DocStore::CommitImport(const SegmentRow& added, const std::vector<std::string>& ids,
                                    const std::map<std::string, std::string>& metadata) {
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](const char* what) {
    absl::Status st = Err(what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  };
  if (!InsertSegment(added)) return fail("insert segment");
  const std::string meta = EncodeMetadata(metadata);
  for (size_t i = 0; i < ids.size(); ++i) {
    sqlite3_reset(upsert_);
    sqlite3_bind_blob(upsert_, 1, ids[i].data(), int(ids[i].size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 2, added.id);
    sqlite3_bind_int64(upsert_, 3, int64_t(i));
    sqlite3_bind_int64(upsert_, 4, 0);
    sqlite3_bind_blob(upsert_, 5, meta.data(), int(meta.size()), SQLITE_STATIC);
    sqlite3_bind_null(upsert_, 6);
    sqlite3_bind_int64(upsert_, 7, 0);
    if (sqlite3_step(upsert_) != SQLITE_DONE) return fail("insert imported document");
  }
  if (!Commit().ok()) return fail("commit");
  return absl::OkStatus();
}

uint64_t DocStore::FileBytes() const {
  return FileSize(dir_ + "/shard.db") + FileSize(dir_ + "/shard.db-wal");
}

}  // namespace tartan::index
