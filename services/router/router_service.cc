#include "services/router/router_service.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/api/request_checks.h"
#include "common/compute/maxsim.h"
#include "common/compute/parallel_for.h"
#include "common/server/grpc_status.h"
#include "common/server/rpc_metrics.h"
#include "common/status_macros.h"
#include "services/router/fanout.h"
#include "services/router/lib/downstream_error.h"
#include "services/router/lib/merge.h"

namespace tartan::router {

using api::CheckCollection;
using api::CheckDocumentId;
using api::CheckNonBlankText;
using api::kMaxQueryTokens;
using api::kMaxTokensPerDocument;

RouterService::RouterService(const RouterOptions& options,
                             std::shared_ptr<grpc::Channel> encoder_channel, ShardClients* shards,
                             prometheus::Registry& registry)
    : options_(options),
      encoder_(tartan::v1::Encoder::NewStub(std::move(encoder_channel))),
      shards_(shards),
      registry_(registry),
      fanout_latency_(UnlabelledHistogram(registry, "router", "fanout_latency_seconds",
                                          "Time from the first shard call to the last shard reply",
                                          LatencyBuckets())),
      shard_latency_(prometheus::BuildHistogram()
                         .Name(MetricName("router", "shard_latency_seconds"))
                         .Help("Per-shard search latency seen by the router")
                         .Register(registry)),
      shard_errors_(prometheus::BuildCounter()
                        .Name(MetricName("router", "shard_errors_total"))
                        .Help("Failed shard calls, by shard and gRPC code")
                        .Register(registry)),
      partial_replies_(UnlabelledCounter(registry, "router", "partial_replies_total",
                                         "Searches answered without every shard")),
      encode_latency_(UnlabelledHistogram(registry, "router", "encode_latency_seconds",
                                          "Encoder calls made by the router", LatencyBuckets())) {}

absl::Time RouterService::Deadline(const grpc::ServerContext* context) const {
  const absl::Time client = absl::FromChrono(context->deadline());
  return std::min(client, absl::Now() + options_.default_timeout);
}

absl::Time RouterService::ShardDeadline(absl::Time deadline) const {
  const absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
  return deadline - std::min(left * options_.shard_deadline_margin_fraction,
                             options_.shard_deadline_margin_max);
}

absl::Status RouterService::CheckTextLength(const std::string& text,
                                            const tartan::v1::ModelInfo& info,
                                            const std::string& field) {
  if (info.max_chars_per_text() > 0 && text.size() > info.max_chars_per_text()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": text of ", text.size(),
                                                   " bytes exceeds the encoder's limit of ",
                                                   info.max_chars_per_text()));
  }
  return absl::OkStatus();
}

absl::StatusOr<tartan::v1::ModelInfo> RouterService::ModelInfo(absl::Time deadline) {
  {
    absl::MutexLock lock(&info_mu_);
    if (model_info_) return *model_info_;
  }
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  tartan::v1::ModelInfo info;
  grpc::Status status = encoder_->GetModelInfo(&context, {}, &info);
  if (!status.ok()) return DownstreamStatus("encoder", FromGrpcStatus(status));
  absl::MutexLock lock(&info_mu_);
  if (!model_info_) SetServiceInfo(registry_, "router", info.name(), std::to_string(info.dim()));
  model_info_ = info;
  return info;
}

absl::StatusOr<std::vector<api::Matrix>> RouterService::EncodeTexts(
    const std::vector<std::string>& texts, tartan::v1::TextKind kind,
    const std::string& prompt_name, uint32_t pool_factor, absl::Time deadline) {
  ASSIGN_OR_RETURN(tartan::v1::ModelInfo info, ModelInfo(deadline));
  const size_t chunk = std::max<size_t>(
      1, std::min<size_t>(info.max_texts_per_request(), options_.encode_batch_texts));
  for (size_t i = 0; i < texts.size(); ++i) {
    RETURN_IF_ERROR(CheckTextLength(texts[i], info, absl::StrCat("texts[", i, "]")));
  }
  std::vector<api::Matrix> out;
  out.reserve(texts.size());
  for (size_t begin = 0; begin < texts.size(); begin += chunk) {
    tartan::v1::EncodeRequest request;
    for (size_t i = begin; i < std::min(texts.size(), begin + chunk); ++i)
      request.add_texts(texts[i]);
    request.set_kind(kind);
    request.set_prompt_name(prompt_name);
    request.set_pool_factor(pool_factor);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    tartan::v1::EncodeResponse response;
    const absl::Time start = absl::Now();
    grpc::Status status = encoder_->Encode(&context, request, &response);
    encode_latency_.Observe(absl::ToDoubleSeconds(absl::Now() - start));
    if (!status.ok()) return DownstreamStatus("encoder", FromGrpcStatus(status));
    if (response.results_size() != request.texts_size()) {
      return absl::InternalError("encoder returned a wrong number of results");
    }
    for (const auto& result : response.results()) {
      ASSIGN_OR_RETURN(api::Matrix matrix,
                       api::DecodeTokenVectors(result.vectors(), info.dim(), kMaxTokensPerDocument,
                                               "encoder result"));
      out.push_back(std::move(matrix));
    }
  }
  return out;
}

