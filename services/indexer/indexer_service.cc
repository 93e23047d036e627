#include "services/indexer/indexer_service.h"

#include <sys/statvfs.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/api/request_checks.h"
#include "common/api/token_vectors.h"
#include "common/server/grpc_status.h"
#include "common/server/parse_error_interceptor.h"
#include "common/server/rpc_metrics.h"
#include "common/status_macros.h"
#include "services/indexer/lib/segment_file.h"

namespace tartan::indexer {
namespace {

std::string RandomInstanceId() {
  std::random_device rd;
  return absl::StrCat(absl::Hex(uint64_t(rd()) << 32 | rd(), absl::kZeroPad16),
                      absl::Hex(uint64_t(rd()) << 32 | rd(), absl::kZeroPad16));
}

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `filter` has passed api::CheckFilter (depth, breadth, keys).
absl::StatusOr<index::Filter> ConvertFilter(const tartan::v1::Filter& filter) {
  switch (filter.kind_case()) {
    case tartan::v1::Filter::kEquals:
      return index::Filter::Eq(filter.equals().key(), filter.equals().value());
    case tartan::v1::Filter::kIn:
      return index::Filter::In(filter.in().key(),
                               {filter.in().values().begin(), filter.in().values().end()});
    case tartan::v1::Filter::kAnd:
    case tartan::v1::Filter::kOr: {
      const auto& clauses = filter.kind_case() == tartan::v1::Filter::kAnd ? filter.and_().clauses()
                                                                           : filter.or_().clauses();
      std::vector<index::Filter> children;
      for (const auto& clause : clauses) {
        ASSIGN_OR_RETURN(auto child, ConvertFilter(clause));
        children.push_back(std::move(child));
      }
      return filter.kind_case() == tartan::v1::Filter::kAnd
                 ? index::Filter::And(std::move(children))
                 : index::Filter::Or(std::move(children));
    }
    case tartan::v1::Filter::KIND_NOT_SET:
      return absl::InvalidArgumentError("filter: a clause sets none of equals/in/and/or");
  }
  return absl::InvalidArgumentError("filter: unknown clause");
}

// DEADLINE_EXCEEDED or CANCELLED when the caller has gone (`when` names the step).
absl::Status CallerGone(const grpc::ServerContext& context, const char* when) {
  if (context.IsCancelled()) return absl::CancelledError(absl::StrCat("call cancelled ", when));
  if (context.deadline() < std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError(absl::StrCat("deadline passed ", when));
  }
  return absl::OkStatus();
}

}  // namespace

IndexerService::IndexerService(prometheus::Registry& registry, const IndexerServiceOptions& options)
    : options_(options),
      registry_(registry),
      documents_(UnlabelledGauge(registry, "indexer", "documents", "Live documents in the shard")),
      token_vectors_(UnlabelledGauge(registry, "indexer", "token_vectors", "Stored token vectors")),
      segments_(UnlabelledGauge(registry, "indexer", "segments", "Compressed segments")),
      bytes_on_disk_(
          UnlabelledGauge(registry, "indexer", "disk_bytes", "Bytes of index files on disk")),
      bytes_in_ram_(
          UnlabelledGauge(registry, "indexer", "ram_bytes", "Bytes of index data held in memory")),
      mutable_documents_(UnlabelledGauge(registry, "indexer", "mutable_documents",
                                         "Documents in the fresh (uncompressed) segment")),
      dead_documents_(UnlabelledGauge(registry, "indexer", "dead_documents",
                                      "Deleted or replaced documents awaiting compaction")),
      volume_available_(UnlabelledGauge(registry, "indexer", "volume_available_bytes",
                                        "Bytes available to the shard on its data directory's "
                                        "filesystem")),
      volume_capacity_(UnlabelledGauge(registry, "indexer", "volume_capacity_bytes",
                                       "Size in bytes of the data directory's filesystem")),
      flushes_(UnlabelledCounter(registry, "indexer", "flushes_total",
                                 "Fresh segments flushed to compressed segments")),
      compactions_(UnlabelledCounter(registry, "indexer", "compactions_total", "Compactions run")),
      wal_commits_(UnlabelledCounter(registry, "indexer", "wal_commits_total",
                                     "Durable write-ahead-log commits")),
      wal_commit_seconds_(UnlabelledCounter(registry, "indexer", "wal_commit_seconds_total",
                                            "Seconds spent in those commits (append + fsync); "
                                            "rate(seconds)/rate(commits) = mean commit latency")),
      search_latency_(prometheus::BuildHistogram()
                          .Name(MetricName("indexer", "search_latency_seconds"))
                          .Help("Shard search latency by stage: total, exact_segment, candidates, "
                                "approx, rerank")
                          .Register(registry)),
      candidates_(UnlabelledCounter(registry, "indexer", "search_candidates_total",
                                    "Documents taken from inverted lists as candidates")),
      exact_scored_(UnlabelledCounter(registry, "indexer", "search_exact_scored_total",
                                      "Documents scored by exact MaxSim")),
      write_latency_(UnlabelledHistogram(
          registry, "indexer", "durable_write_latency_seconds",
          "Upsert latency until durable (log write and fsync included)", LatencyBuckets())),
      query_tokens_(UnlabelledHistogram(
          registry, "indexer", "query_tokens", "Query token vectors per search",
          prometheus::Histogram::BucketBoundaries{8, 16, 32, 64, 128, 256, 512, 1024})),
      documents_written_(
          UnlabelledCounter(registry, "indexer", "documents_written_total", "Documents upserted")),
      documents_deleted_(
          UnlabelledCounter(registry, "indexer", "documents_deleted_total", "Documents deleted")),
      instance_id_(RandomInstanceId()) {}

void IndexerService::SetShard(ServedShard served) {
  SetServiceInfo(registry_, "indexer", "", std::to_string(served.dim));
  std::atomic_store(&served_, std::shared_ptr<const ServedShard>(
                                  std::make_shared<ServedShard>(std::move(served))));
  RefreshGauges();
}

void IndexerService::RefreshGauges() {
  auto served = std::atomic_load(&served_);
  if (!served) return;
  const index::ShardStats stats = served->shard->Stats();
  documents_.Set(static_cast<double>(stats.documents));
  token_vectors_.Set(static_cast<double>(stats.token_vectors));
  segments_.Set(static_cast<double>(stats.segments));
  bytes_on_disk_.Set(static_cast<double>(stats.bytes_on_disk));
  bytes_in_ram_.Set(static_cast<double>(stats.bytes_in_ram));
  mutable_documents_.Set(static_cast<double>(stats.mutable_documents));
  dead_documents_.Set(static_cast<double>(stats.dead_documents));
  struct statvfs volume {};
  if (!served->data_dir.empty() && statvfs(served->data_dir.c_str(), &volume) == 0) {
    volume_available_.Set(static_cast<double>(volume.f_bavail) * volume.f_frsize);
    volume_capacity_.Set(static_cast<double>(volume.f_blocks) * volume.f_frsize);
  }
  absl::MutexLock lock(&counted_mu_);
  // A total below the one counted means a reopened shard counting from 0 again.
  auto add_growth = [](prometheus::Counter& counter, double total, double counted) {
    counter.Increment(total >= counted ? total - counted : total);
  };
  add_growth(flushes_, stats.flushes, counted_.flushes);
  add_growth(compactions_, stats.compactions, counted_.compactions);
  add_growth(wal_commits_, stats.wal_commits, counted_.wal_commits);
  add_growth(wal_commit_seconds_, stats.wal_commit_seconds, counted_.wal_commit_seconds);
  counted_ = stats;
}

absl::StatusOr<std::shared_ptr<const ServedShard>> IndexerService::ServedFor(
    const std::string& collection) const {
  auto served = std::atomic_load(&served_);
  if (!served) return absl::UnavailableError("shard is recovering; retry shortly");
  RETURN_IF_ERROR(api::CheckCollection(collection));
  return served;
}

absl::Status IndexerService::DoUpsert(const tartan::v1::UpsertRequest& request,
                                      uint64_t* upserted) {
  ASSIGN_OR_RETURN(auto served, ServedFor(request.collection()));
  RETURN_IF_ERROR(
      api::CheckCount(request.documents_size(), api::kMaxDocumentsPerRequest, "documents"));
  std::vector<index::Document> docs;
  docs.reserve(request.documents_size());
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < request.documents_size(); ++i) {
    const auto& in = request.documents(i);
    const std::string field = absl::StrCat("documents[", i, "]");
    RETURN_IF_ERROR(api::CheckDocumentId(in.id(), field));
    if (!seen.insert(in.id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": duplicate id '", api::ClientText(in.id()), "' in one request"));
    }
    RETURN_IF_ERROR(api::CheckMetadata(in.metadata(), field));
    ASSIGN_OR_RETURN(api::Matrix matrix,
                     api::DecodeTokenVectors(in.vectors(), served->dim, api::kMaxTokensPerDocument,
                                             field + ".vectors"));
    index::Document doc;
    doc.id = in.id();
    doc.num_tokens = matrix.rows;
    doc.vectors = std::move(matrix.data);
    doc.metadata.insert(in.metadata().begin(), in.metadata().end());
    docs.push_back(std::move(doc));
  }
  const auto start = Clock::now();
  RETURN_IF_ERROR(served->shard->Upsert(std::move(docs)));
  write_latency_.Observe(SecondsSince(start));
  documents_written_.Increment(request.documents_size());
  *upserted += request.documents_size();
  return absl::OkStatus();
}

