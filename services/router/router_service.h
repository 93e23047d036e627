// tartan.v1.Router: the client-facing front door. Encodes text through the encoder, fans
// searches out to every shard under the request's deadline and merges their top-k, routes
// each document write to its owning shard (services/router/lib/shard_map.h), reranks.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/synchronization/mutex.h"
#include "common/api/token_vectors.h"
#include "common/server/stream_limiter.h"
#include "services/router/shard_clients.h"
#include "tartan/v1/encoder.grpc.pb.h"
#include "tartan/v1/router.grpc.pb.h"

namespace tartan::router {

// Request limits shared with the shards are in common/api/request_checks.h.
struct RouterOptions {
  absl::Duration default_timeout = absl::Seconds(10);  // when the client sets no deadline
  int encode_batch_texts = 32;                         // texts per Encode call on writes
  int max_rerank_candidates = 1000;
  int max_message_bytes = 64 << 20;  // per message to a shard (writes are split under it)
  bool allow_exact_search = false;   // SearchParams.exact (brute force on every shard)
  // Part of a search's deadline kept for merging and replying: shards get the deadline minus
  // min(shard_deadline_margin_fraction x the time left, shard_deadline_margin_max), so a hung
  // shard makes the reply partial instead of making it miss the client's deadline.
  double shard_deadline_margin_fraction = 0.1;
  absl::Duration shard_deadline_margin_max = absl::Milliseconds(100);
  StreamLimits streams;  // AddDocumentsStream: open at once, idle timeout
};

class RouterService final : public tartan::v1::Router::Service {
 public:
  RouterService(const RouterOptions& options, std::shared_ptr<grpc::Channel> encoder_channel,
                ShardClients* shards, prometheus::Registry& registry);

  grpc::Status AddDocuments(grpc::ServerContext* context,
                            const tartan::v1::AddDocumentsRequest* request,
                            tartan::v1::AddDocumentsResponse* response) override;
  grpc::Status AddDocumentsStream(grpc::ServerContext* context,
                                  grpc::ServerReader<tartan::v1::AddDocumentsRequest>* reader,
                                  tartan::v1::AddDocumentsResponse* response) override;
  grpc::Status DeleteDocuments(grpc::ServerContext* context,
                               const tartan::v1::DeleteDocumentsRequest* request,
                               tartan::v1::DeleteDocumentsResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context, const tartan::v1::SearchRequest* request,
                      tartan::v1::SearchResponse* response) override;
  grpc::Status SearchBatch(grpc::ServerContext* context,
                           const tartan::v1::SearchBatchRequest* request,
                           tartan::v1::SearchBatchResponse* response) override;
  grpc::Status Rerank(grpc::ServerContext* context, const tartan::v1::RerankRequest* request,
                      tartan::v1::RerankResponse* response) override;
  grpc::Status ClusterStatus(grpc::ServerContext* context,
                             const tartan::v1::ClusterStatusRequest* request,
                             tartan::v1::ClusterStatusResponse* response) override;

 private:
  // Each RPC's work, returning absl::Status; the overrides above convert it once
  // (ToGrpcStatus). `deadline` is the call's budget (Deadline(context)). ClusterStatus cannot
  // fail (unreachable parts are reported in the reply) and has no Do function.
  absl::Status DoAddDocumentsStream(grpc::ServerContext* context,
                                    grpc::ServerReader<tartan::v1::AddDocumentsRequest>* reader,
                                    tartan::v1::AddDocumentsResponse* response);
  absl::Status DoDeleteDocuments(const tartan::v1::DeleteDocumentsRequest& request,
                                 absl::Time deadline,
                                 tartan::v1::DeleteDocumentsResponse* response);
  absl::Status DoSearch(const tartan::v1::SearchRequest& request, absl::Time deadline,
                        tartan::v1::SearchResponse* response);
  absl::Status DoSearchBatch(const tartan::v1::SearchBatchRequest& request, absl::Time deadline,
                             tartan::v1::SearchBatchResponse* response);
  absl::Status DoRerank(const tartan::v1::RerankRequest& request, absl::Time deadline,
                        tartan::v1::RerankResponse* response);

  absl::Time Deadline(const grpc::ServerContext* context) const;
  // The encoder's ModelInfo, fetched once and cached.
  absl::StatusOr<tartan::v1::ModelInfo> ModelInfo(absl::Time deadline);
  // Encodes texts in chunks of at most the encoder's max_texts_per_request. prompt_name ""
  // means none.
  absl::StatusOr<std::vector<api::Matrix>> EncodeTexts(const std::vector<std::string>& texts,
                                                       tartan::v1::TextKind kind,
                                                       const std::string& prompt_name,
                                                       uint32_t pool_factor, absl::Time deadline);
  // A text no longer than the encoder's max_chars_per_text (ModelInfo), else INVALID_ARGUMENT.
  static absl::Status CheckTextLength(const std::string& text, const tartan::v1::ModelInfo& info,
                                      const std::string& field);
  // The deadline handed to shards for a search that must answer by `deadline`.
  absl::Time ShardDeadline(absl::Time deadline) const;
  // Validates one SearchRequest (without the query) and its vectors, if given.
  absl::Status ValidateSearch(const tartan::v1::SearchRequest& request);
  // Fans one encoded query out and merges; fills `response`.
  absl::Status SearchEncoded(const tartan::v1::SearchRequest& request, const api::Matrix& query,
                             absl::Time deadline, tartan::v1::SearchResponse* response);
  // One AddDocuments request (or one batch of a stream); adds to response's counts.
  absl::Status AddBatch(const tartan::v1::AddDocumentsRequest& request, absl::Time deadline,
                        tartan::v1::AddDocumentsResponse* response);

  const RouterOptions options_;
  StreamLimiter streams_{options_.streams};
  std::unique_ptr<tartan::v1::Encoder::Stub> encoder_;
  ShardClients* shards_;
  absl::Mutex info_mu_;
  std::optional<tartan::v1::ModelInfo> model_info_ ABSL_GUARDED_BY(info_mu_);

  prometheus::Registry& registry_;  // for tartan_router_info once the encoder's model is known
  prometheus::Histogram& fanout_latency_;
  prometheus::Family<prometheus::Histogram>& shard_latency_;
  prometheus::Family<prometheus::Counter>& shard_errors_;
  prometheus::Counter& partial_replies_;
  prometheus::Histogram& encode_latency_;
};

}  // namespace tartan::router