absl::Status RouterService::ValidateSearch(const tartan::v1::SearchRequest& request) {
  RETURN_IF_ERROR(CheckCollection(request.collection()));
  RETURN_IF_ERROR(api::CheckK(request.k()));
  if (request.query_case() == tartan::v1::SearchRequest::QUERY_NOT_SET) {
    return absl::InvalidArgumentError("query: set text or vectors");
  }
  if (request.query_case() == tartan::v1::SearchRequest::kText) {
    RETURN_IF_ERROR(CheckNonBlankText(request.text(), "query"));
  }
  RETURN_IF_ERROR(api::CheckSearchParams(request.params(), options_.allow_exact_search));
  if (request.has_filter()) RETURN_IF_ERROR(api::CheckFilter(request.filter()));
  return api::CheckIdSubset(request.id_subset());
}

absl::Status RouterService::SearchEncoded(const tartan::v1::SearchRequest& request,
                                          const api::Matrix& query, absl::Time deadline,
                                          tartan::v1::SearchResponse* response) {
  const absl::Time start = absl::Now();
  auto set = shards_->Current();
  if (set->shards.empty()) return absl::UnavailableError("no shards are known");
  tartan::v1::ShardSearchRequest shard_request;
  shard_request.set_collection(request.collection());
  api::EncodeTokenVectors(query.data.data(), query.rows, query.dim, tartan::v1::FLOAT32,
                          shard_request.mutable_query());
  shard_request.set_k(request.k());
  *shard_request.mutable_params() = request.params();
  if (request.has_filter()) *shard_request.mutable_filter() = request.filter();
  *shard_request.mutable_id_subset() = request.id_subset();
  shard_request.set_include_metadata(request.include_metadata());

  auto calls = FanOut<tartan::v1::ShardSearchResponse>(
      *set, ShardDeadline(deadline),
      [&shard_request](tartan::v1::Indexer::Stub* stub, grpc::ClientContext* context,
                       tartan::v1::ShardSearchResponse* out,
                       std::function<void(grpc::Status)> done) {
        stub->async()->Search(context, &shard_request, out, std::move(done));
      });
  fanout_latency_.Observe(absl::ToDoubleSeconds(absl::Now() - start));

  std::vector<std::vector<ScoredHit>> lists(calls.size());
  DownstreamFailures failures;
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string& address = set->shards[i]->address;
    shard_latency_.Add({{"shard", address}}, LatencyBuckets()).Observe(calls[i]->seconds);
    const grpc::Status& status = calls[i]->status;
    if (!status.ok()) {
      shard_errors_.Add({{"shard", address}, {"code", GrpcCodeName(status.error_code())}})
          .Increment();
      failures.Add(absl::StrCat("shard ", address), FromGrpcStatus(status));
      response->add_failed_shards(address);
      continue;
    }
    for (const auto& hit : calls[i]->response.hits()) {
      lists[i].push_back({hit.id(), hit.score(), static_cast<int>(i)});
    }
  }
  // A request a shard rejects is the client's fault; any other failure leaves a partial
  // answer, unless no shard answered.
  if (failures.any_client_fault()) return failures.ToStatus("");
  if (failures.size() == static_cast<int>(calls.size())) {
    return failures.ToStatus(absl::StrCat("all ", failures.size(), " shards failed"));
  }
  response->set_partial(!failures.empty());
  if (!failures.empty()) partial_replies_.Increment();
  for (const ScoredHit& hit : MergeTopK(lists, static_cast<int>(request.k()))) {
    auto* out = response->add_hits();
    out->set_id(hit.id);
    out->set_score(hit.score);
    out->set_shard(set->shards[hit.shard]->address);
    if (request.include_metadata()) {
      for (const auto& shard_hit : calls[hit.shard]->response.hits()) {
        if (shard_hit.id() == hit.id) {
          *out->mutable_metadata() = shard_hit.metadata();
          break;
        }
      }
    }
  }
  return absl::OkStatus();
}

grpc::Status RouterService::Search(grpc::ServerContext* context,
                                   const tartan::v1::SearchRequest* request,
                                   tartan::v1::SearchResponse* response) {
  return ToGrpcStatus(DoSearch(*request, Deadline(context), response));
}