grpc::Status IndexerService::Upsert(grpc::ServerContext* context,
                                    const tartan::v1::UpsertRequest* request,
                                    tartan::v1::UpsertResponse* response) {
  uint64_t upserted = 0;
  absl::Status status = DoUpsert(*request, &upserted);
  response->set_upserted(upserted);
  return ToGrpcStatus(status);
}

grpc::Status IndexerService::UpsertStream(grpc::ServerContext* context,
                                          grpc::ServerReader<tartan::v1::UpsertRequest>* reader,
                                          tartan::v1::UpsertResponse* response) {
  return ToGrpcStatus(DoUpsertStream(context, reader, response));
}

absl::Status IndexerService::DoUpsertStream(grpc::ServerContext* context,
                                            grpc::ServerReader<tartan::v1::UpsertRequest>* reader,
                                            tartan::v1::UpsertResponse* response) {
  ASSIGN_OR_RETURN(StreamSlot slot, streams_.Admit([context] { context->TryCancel(); }));
  tartan::v1::UpsertRequest request;
  uint64_t upserted = 0;
  for (int message = 0;; ++message) {
    absl::Status status;
    switch (slot.Read(reader, &request)) {
      case StreamRead::kEnd:
        response->set_upserted(upserted);
        return absl::OkStatus();
      case StreamRead::kUnparsable:
        status = absl::InvalidArgumentError(kUnparsableMessage);
        break;
      case StreamRead::kIdleTimeout:
        status = slot.IdleError();
        break;
      case StreamRead::kMessage:
        status = DoUpsert(request, &upserted);
        break;
    }
    if (!status.ok()) {
      // Messages before this one are durable; nothing from it or after it is. Say how far the
      // stream got, in the message and in trailing metadata (tartan-stored-documents).
      context->AddTrailingMetadata("tartan-stored-documents", absl::StrCat(upserted));
      return absl::Status(
          status.code(), absl::StrCat("message ", message, ": ", status.message(), " (stored: the ",
                                      upserted, " documents of messages 0..", message - 1,
                                      "; nothing from message ", message, " on)"));
    }
  }
}

