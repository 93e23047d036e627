#include "services/router/authorized_router.h"

#include "absl/strings/str_cat.h"
#include "common/server/grpc_status.h"

namespace tartan::router {

grpc::Status AuthorizedRouter::Check(const grpc::ServerContext& context, const char* method) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  const absl::string_view header = it == metadata.end()
                                       ? absl::string_view()
                                       : absl::string_view(it->second.data(), it->second.size());
  // RequiredScope is never nullopt for a Router method (unknown ones need admin).
  const Scope scope =
      RequiredScope(absl::StrCat("/", tartan::v1::Router::service_full_name(), "/", method))
          .value_or(Scope::kAdmin);
  return ToGrpcStatus(keys_->Authorize(header, scope));
}

// Each method: check, then delegate. The macro keeps the seven bodies identical.
#define TARTAN_AUTHORIZED(method, ...)                                             \
  if (grpc::Status denied = Check(*context, #method); !denied.ok()) return denied; \
  return inner_->method(context, __VA_ARGS__)

grpc::Status AuthorizedRouter::AddDocuments(grpc::ServerContext* context,
                                            const tartan::v1::AddDocumentsRequest* request,
                                            tartan::v1::AddDocumentsResponse* response) {
  TARTAN_AUTHORIZED(AddDocuments, request, response);
}

grpc::Status AuthorizedRouter::AddDocumentsStream(
    grpc::ServerContext* context, grpc::ServerReader<tartan::v1::AddDocumentsRequest>* reader,
    tartan::v1::AddDocumentsResponse* response) {
  TARTAN_AUTHORIZED(AddDocumentsStream, reader, response);
}

grpc::Status AuthorizedRouter::DeleteDocuments(grpc::ServerContext* context,
                                               const tartan::v1::DeleteDocumentsRequest* request,
                                               tartan::v1::DeleteDocumentsResponse* response) {
  TARTAN_AUTHORIZED(DeleteDocuments, request, response);
}

grpc::Status AuthorizedRouter::Search(grpc::ServerContext* context,
                                      const tartan::v1::SearchRequest* request,
                                      tartan::v1::SearchResponse* response) {
  TARTAN_AUTHORIZED(Search, request, response);
}

grpc::Status AuthorizedRouter::SearchBatch(grpc::ServerContext* context,
                                           const tartan::v1::SearchBatchRequest* request,
                                           tartan::v1::SearchBatchResponse* response) {
  TARTAN_AUTHORIZED(SearchBatch, request, response);
}

grpc::Status AuthorizedRouter::Rerank(grpc::ServerContext* context,
                                      const tartan::v1::RerankRequest* request,
                                      tartan::v1::RerankResponse* response) {
  TARTAN_AUTHORIZED(Rerank, request, response);
}

grpc::Status AuthorizedRouter::ClusterStatus(grpc::ServerContext* context,
                                             const tartan::v1::ClusterStatusRequest* request,
                                             tartan::v1::ClusterStatusResponse* response) {
  TARTAN_AUTHORIZED(ClusterStatus, request, response);
}

#undef TARTAN_AUTHORIZED

}  // namespace tartan::router
