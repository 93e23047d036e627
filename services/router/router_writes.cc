// RouterService write path: validate, encode text documents, group by owning shard
// (xxh64(id) mod N), upsert every group in parallel; deletes go to every shard.
#include <set>

#include "absl/strings/str_cat.h"
#include "common/api/request_checks.h"
#include "common/server/grpc_status.h"
#include "common/status_macros.h"
#include "services/router/fanout.h"
#include "services/router/lib/downstream_error.h"
#include "services/router/lib/shard_map.h"
#include "services/router/router_service.h"

namespace tartan::router {
absl::Status RouterService::AddBatch(const tartan::v1::AddDocumentsRequest& request,
                                     absl::Time deadline,
                                     tartan::v1::AddDocumentsResponse* response) {
  RETURN_IF_ERROR(api::CheckCollection(request.collection()));
  if (request.documents_size() > options_.max_documents_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("documents: at most ",
                                                   options_.max_documents_per_request,
                                                   " per request, got ", request.documents_size()));
  }
  if (request.documents_size() == 0) return absl::OkStatus();
  std::set<std::string> seen;
  std::vector<std::string> texts;
  std::vector<int> text_slots;
  std::vector<api::Matrix> vectors(request.documents_size());
  ASSIGN_OR_RETURN(tartan::v1::ModelInfo info, ModelInfo(deadline));
  for (int i = 0; i < request.documents_size(); ++i) {
    const auto& doc = request.documents(i);
    const std::string field = absl::StrCat("documents[", i, "]");
    RETURN_IF_ERROR(api::CheckDocumentId(doc.id(), field));
    if (!seen.insert(doc.id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": duplicate id '", doc.id(), "'"));
    }
    switch (doc.content_case()) {
      case tartan::v1::NewDocument::kText: {
        RETURN_IF_ERROR(api::CheckNonBlankText(doc.text(), field));
        texts.push_back(doc.text());
        text_slots.push_back(i);
        break;
      }
      case tartan::v1::NewDocument::kVectors: {
        ASSIGN_OR_RETURN(vectors[i],
                         api::DecodeTokenVectors(doc.vectors(), info.dim(),
                                                 api::kMaxTokensPerDocument, field + ".vectors"));
        break;
      }
      case tartan::v1::NewDocument::CONTENT_NOT_SET:
        return absl::InvalidArgumentError(field + ": set text or vectors");
    }
  }
  if (!texts.empty()) {
    ASSIGN_OR_RETURN(auto encoded, EncodeTexts(texts, tartan::v1::DOCUMENT, request.prompt_name(),
                                               request.pool_factor(), deadline));
    for (size_t j = 0; j < text_slots.size(); ++j) vectors[text_slots[j]] = std::move(encoded[j]);
  }

  auto set = shards_->Current();
  if (set->shards.empty()) return absl::UnavailableError("no shards are known");
  const int num_shards = static_cast<int>(set->shards.size());
  std::vector<tartan::v1::UpsertRequest> per_shard(num_shards);
  uint64_t tokens = 0;
  for (int i = 0; i < request.documents_size(); ++i) {
    const auto& doc = request.documents(i);
    auto& upsert = per_shard[ShardForDocument(doc.id(), num_shards)];
    upsert.set_collection(request.collection());
    auto* out = upsert.add_documents();
    out->set_id(doc.id());
    *out->mutable_metadata() = doc.metadata();
    api::EncodeTokenVectors(vectors[i].data.data(), vectors[i].rows, vectors[i].dim,
                            tartan::v1::FLOAT32, out->mutable_vectors());
    tokens += vectors[i].rows;
  }
  auto calls = FanOut<tartan::v1::UpsertResponse>(
      *set, deadline,
      [&per_shard, &set](tartan::v1::Indexer::Stub* stub, grpc::ClientContext* context,
                         tartan::v1::UpsertResponse* out, std::function<void(grpc::Status)> done) {
        // Find this stub's slot; shards without documents answer at once.
        for (size_t s = 0; s < set->shards.size(); ++s) {
          if (set->shards[s]->stub.get() != stub) continue;
          if (per_shard[s].documents_size() == 0) {
            done(grpc::Status::OK);
            return;
          }
          stub->async()->Upsert(context, &per_shard[s], out, std::move(done));
          return;
        }
      });
  uint64_t added = 0;
  DownstreamFailures failures;
  for (int s = 0; s < num_shards; ++s) {
    if (calls[s]->status.ok()) {
      added += per_shard[s].documents_size();
      continue;
    }
    failures.Add(absl::StrCat("shard ", set->shards[s]->address, " (",
                              per_shard[s].documents_size(), " documents)"),
                 FromGrpcStatus(calls[s]->status));
  }
  response->set_added(response->added() + added);
  response->set_tokens(response->tokens() + tokens);
  return failures.ToStatus(absl::StrCat("some documents were not stored (", added,
                                        " were; upserts replace by id, so retrying is safe)"));
}

