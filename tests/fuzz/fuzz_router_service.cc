// tartan.v1.Router request handling: byte 0 picks the RPC, the rest is its request message
// (protobuf wire format), handed to RouterService directly. Behind it: the fixture encoder on
// an in-process channel and the fixture shard on a unix socket in the scratch folder
// (fuzz_fixtures.h), so fan-out, merge and write routing run for real without a network.
// Every answer must be OK or a client-side error code, never INTERNAL or UNKNOWN.
#include <cstdint>
#include <cstdlib>

#include <grpcpp/grpcpp.h>

#include "services/router/router_service.h"
#include "tests/fuzz/fuzz_fixtures.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

namespace v1 = tartan::v1;

struct Router {
  std::unique_ptr<grpc::Server> encoder_server;
  std::unique_ptr<grpc::Server> shard_server;
  std::unique_ptr<tartan::router::ShardClients> shards;
  std::unique_ptr<tartan::router::RouterService> service;
};

Router& FuzzRouter() {
  static Router* router = [] {
    auto* r = new Router;
    grpc::ServerBuilder encoder_builder;
    encoder_builder.RegisterService(&tartan::fuzz::FuzzEncoder());
    r->encoder_server = encoder_builder.BuildAndStart();
    grpc::ServerBuilder shard_builder;
    const std::string socket = "unix:" + tartan::fuzz::ScratchDir() + "/shard.sock";
    shard_builder.AddListeningPort(socket, grpc::InsecureServerCredentials());
    shard_builder.RegisterService(&tartan::fuzz::FuzzIndexer());
    r->shard_server = shard_builder.BuildAndStart();
    if (r->encoder_server == nullptr || r->shard_server == nullptr) {
      std::abort();
    }
    r->shards = std::make_unique<tartan::router::ShardClients>(
        tartan::router::ShardSource{.static_addresses = {socket}}, 64 << 20,
        grpc::InsecureChannelCredentials());
    if (!r->shards->Refresh().ok()) {
      std::abort();
    }
    static prometheus::Registry registry;
    tartan::router::RouterOptions options;
    options.default_timeout = absl::Seconds(5);
    options.allow_exact_search = true;
    r->service = std::make_unique<tartan::router::RouterService>(
        options, r->encoder_server->InProcessChannel(grpc::ChannelArguments()), r->shards.get(),
        registry);
    return r;
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tartan::router::RouterService& service = *FuzzRouter().service;
  if (size == 0) {
    return 0;
  }
  const uint8_t method = data[0] % 6;
  ++data;
  --size;
  grpc::ServerContext context;
  switch (method) {
    case 0: {
      v1::AddDocumentsRequest request;
      v1::AddDocumentsResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request)) {
        tartan::fuzz::AbortOnServerFault(service.AddDocuments(&context, &request, &response));
      }
      break;
    }
    case 1: {
      v1::DeleteDocumentsRequest request;
      v1::DeleteDocumentsResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request)) {
        tartan::fuzz::AbortOnServerFault(service.DeleteDocuments(&context, &request, &response));
      }
      break;
    }
    case 2: {
      v1::SearchRequest request;
      v1::SearchResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request)) {
        const grpc::Status status = service.Search(&context, &request, &response);
        tartan::fuzz::AbortOnServerFault(status);
        if (status.ok() && uint32_t(response.hits_size()) > request.k()) std::abort();
      }
      break;
    }
    case 3: {
      v1::SearchBatchRequest request;
      v1::SearchBatchResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request)) {
        tartan::fuzz::AbortOnServerFault(service.SearchBatch(&context, &request, &response));
      }
      break;
    }
    case 4: {
      v1::RerankRequest request;
      v1::RerankResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request))
        tartan::fuzz::AbortOnServerFault(service.Rerank(&context, &request, &response));
      break;
    }
    default: {
      v1::ClusterStatusRequest request;
      v1::ClusterStatusResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request)) {
        tartan::fuzz::AbortOnServerFault(service.ClusterStatus(&context, &request, &response));
      }
      break;
    }
  }
  return 0;
}
