// The shard's front door: validates requests and routes them to the write log, the segment
// set, the searcher and maintenance (docs/architecture.md).
#include "services/indexer/lib/shard.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "services/indexer/lib/dir_lock.h"
#include "services/indexer/lib/maintenance.h"
#include "services/indexer/lib/plaid_import.h"
#include "services/indexer/lib/searcher.h"
#include "services/indexer/lib/segment_set.h"
#include "services/indexer/lib/write_log.h"

namespace tartan::index {
namespace {

absl::Status ValidateDoc(const Document& d, int dim) {
  if (d.id.empty() || d.id.size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("document id must be 1-256 bytes, got ", d.id.size()));
  }
  if (d.num_tokens < 0 || d.vectors.size() != size_t(d.num_tokens) * dim) {
    return absl::InvalidArgumentError(absl::StrCat("document '", d.id, "': ", d.vectors.size(),
                                                   " floats for ", d.num_tokens, " tokens of dim ",
                                                   dim));
  }
  for (float v : d.vectors) {
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("document '", d.id, "' has a non-finite value"));
    }
  }
  return absl::OkStatus();
}

// A stored document as the API returns it.
Document ToDocument(const Segment& seg, uint32_t local, int dim, bool vectors) {
  Document d;
  d.id = std::string(seg.doc_id(local));
  d.num_tokens = int(seg.doc_len(local));
  d.metadata = seg.metadata(local);
  if (vectors) {
    d.vectors.resize(size_t(d.num_tokens) * dim);
    seg.DecodeDoc(local, d.vectors.data());
  }
  return d;
}

}  // namespace

Shard::Shard(const ShardOptions& options) : opts_(options) {}

Shard::~Shard() { Close().IgnoreError(); }

absl::StatusOr<std::unique_ptr<Shard>> Shard::Open(const ShardOptions& options) {
  std::unique_ptr<Shard> shard(new Shard(options));
  RETURN_IF_ERROR(shard->Recover());
  return shard;
}

absl::Status Shard::Recover() {
  if (opts_.dim < 8 || opts_.dim > 4096 || opts_.dim % 8 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim must be a multiple of 8 in [8, 4096], got ", opts_.dim));
  }
  if (opts_.nbits != 1 && opts_.nbits != 2 && opts_.nbits != 4)
    return absl::InvalidArgumentError(absl::StrCat("nbits must be 1, 2 or 4, got ", opts_.nbits));
  if (opts_.max_unflushed_tokens != 0 &&
      opts_.max_unflushed_tokens < 2 * opts_.flush_threshold_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_unflushed_tokens (", opts_.max_unflushed_tokens,
        ") must be 0 or at least 2 x flush_threshold_tokens (", opts_.flush_threshold_tokens, ")"));
  }
  if (opts_.shared_codec && opts_.shared_codec->dim != opts_.dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the shared codec has dim ", opts_.shared_codec->dim, ", the shard ", opts_.dim));
  }
  if (opts_.index_delay_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("index_delay_ms must be >= 0, got ", opts_.index_delay_ms));
  }
  if (opts_.build_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("build_threads must be >= 0, got ", opts_.build_threads));
  }
  std::error_code ec;
  std::filesystem::create_directories(opts_.data_dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create ", opts_.data_dir, ": ", ec.message()));
  ASSIGN_OR_RETURN(lock_, DirLock::Acquire(opts_.data_dir));
  WriteLog::Options log_options;
  log_options.dim = opts_.dim;
  log_options.retention = opts_.log_retention_ops;
  log_options.group_commit_ms =
      opts_.fsync == ShardOptions::Fsync::kGroupCommit ? opts_.group_commit_ms : 0;
  ASSIGN_OR_RETURN(log_, WriteLog::Open(opts_.data_dir, log_options));
  segments_ = std::make_unique<SegmentSet>(opts_.data_dir, opts_.dim, opts_.shared_codec);
  RETURN_IF_ERROR(segments_->Load(*log_));
  maintenance_ = std::make_unique<Maintenance>(opts_, *log_, *segments_);
  maintenance_->Start();
  return absl::OkStatus();
}