grpc::Status RouterService::AddDocuments(grpc::ServerContext* context,
                                         const tartan::v1::AddDocumentsRequest* request,
                                         tartan::v1::AddDocumentsResponse* response) {
  return ToGrpcStatus(AddBatch(*request, Deadline(context), response));
}

grpc::Status RouterService::AddDocumentsStream(
    grpc::ServerContext* context, grpc::ServerReader<tartan::v1::AddDocumentsRequest>* reader,
    tartan::v1::AddDocumentsResponse* response) {
  return ToGrpcStatus(
      DoAddDocumentsStream(reader, absl::FromChrono(context->deadline()), response));
}

absl::Status RouterService::DoAddDocumentsStream(
    grpc::ServerReader<tartan::v1::AddDocumentsRequest>* reader, absl::Time client_deadline,
    tartan::v1::AddDocumentsResponse* response) {
  tartan::v1::AddDocumentsRequest request;
  int batch = 0;
  while (reader->Read(&request)) {
    // Each batch gets the default budget; the stream as a whole follows the client deadline.
    const absl::Time deadline = std::min(client_deadline, absl::Now() + options_.default_timeout);
    absl::Status status = AddBatch(request, deadline, response);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("batch ", batch, " (", response->added(),
                                       " documents stored before it): ", status.message()));
    }
    ++batch;
  }
  return absl::OkStatus();
}

grpc::Status RouterService::DeleteDocuments(grpc::ServerContext* context,
                                            const tartan::v1::DeleteDocumentsRequest* request,
                                            tartan::v1::DeleteDocumentsResponse* response) {
  return ToGrpcStatus(DoDeleteDocuments(*request, Deadline(context), response));
}

absl::Status RouterService::DoDeleteDocuments(const tartan::v1::DeleteDocumentsRequest& request,
                                              absl::Time deadline,
                                              tartan::v1::DeleteDocumentsResponse* response) {
  RETURN_IF_ERROR(api::CheckCollection(request.collection()));
  for (int i = 0; i < request.ids_size(); ++i) {
    RETURN_IF_ERROR(api::CheckDocumentId(request.ids(i), absl::StrCat("ids[", i, "]")));
  }
  auto set = shards_->Current();
  if (set->shards.empty()) return absl::UnavailableError("no shards are known");
  tartan::v1::DeleteRequest shard_request;
  shard_request.set_collection(request.collection());
  *shard_request.mutable_ids() = request.ids();
  // Every shard: a document may predate a change of the shard set.
  auto calls = FanOut<tartan::v1::DeleteResponse>(
      *set, deadline,
      [&shard_request](tartan::v1::Indexer::Stub* stub, grpc::ClientContext* ctx,
                       tartan::v1::DeleteResponse* out, std::function<void(grpc::Status)> done) {
        stub->async()->Delete(ctx, &shard_request, out, std::move(done));
      });
  uint64_t deleted = 0;
  DownstreamFailures failures;
  for (size_t s = 0; s < calls.size(); ++s) {
    if (calls[s]->status.ok()) {
      deleted += calls[s]->response.deleted();
    } else {
      failures.Add(absl::StrCat("shard ", set->shards[s]->address),
                   FromGrpcStatus(calls[s]->status));
    }
  }
  response->set_deleted(deleted);
  return failures.ToStatus("delete did not reach every shard (retrying is safe)");
}

}  // namespace tartan::router