absl::Status RouterService::DoSearch(const tartan::v1::SearchRequest& request, absl::Time deadline,
                                     tartan::v1::SearchResponse* response) {
  const absl::Time start = absl::Now();
  RETURN_IF_ERROR(ValidateSearch(request));
  api::Matrix query;
  if (request.query_case() == tartan::v1::SearchRequest::kText) {
    ASSIGN_OR_RETURN(auto encoded, EncodeTexts({request.text()}, tartan::v1::QUERY,
                                               request.prompt_name(), 0, deadline));
    query = std::move(encoded[0]);
  } else {
    auto info = ModelInfo(deadline);
    const int dim = info.ok() ? static_cast<int>(info->dim()) : 0;
    ASSIGN_OR_RETURN(
        query, api::DecodeTokenVectors(request.vectors(), dim, kMaxQueryTokens, "query.vectors"));
  }
  absl::Status status = SearchEncoded(request, query, deadline, response);
  response->set_took_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
  return status;
}

grpc::Status RouterService::SearchBatch(grpc::ServerContext* context,
                                        const tartan::v1::SearchBatchRequest* request,
                                        tartan::v1::SearchBatchResponse* response) {
  return ToGrpcStatus(DoSearchBatch(*request, Deadline(context), response));
}

absl::Status RouterService::DoSearchBatch(const tartan::v1::SearchBatchRequest& request,
                                          absl::Time deadline,
                                          tartan::v1::SearchBatchResponse* response) {
  RETURN_IF_ERROR(api::CheckCount(request.requests_size(), api::kMaxBatchQueries, "requests"));
  // Validate everything first, then encode every text query in shared Encode calls.
  std::vector<api::Matrix> queries(request.requests_size());
  std::vector<std::string> texts;
  std::vector<int> text_slots;
  for (int i = 0; i < request.requests_size(); ++i) {
    const auto& one = request.requests(i);
    const std::string field = absl::StrCat("requests[", i, "]");
    if (auto status = ValidateSearch(one); !status.ok()) {
      return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
    }
    if (!one.prompt_name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": prompt_name is not supported in SearchBatch"));
    }
    if (one.query_case() == tartan::v1::SearchRequest::kText) {
      texts.push_back(one.text());
      text_slots.push_back(i);
    } else {
      ASSIGN_OR_RETURN(queries[i], api::DecodeTokenVectors(one.vectors(), 0, kMaxQueryTokens,
                                                           field + ".vectors"));
    }
  }
  if (!texts.empty()) {
    ASSIGN_OR_RETURN(auto encoded, EncodeTexts(texts, tartan::v1::QUERY, "", 0, deadline));
    for (size_t j = 0; j < text_slots.size(); ++j) queries[text_slots[j]] = std::move(encoded[j]);
  }
  // Queries fan out concurrently, kConcurrent at a time: each thread waits on one query's
  // shard RPCs (SearchEncoded), so this is about waiting, not cores.
  constexpr int kConcurrent = 8;
  std::vector<absl::Status> statuses(request.requests_size());
  for (int i = 0; i < request.requests_size(); ++i) response->add_responses();
  compute::ParallelFor(request.requests_size(), kConcurrent, [&](int64_t i, int /*worker*/) {
    const absl::Time start = absl::Now();
    statuses[i] =
        SearchEncoded(request.requests(i), queries[i], deadline, response->mutable_responses(i));
    response->mutable_responses(i)->set_took_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
  });
  for (int i = 0; i < request.requests_size(); ++i) {
    if (!statuses[i].ok()) {
      return absl::Status(statuses[i].code(),
                          absl::StrCat("requests[", i, "]: ", statuses[i].message()));
    }
  }
  return absl::OkStatus();
}

grpc::Status RouterService::Rerank(grpc::ServerContext* context,
                                   const tartan::v1::RerankRequest* request,
                                   tartan::v1::RerankResponse* response) {
  return ToGrpcStatus(DoRerank(*request, Deadline(context), response));
}