absl::Status Shard::Close() {
  if (maintenance_) maintenance_->Stop();
  if (log_) log_->Close();
  lock_.reset();
  return absl::OkStatus();
}

absl::Status Shard::Upsert(std::vector<Document> docs) {
  std::vector<DocRow> rows;
  rows.reserve(docs.size());
  for (Document& d : docs) {
    RETURN_IF_ERROR(ValidateDoc(d, opts_.dim));
    DocRow r;
    r.id = std::move(d.id);
    r.num_tokens = d.num_tokens;
    r.vectors = std::move(d.vectors);
    r.metadata = std::move(d.metadata);
    rows.push_back(std::move(r));
  }
  RETURN_IF_ERROR(CheckBackpressure(rows));
  std::vector<WriteOp> ops;
  ops.reserve(rows.size());
  for (const DocRow& r : rows) ops.push_back(WriteOp{false, r.id, &r});
  RETURN_IF_ERROR(log_->Append(ops, [&](std::span<const AppliedWrite> applied) {
    segments_->ApplyWrites(applied, ops, rows);
  }));
  if (segments_->fresh_tokens() >= opts_.flush_threshold_tokens) {
    if (!opts_.background_compaction) return Flush();
    maintenance_->Kick();
  }
  return absl::OkStatus();
}

absl::Status Shard::CheckBackpressure(const std::vector<DocRow>& rows) {
  const uint64_t limit = opts_.max_unflushed_tokens > 0
                             ? opts_.max_unflushed_tokens
                             : 4 * uint64_t(opts_.flush_threshold_tokens);
  uint64_t incoming = 0;
  for (const DocRow& r : rows) incoming += uint64_t(r.num_tokens);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.max_write_stall_ms);
  for (;;) {
    const uint64_t fresh = segments_->fresh_tokens();
    // Below the flush threshold any batch is taken (no request is refused for ever); above
    // it a flush is due, and the write waits for it once it would pass the limit.
    if (fresh < opts_.flush_threshold_tokens || fresh + incoming <= limit) return absl::OkStatus();
    if (!opts_.background_compaction) return Flush();  // flushes run inline: never behind
    // While flushes fail (a full disk), waiting cannot help: say why now, not after the stall.
    if (absl::Status failing = maintenance_->FlushError(); !failing.ok()) {
      return absl::Status(
          failing.code() == absl::StatusCode::kResourceExhausted ? failing.code()
                                                                 : absl::StatusCode::kUnavailable,
          absl::StrCat("the shard holds ", fresh,
                       " unflushed token vectors and cannot flush them: ", failing.message(),
                       "; retry later"));
    }
    maintenance_->Kick();
    if (!maintenance_->WaitForFlush(deadline)) {
      if (absl::Status failing = maintenance_->FlushError(); !failing.ok()) continue;
      return absl::ResourceExhaustedError(
          absl::StrCat("the shard holds ", fresh, " unflushed token vectors and this write adds ",
                       incoming, " (limit ", limit, "); flushing has fallen behind for ",
                       opts_.max_write_stall_ms, " ms: retry later"));
    }
  }
}

absl::StatusOr<int> Shard::Delete(const std::vector<std::string>& ids) {
  std::vector<WriteOp> ops;
  ops.reserve(ids.size());
  for (const std::string& id : ids) ops.push_back(WriteOp{true, id, nullptr});
  std::vector<DocRow> no_rows;
  int deleted = 0;
  RETURN_IF_ERROR(log_->Append(ops, [&](std::span<const AppliedWrite> applied) {
    for (const AppliedWrite& w : applied) deleted += w.deleted ? 1 : 0;
    segments_->ApplyWrites(applied, ops, no_rows);
  }));
  return deleted;
}

