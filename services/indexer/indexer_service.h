// tartan.v1.Indexer over one index::Shard: request validation, proto ↔ library conversion,
// metrics. All index behaviour lives in services/indexer/lib.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/server/stream_limiter.h"
#include "services/indexer/lib/shard.h"
#include "tartan/v1/indexer.grpc.pb.h"

namespace tartan::indexer {

// What the service serves once the shard is recovered.
struct ServedShard {
  std::shared_ptr<index::Shard> shard;
  std::string name;      // reported in search hits (Hit.shard)
  int dim = 0;           // token vector dimension of the collection
  int nbits = 0;         // residual bits per dimension in compressed segments
  std::string data_dir;  // its directory: the volume's free space is exported as a metric
};

// What the service lets clients do beyond the shared limits (common/api/request_checks.h).
struct IndexerServiceOptions {
  bool allow_exact_search = false;  // SearchParams.exact (brute force over every vector)
  StreamLimits streams;             // UpsertStream: open at once, idle timeout
};

class IndexerService final : public tartan::v1::Indexer::Service {
 public:
  explicit IndexerService(prometheus::Registry& registry,
                          const IndexerServiceOptions& options = {});

  // Hands over the recovered shard; until then every call answers UNAVAILABLE.
  void SetShard(ServedShard served);
  // Refreshes the size gauges from Shard::Stats (called periodically and after writes).
  void RefreshGauges();

  grpc::Status Upsert(grpc::ServerContext* context, const tartan::v1::UpsertRequest* request,
                      tartan::v1::UpsertResponse* response) override;
  grpc::Status UpsertStream(grpc::ServerContext* context,
                            grpc::ServerReader<tartan::v1::UpsertRequest>* reader,
                            tartan::v1::UpsertResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context, const tartan::v1::DeleteRequest* request,
                      tartan::v1::DeleteResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context, const tartan::v1::ShardSearchRequest* request,
                      tartan::v1::ShardSearchResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const tartan::v1::GetRequest* request,
                   tartan::v1::GetResponse* response) override;
  grpc::Status Stats(grpc::ServerContext* context, const tartan::v1::StatsRequest* request,
                     tartan::v1::ShardStats* response) override;
  grpc::Status Flush(grpc::ServerContext* context, const tartan::v1::FlushRequest* request,
                     tartan::v1::FlushResponse* response) override;
  grpc::Status Compact(grpc::ServerContext* context, const tartan::v1::CompactRequest* request,
                       tartan::v1::CompactResponse* response) override;
  grpc::Status GetCodec(grpc::ServerContext* context, const tartan::v1::GetCodecRequest* request,
                        tartan::v1::GetCodecResponse* response) override;

  // Random per process (GetCodecResponse.instance_id).
  const std::string& instance_id() const { return instance_id_; }

 private:
  // The served shard for `collection`: UNAVAILABLE while recovering, NOT_FOUND for an unknown
  // collection.
  absl::StatusOr<std::shared_ptr<const ServedShard>> ServedFor(const std::string& collection) const;

  // Each RPC's work in absl::Status; the overrides above convert it once (ToGrpcStatus).
  absl::Status DoUpsert(const tartan::v1::UpsertRequest& request, uint64_t* upserted);
  absl::Status DoUpsertStream(grpc::ServerContext* context,
                              grpc::ServerReader<tartan::v1::UpsertRequest>* reader,
                              tartan::v1::UpsertResponse* response);
  absl::Status DoDelete(const tartan::v1::DeleteRequest& request,
                        tartan::v1::DeleteResponse* response);
  absl::Status DoSearch(const grpc::ServerContext& context,
                        const tartan::v1::ShardSearchRequest& request,
                        tartan::v1::ShardSearchResponse* response);
  absl::Status DoGet(const tartan::v1::GetRequest& request, tartan::v1::GetResponse* response);
  absl::Status DoStats(const tartan::v1::StatsRequest& request, tartan::v1::ShardStats* response);
  absl::Status DoFlush(const tartan::v1::FlushRequest& request);
  absl::Status DoCompact(const tartan::v1::CompactRequest& request);
  absl::Status DoGetCodec(const tartan::v1::GetCodecRequest& request,
                          tartan::v1::GetCodecResponse* response);

  const IndexerServiceOptions options_;
  StreamLimiter streams_{options_.streams};
  prometheus::Registry& registry_;             // for tartan_indexer_info once the shard is known
  std::shared_ptr<const ServedShard> served_;  // accessed with std::atomic_load/store
  prometheus::Gauge& documents_;
  prometheus::Gauge& token_vectors_;
  prometheus::Gauge& segments_;
  prometheus::Gauge& bytes_on_disk_;
  prometheus::Gauge& bytes_in_ram_;
  prometheus::Gauge& mutable_documents_;
  prometheus::Gauge& dead_documents_;
  prometheus::Gauge& volume_available_;
  prometheus::Gauge& volume_capacity_;
  // Counters fed from the shard's running totals: each refresh adds what grew since the last.
  prometheus::Counter& flushes_;
  prometheus::Counter& compactions_;
  prometheus::Counter& wal_commits_;
  prometheus::Counter& wal_commit_seconds_;
  absl::Mutex counted_mu_;
  index::ShardStats counted_ ABSL_GUARDED_BY(counted_mu_);     // totals already added
  prometheus::Family<prometheus::Histogram>& search_latency_;  // by stage
  prometheus::Counter& candidates_;
  prometheus::Counter& exact_scored_;
  prometheus::Histogram& write_latency_;
  prometheus::Histogram& query_tokens_;
  prometheus::Counter& documents_written_;
  prometheus::Counter& documents_deleted_;
  const std::string instance_id_;
  // GetCodec's file, written into the shard's folder once per codec.
  absl::Mutex export_mu_;
  uint64_t exported_codec_id_ ABSL_GUARDED_BY(export_mu_) = 0;
  std::string exported_file_ ABSL_GUARDED_BY(export_mu_);
};

}  // namespace tartan::indexer