absl::Status RouterService::DoRerank(const tartan::v1::RerankRequest& request, absl::Time deadline,
                                     tartan::v1::RerankResponse* response) {
  if (request.candidates_size() == 0) {
    return absl::InvalidArgumentError("candidates: at least one is required");
  }
  RETURN_IF_ERROR(
      api::CheckCount(request.candidates_size(), options_.max_rerank_candidates, "candidates"));
  if (request.query_case() == tartan::v1::RerankRequest::QUERY_NOT_SET) {
    return absl::InvalidArgumentError("query: set text or vectors");
  }
  auto info = ModelInfo(deadline);
  const bool needs_encoder = request.query_case() == tartan::v1::RerankRequest::kText ||
                             std::any_of(request.candidates().begin(), request.candidates().end(),
                                         [](const auto& c) { return c.has_text(); });
  if (needs_encoder && !info.ok()) return info.status();
  const int dim = info.ok() ? static_cast<int>(info->dim()) : 0;

  api::Matrix query;
  if (request.query_case() == tartan::v1::RerankRequest::kText) {
    RETURN_IF_ERROR(CheckNonBlankText(request.text(), "query"));
    ASSIGN_OR_RETURN(auto encoded, EncodeTexts({request.text()}, tartan::v1::QUERY,
                                               request.prompt_name(), 0, deadline));
    query = std::move(encoded[0]);
  } else {
    ASSIGN_OR_RETURN(
        query, api::DecodeTokenVectors(request.vectors(), dim, kMaxQueryTokens, "query.vectors"));
  }
  std::vector<api::Matrix> docs(request.candidates_size());
  std::vector<std::string> texts;
  std::vector<int> slots;
  for (int i = 0; i < request.candidates_size(); ++i) {
    const auto& candidate = request.candidates(i);
    const std::string field = absl::StrCat("candidates[", i, "]");
    RETURN_IF_ERROR(CheckDocumentId(candidate.id(), field));
    if (candidate.has_text()) {
      RETURN_IF_ERROR(CheckNonBlankText(candidate.text(), field));
      texts.push_back(candidate.text());
      slots.push_back(i);
    } else if (candidate.has_vectors()) {
      ASSIGN_OR_RETURN(docs[i], api::DecodeTokenVectors(candidate.vectors(), query.dim,
                                                        kMaxTokensPerDocument, field + ".vectors"));
    } else {
      return absl::InvalidArgumentError(field + ": set text or vectors");
    }
  }
  if (!texts.empty()) {
    ASSIGN_OR_RETURN(auto encoded, EncodeTexts(texts, tartan::v1::DOCUMENT, "", 0, deadline));
    for (size_t j = 0; j < slots.size(); ++j) docs[slots[j]] = std::move(encoded[j]);
  }
  std::vector<ScoredHit> scored;
  for (int i = 0; i < request.candidates_size(); ++i) {
    if (docs[i].dim != query.dim) {
      return absl::InvalidArgumentError(absl::StrCat("candidates[", i, "]: dim ", docs[i].dim,
                                                     " differs from the query's ", query.dim));
    }
    scored.push_back({request.candidates(i).id(),
                      compute::MaxSim(query.data.data(), query.rows, docs[i].data.data(),
                                      docs[i].rows, query.dim),
                      i});
  }
  std::sort(scored.begin(), scored.end(), BetterHit);
  const size_t k = request.k() == 0 ? scored.size() : std::min<size_t>(request.k(), scored.size());
  for (size_t i = 0; i < k; ++i) {
    auto* hit = response->add_hits();
    hit->set_id(scored[i].id);
    hit->set_score(scored[i].score);
  }
  return absl::OkStatus();
}

grpc::Status RouterService::ClusterStatus(grpc::ServerContext* context,
                                          const tartan::v1::ClusterStatusRequest* request,
                                          tartan::v1::ClusterStatusResponse* response) {
  const absl::Time deadline = std::min(Deadline(context), absl::Now() + absl::Seconds(5));
  auto set = shards_->Current();
  tartan::v1::StatsRequest stats_request;
  auto calls = FanOut<tartan::v1::ShardStats>(
      *set, deadline,
      [&stats_request](tartan::v1::Indexer::Stub* stub, grpc::ClientContext* ctx,
                       tartan::v1::ShardStats* out, std::function<void(grpc::Status)> done) {
        stub->async()->Stats(ctx, &stats_request, out, std::move(done));
      });
  uint64_t documents = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    auto* shard = response->add_shards();
    shard->set_address(set->shards[i]->address);
    shard->set_healthy(calls[i]->status.ok());
    if (!calls[i]->status.ok()) {
      shard->set_error(calls[i]->status.error_message());
      continue;
    }
    const auto& stats = calls[i]->response;
    shard->set_documents(stats.documents());
    shard->set_token_vectors(stats.token_vectors());
    shard->set_segments(stats.segments());
    shard->set_bytes_on_disk(stats.bytes_on_disk());
    shard->set_codec_id(stats.codec_id());
    documents += stats.documents();
  }
  response->set_documents(documents);
  grpc::ClientContext encoder_context;
  encoder_context.set_deadline(absl::ToChronoTime(deadline));
  tartan::v1::ModelInfo info;
  const bool encoder_ok = encoder_->GetModelInfo(&encoder_context, {}, &info).ok();
  response->set_encoder_healthy(encoder_ok);
  if (encoder_ok) *response->mutable_model() = info;
  return grpc::Status::OK;
}

}  // namespace tartan::router