absl::StatusOr<std::vector<Hit>> Shard::Search(const float* query, int num_query_tokens,
                                               const SearchParams& params) const {
  return index::Search(segments_->Snapshot(), query, num_query_tokens, opts_.dim, params);
}

absl::StatusOr<std::vector<std::optional<Document>>> Shard::Get(const std::vector<std::string>& ids,
                                                                const GetOptions& options) const {
  std::vector<std::optional<DocRef>> refs = segments_->Find(ids);
  std::vector<std::optional<Document>> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    if (refs[i]) out[i] = ToDocument(*refs[i]->segment, refs[i]->local, opts_.dim, options.vectors);
  return out;
}

absl::StatusOr<std::vector<LoggedOperation>> Shard::ReadLog(uint64_t after_lsn,
                                                            size_t limit) const {
  ASSIGN_OR_RETURN(std::vector<LogEntry> entries, log_->ReadOps(after_lsn, limit));
  // Vectors of flushed documents live in their segment: find the stored version by id. A
  // document whose current version is newer than the entry was replaced meanwhile.
  std::vector<std::string> ids;
  for (const LogEntry& e : entries)
    if (e.current) ids.push_back(e.id);
  std::vector<std::optional<DocRef>> refs = segments_->Find(ids);
  std::vector<LoggedOperation> out;
  out.reserve(entries.size());
  size_t next_ref = 0;
  for (LogEntry& e : entries) {
    LoggedOperation op;
    op.kind = e.is_delete ? LoggedOperation::Kind::kDelete : LoggedOperation::Kind::kUpsert;
    op.lsn = e.lsn;
    op.id = std::move(e.id);
    if (e.current) {
      const std::optional<DocRef>& ref = refs[next_ref++];
      if (ref && ref->segment->lsn(ref->local) == op.lsn)
        op.document = ToDocument(*ref->segment, ref->local, opts_.dim, /*vectors=*/true);
    }
    out.push_back(std::move(op));
  }
  return out;
}

ShardStats Shard::Stats() const {
  ShardStats s;
  segments_->AddStats(&s);
  s.compactions = maintenance_->compactions();
  s.flushes = maintenance_->flushes();
  s.flush_running = maintenance_->flush_running();
  s.compaction_running = maintenance_->compaction_running();
  s.retrain_running = maintenance_->retrain_running();
  s.bytes_on_disk += log_->FileBytes();
  s.wal_commits = log_->commits();
  s.wal_commit_seconds = log_->commit_seconds();
  s.last_lsn = log_->last_lsn();
  return s;
}

absl::Status Shard::Flush() { return maintenance_->Flush(); }

absl::Status Shard::Compact() { return maintenance_->Compact(); }

std::shared_ptr<const Codec> Shard::codec() const { return segments_->Snapshot().codec; }

absl::Status Shard::AdoptCodec(std::shared_ptr<const Codec> codec) {
  if (!codec) return absl::InvalidArgumentError("no codec to adopt");
  if (codec->dim != opts_.dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("the codec has dim ", codec->dim, ", the shard ", opts_.dim));
  }
  return maintenance_->AdoptCodec(std::move(codec));
}

absl::StatusOr<int> Shard::ImportPlaidIndex(const std::string& plaid_dir,
                                            const std::string& id_prefix) {
  ASSIGN_OR_RETURN(SegmentBuild build, ReadPlaidIndex(plaid_dir, id_prefix, opts_.dim));
  const int ndocs = int(build.data.ids.size());
  const uint64_t ntok = build.data.doc_offsets.back();
  const int nc = build.codec->num_centroids, nbits = build.codec->nbits;
  RETURN_IF_ERROR(maintenance_->Import(std::move(build)));
  LOG_INFO << "imported PLAID index " << plaid_dir << ": " << ndocs << " documents, " << ntok
           << " tokens, " << nc << " centroids, nbits " << nbits;
  return ndocs;
}

}  // namespace tartan::index
