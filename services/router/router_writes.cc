// RouterService write path: validate, encode text documents, group by owning shard
// (xxh64(id) mod N), upsert every group in parallel; deletes go to every shard.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/api/request_checks.h"
#include "common/server/grpc_status.h"
#include "common/server/parse_error_interceptor.h"
#include "common/status_macros.h"
#include "services/router/fanout.h"
#include "services/router/lib/downstream_error.h"
#include "services/router/lib/shard_map.h"
#include "services/router/lib/write_split.h"
#include "services/router/router_service.h"

namespace tartan::router {
absl::Status RouterService::AddBatch(const tartan::v1::AddDocumentsRequest& request,
                                     absl::Time deadline,
                                     tartan::v1::AddDocumentsResponse* response) {
  RETURN_IF_ERROR(api::CheckCollection(request.collection()));
  RETURN_IF_ERROR(
      api::CheckCount(request.documents_size(), api::kMaxDocumentsPerRequest, "documents"));
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
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": duplicate id '", api::ClientText(doc.id()), "'"));
    }
    RETURN_IF_ERROR(api::CheckMetadata(doc.metadata(), field));
    switch (doc.content_case()) {
      case tartan::v1::NewDocument::kText: {
        RETURN_IF_ERROR(api::CheckNonBlankText(doc.text(), field));
        RETURN_IF_ERROR(CheckTextLength(doc.text(), info, field));
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
  std::vector<std::vector<tartan::v1::Document>> per_shard(num_shards);
  uint64_t tokens = 0;
  for (int i = 0; i < request.documents_size(); ++i) {
    const auto& doc = request.documents(i);
    tartan::v1::Document out;
    out.set_id(doc.id());
    *out.mutable_metadata() = doc.metadata();
    api::EncodeTokenVectors(vectors[i].data.data(), vectors[i].rows, vectors[i].dim,
                            tartan::v1::FLOAT32, out.mutable_vectors());
    tokens += vectors[i].rows;
    vectors[i] = {};  // the copy in `out` is the one sent
    per_shard[ShardForDocument(doc.id(), num_shards)].push_back(std::move(out));
  }
  // Each shard's share goes out in messages under the message size limit (1,000 documents of
  // 300 float32 tokens of 128 dims are ~150 MB), one after another; shards run in parallel.
  // A document is framed by a tag and a length (<= 6 bytes); the collection and the message's
  // own framing fit in the slack.
  const size_t message_budget =
      static_cast<size_t>(std::max(options_.max_message_bytes - 4096, 4096));
  std::vector<std::vector<tartan::v1::UpsertRequest>> messages(num_shards);
  size_t rounds = 0;
  for (int s = 0; s < num_shards; ++s) {
    std::vector<size_t> sizes;
    for (const auto& doc : per_shard[s]) sizes.push_back(doc.ByteSizeLong() + 6);
    auto ranges = SplitBySize(sizes, message_budget);
    if (!ranges.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("document '", api::ClientText(per_shard[s][0].id()),
                       "' and others: a document's vectors exceed the message limit: ",
                       ranges.status().message()));
    }
    for (const auto& [begin, end] : *ranges) {
      auto& upsert = messages[s].emplace_back();
      upsert.set_collection(request.collection());
      for (size_t d = begin; d < end; ++d) *upsert.add_documents() = std::move(per_shard[s][d]);
    }
    rounds = std::max(rounds, messages[s].size());
  }
  // Round r sends each shard its message r, unless an earlier one failed.
  std::vector<grpc::Status> shard_status(num_shards);
  std::vector<uint64_t> stored(num_shards, 0);
  for (size_t round = 0; round < rounds; ++round) {
    auto calls = FanOut<tartan::v1::UpsertResponse>(
        *set, deadline,
        [&](tartan::v1::Indexer::Stub* stub, grpc::ClientContext* context,
            tartan::v1::UpsertResponse* out, std::function<void(grpc::Status)> done) {
          // Find this stub's slot; shards with nothing (left) to send answer at once.
          for (int s = 0; s < num_shards; ++s) {
            if (set->shards[s]->stub.get() != stub) continue;
            if (round >= messages[s].size() || !shard_status[s].ok()) {
              done(grpc::Status::OK);
              return;
            }
            stub->async()->Upsert(context, &messages[s][round], out, std::move(done));
            return;
          }
        });
    for (int s = 0; s < num_shards; ++s) {
      if (round >= messages[s].size() || !shard_status[s].ok()) continue;
      if (calls[s]->status.ok()) {
        stored[s] += messages[s][round].documents_size();
      } else {
        shard_status[s] = calls[s]->status;
      }
    }
  }
  uint64_t added = 0;
  DownstreamFailures failures;
  for (int s = 0; s < num_shards; ++s) {
    added += stored[s];
    if (shard_status[s].ok()) continue;
    uint64_t owned = 0;
    for (const auto& message : messages[s]) owned += message.documents_size();
    failures.Add(absl::StrCat("shard ", set->shards[s]->address, " (", owned - stored[s], " of ",
                              owned, " documents not stored)"),
                 FromGrpcStatus(shard_status[s]));
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
  return ToGrpcStatus(DoAddDocumentsStream(context, reader, response));
}

absl::Status RouterService::DoAddDocumentsStream(
    grpc::ServerContext* context, grpc::ServerReader<tartan::v1::AddDocumentsRequest>* reader,
    tartan::v1::AddDocumentsResponse* response) {
  ASSIGN_OR_RETURN(StreamSlot slot, streams_.Admit([context] { context->TryCancel(); }));
  const absl::Time client_deadline = absl::FromChrono(context->deadline());
  tartan::v1::AddDocumentsRequest request;
  for (int message = 0;; ++message) {
    absl::Status status;
    switch (slot.Read(reader, &request)) {
      case StreamRead::kEnd:
        return absl::OkStatus();
      case StreamRead::kUnparsable:
        status = absl::InvalidArgumentError(kUnparsableMessage);
        break;
      case StreamRead::kIdleTimeout:
        status = slot.IdleError();
        break;
      case StreamRead::kMessage: {
        // Each message gets the default budget; the stream as a whole follows the client's.
        const absl::Time deadline =
            std::min(client_deadline, absl::Now() + options_.default_timeout);
        status = AddBatch(request, deadline, response);
        break;
      }
    }
    if (!status.ok()) {
      // Everything counted in response->added() is stored (messages before this one, and the
      // part of this one that reached its shards); the error says so, and so does the trailing
      // metadata tartan-stored-documents.
      context->AddTrailingMetadata("tartan-stored-documents", absl::StrCat(response->added()));
      return absl::Status(
          status.code(),
          absl::StrCat("message ", message, ": ", status.message(), " (stored: ", response->added(),
                       " documents, those of messages 0..", message - 1,
                       "; resending from message ", message, " is safe: upserts replace by id)"));
    }
  }
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
  RETURN_IF_ERROR(api::CheckDocumentIds(request.ids(), "ids"));
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