grpc::Status IndexerService::Delete(grpc::ServerContext* context,
                                    const tartan::v1::DeleteRequest* request,
                                    tartan::v1::DeleteResponse* response) {
  return ToGrpcStatus(DoDelete(*request, response));
}

absl::Status IndexerService::DoDelete(const tartan::v1::DeleteRequest& request,
                                      tartan::v1::DeleteResponse* response) {
  ASSIGN_OR_RETURN(auto served, ServedFor(request.collection()));
  RETURN_IF_ERROR(api::CheckDocumentIds(request.ids(), "ids"));
  std::vector<std::string> ids(request.ids().begin(), request.ids().end());
  ASSIGN_OR_RETURN(const int deleted, served->shard->Delete(ids));
  documents_deleted_.Increment(deleted);
  response->set_deleted(deleted);
  return absl::OkStatus();
}

grpc::Status IndexerService::Search(grpc::ServerContext* context,
                                    const tartan::v1::ShardSearchRequest* request,
                                    tartan::v1::ShardSearchResponse* response) {
  return ToGrpcStatus(DoSearch(*context, *request, response));
}

absl::Status IndexerService::DoSearch(const grpc::ServerContext& context,
                                      const tartan::v1::ShardSearchRequest& request,
                                      tartan::v1::ShardSearchResponse* response) {
  ASSIGN_OR_RETURN(auto served, ServedFor(request.collection()));
  RETURN_IF_ERROR(api::CheckK(request.k()));
  RETURN_IF_ERROR(api::CheckSearchParams(request.params(), options_.allow_exact_search));
  if (request.has_filter()) RETURN_IF_ERROR(api::CheckFilter(request.filter()));
  RETURN_IF_ERROR(api::CheckIdSubset(request.id_subset()));
  ASSIGN_OR_RETURN(api::Matrix query, api::DecodeTokenVectors(request.query(), served->dim,
                                                              api::kMaxQueryTokens, "query"));
  index::SearchParams params;
  params.k = static_cast<int>(request.k());
  const auto& p = request.params();
  if (p.nprobe() > 0) params.nprobe = static_cast<int>(p.nprobe());
  // Set means set, 0 included; unset keeps the shard's default.
  if (p.has_centroid_score_threshold()) {
    params.centroid_score_threshold = p.centroid_score_threshold();
  }
  if (p.candidates_approx() > 0)
    params.n_candidates_approx = static_cast<int>(p.candidates_approx());
  if (p.candidates_exact() > 0) params.n_rerank_exact = static_cast<int>(p.candidates_exact());
  params.exact = p.exact();
  index::Filter filter;
  if (request.has_filter()) {
    ASSIGN_OR_RETURN(filter, ConvertFilter(request.filter()));
    params.filter = &filter;
  }
  params.id_subset.assign(request.id_subset().begin(), request.id_subset().end());
  RETURN_IF_ERROR(CallerGone(context, "before search"));

  // The engine polls this between stages: a gone caller stops the work, not just the reply.
  params.interrupt = [&context] { return CallerGone(context, "during search"); };
  index::SearchTrace trace;
  params.trace = &trace;
  const auto start = Clock::now();
  auto hits = served->shard->Search(query.data.data(), query.rows, params);
  search_latency_.Add({{"stage", "total"}}, LatencyBuckets()).Observe(SecondsSince(start));
  search_latency_.Add({{"stage", "exact_segment"}}, LatencyBuckets())
      .Observe(trace.exact_segment_seconds);
  search_latency_.Add({{"stage", "candidates"}}, LatencyBuckets())
      .Observe(trace.candidates_seconds);
  search_latency_.Add({{"stage", "approx"}}, LatencyBuckets()).Observe(trace.approx_seconds);
  search_latency_.Add({{"stage", "rerank"}}, LatencyBuckets()).Observe(trace.rerank_seconds);
  candidates_.Increment(static_cast<double>(trace.candidates));
  exact_scored_.Increment(static_cast<double>(trace.exact_scored));
  query_tokens_.Observe(query.rows);
  if (!hits.ok()) return hits.status();
  // Nobody waits for the answer: build no response (no metadata reads either).
  RETURN_IF_ERROR(CallerGone(context, "during search"));

  // Metadata only: no vectors are decoded for it.
  std::vector<std::optional<index::Document>> docs;
  if (request.include_metadata() && !hits->empty()) {
    std::vector<std::string> ids;
    ids.reserve(hits->size());
    for (const auto& hit : *hits) ids.push_back(hit.id);
    ASSIGN_OR_RETURN(docs, served->shard->Get(ids, {.vectors = false}));
  }
  for (size_t i = 0; i < hits->size(); ++i) {
    auto* hit = response->add_hits();
    hit->set_id((*hits)[i].id);
    hit->set_score((*hits)[i].score);
    hit->set_shard(served->name);
    // A hit deleted between Search and Get has no metadata left to report.
    if (i < docs.size() && docs[i]) {
      hit->mutable_metadata()->insert(docs[i]->metadata.begin(), docs[i]->metadata.end());
    }
  }
  return absl::OkStatus();
}

