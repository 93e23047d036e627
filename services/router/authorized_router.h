// The router's API-key gate: a tartan.v1.Router service that checks the caller's key and scope
// (common/server/api_keys.h) and then hands the call to the real RouterService. Registered in
// place of the RouterService when --api_keys_file is set. It derives from the generated base,
// so a method added to router.proto but not here answers UNIMPLEMENTED: it fails closed.
//
// Why not a server interceptor: gRPC 1.51 server interceptors cannot end a call before its
// handler runs; an AuthMetadataProcessor runs only over TLS, and keys must also hold on
// plaintext behind a TLS-terminating proxy (--insecure).
#pragma once

#include <grpcpp/grpcpp.h>

#include "common/server/api_keys.h"
#include "tartan/v1/router.grpc.pb.h"

namespace tartan::router {

class AuthorizedRouter final : public tartan::v1::Router::Service {
 public:
  // Both must outlive this service.
  AuthorizedRouter(tartan::v1::Router::Service* inner, ApiKeyStore* keys)
      : inner_(inner), keys_(keys) {}

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
  // OK, UNAUTHENTICATED or PERMISSION_DENIED for `method` ("Search").
  grpc::Status Check(const grpc::ServerContext& context, const char* method) const;

  tartan::v1::Router::Service* const inner_;
  ApiKeyStore* const keys_;
};

}  // namespace tartan::router