grpc::Status IndexerService::Get(grpc::ServerContext* context,
                                 const tartan::v1::GetRequest* request,
                                 tartan::v1::GetResponse* response) {
  return ToGrpcStatus(DoGet(*request, response));
}

absl::Status IndexerService::DoGet(const tartan::v1::GetRequest& request,
                                   tartan::v1::GetResponse* response) {
  ASSIGN_OR_RETURN(auto served, ServedFor(request.collection()));
  RETURN_IF_ERROR(api::CheckDocumentIds(request.ids(), "ids"));
  std::vector<std::string> ids(request.ids().begin(), request.ids().end());
  ASSIGN_OR_RETURN(auto docs, served->shard->Get(ids, {.vectors = request.include_vectors()}));
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& doc = docs[i];
    if (!doc) {
      response->add_missing_ids(ids[i]);
      continue;
    }
    auto* out = response->add_documents();
    out->set_id(doc->id);
    out->mutable_metadata()->insert(doc->metadata.begin(), doc->metadata.end());
    if (request.include_vectors()) {
      api::EncodeTokenVectors(doc->vectors.data(), doc->num_tokens, served->dim,
                              tartan::v1::FLOAT32, out->mutable_vectors());
    }
  }
  return absl::OkStatus();
}

grpc::Status IndexerService::Stats(grpc::ServerContext* context,
                                   const tartan::v1::StatsRequest* request,
                                   tartan::v1::ShardStats* response) {
  return ToGrpcStatus(DoStats(*request, response));
}

absl::Status IndexerService::DoStats(const tartan::v1::StatsRequest& request,
                                     tartan::v1::ShardStats* response) {
  ASSIGN_OR_RETURN(auto served, ServedFor(request.collection()));
  const index::ShardStats stats = served->shard->Stats();
  response->set_dim(served->dim);
  // The codec's, once there is one: an adopted codec (--codec_source) brings its own.
  response->set_nbits(stats.codec_nbits != 0 ? uint32_t(stats.codec_nbits)
                                             : uint32_t(served->nbits));
  response->set_documents(stats.documents);
  response->set_token_vectors(stats.token_vectors);
  response->set_segments(stats.segments);
  response->set_bytes_on_disk(stats.bytes_on_disk);
  response->set_bytes_in_ram(stats.bytes_in_ram);
  response->set_compactions(stats.compactions);
  response->set_unflushed_documents(stats.mutable_documents);
  response->set_unflushed_tokens(stats.mutable_tokens);
  response->set_last_lsn(stats.last_lsn);
  response->set_flush_running(stats.flush_running);
  response->set_compaction_running(stats.compaction_running);
  response->set_retrain_running(stats.retrain_running);
  response->set_codec_id(stats.codec_id);
  return absl::OkStatus();
}

grpc::Status IndexerService::Flush(grpc::ServerContext* context,
                                   const tartan::v1::FlushRequest* request,
                                   tartan::v1::FlushResponse* response) {
  return ToGrpcStatus(DoFlush(*request));
}

absl::Status IndexerService::DoFlush(const tartan::v1::FlushRequest& request) {
  ASSIGN_OR_RETURN(auto served, ServedFor(request.collection()));
  absl::Status status = served->shard->Flush();
  RefreshGauges();
  return status;
}

grpc::Status IndexerService::Compact(grpc::ServerContext* context,
                                     const tartan::v1::CompactRequest* request,
                                     tartan::v1::CompactResponse* response) {
  return ToGrpcStatus(DoCompact(*request));
}

absl::Status IndexerService::DoCompact(const tartan::v1::CompactRequest& request) {
  ASSIGN_OR_RETURN(auto served, ServedFor(request.collection()));
  absl::Status status = served->shard->Compact();
  RefreshGauges();
  return status;
}

grpc::Status IndexerService::GetCodec(grpc::ServerContext* context,
                                      const tartan::v1::GetCodecRequest* request,
                                      tartan::v1::GetCodecResponse* response) {
  return ToGrpcStatus(DoGetCodec(*request, response));
}

absl::Status IndexerService::DoGetCodec(const tartan::v1::GetCodecRequest& request,
                                        tartan::v1::GetCodecResponse* response) {
  response->set_instance_id(instance_id_);
  ASSIGN_OR_RETURN(auto served, ServedFor(request.collection()));
  const std::shared_ptr<const index::Codec> codec = served->shard->codec();
  if (!codec) return absl::OkStatus();
  response->set_codec_id(codec->id);
  if (request.known_codec_id() == codec->id) return absl::OkStatus();
  absl::MutexLock l(&export_mu_);
  if (exported_codec_id_ != codec->id) {
    // Also left in the folder: an operator can hand it to new shards as --codec_file.
    const std::string path = served->data_dir + "/codec-export.tseg";
    RETURN_IF_ERROR(index::WriteCodecFile(path, *codec));
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return absl::InternalError(absl::StrCat("cannot read ", path));
    exported_file_ = std::move(bytes);
    exported_codec_id_ = codec->id;
  }
  response->set_codec_file(exported_file_);
  return absl::OkStatus();
}

}  // namespace tartan::indexer
