// tartan.v1.Indexer request handling: byte 0 picks the RPC, the rest is its request message
// (protobuf wire format); the handler runs directly on the fixture shard (fuzz_fixtures.h).
// Every answer must be OK or a client-side error code, never INTERNAL or UNKNOWN, and
// search replies must respect k.
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/fuzz_fixtures.h"

namespace {

namespace v1 = tartan::v1;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tartan::indexer::IndexerService& service = tartan::fuzz::FuzzIndexer();
  if (size == 0) {
    return 0;
  }
  const uint8_t method = data[0] % 8;
  ++data;
  --size;
  grpc::ServerContext context;
  switch (method) {
    case 0: {
      v1::UpsertRequest request;
      v1::UpsertResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request))
        tartan::fuzz::AbortOnServerFault(service.Upsert(&context, &request, &response));
      break;
    }
    case 1: {
      v1::DeleteRequest request;
      v1::DeleteResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request))
        tartan::fuzz::AbortOnServerFault(service.Delete(&context, &request, &response));
      break;
    }
    case 2: {
      v1::ShardSearchRequest request;
      v1::ShardSearchResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request)) {
        const grpc::Status status = service.Search(&context, &request, &response);
        tartan::fuzz::AbortOnServerFault(status);
        if (status.ok() && uint32_t(response.hits_size()) > request.k()) std::abort();
      }
      break;
    }
    case 3: {
      v1::GetRequest request;
      v1::GetResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request))
        tartan::fuzz::AbortOnServerFault(service.Get(&context, &request, &response));
      break;
    }
    case 4: {
      v1::StatsRequest request;
      v1::ShardStats response;
      if (tartan::fuzz::ParseRequest(data, size, &request))
        tartan::fuzz::AbortOnServerFault(service.Stats(&context, &request, &response));
      break;
    }
    case 5: {
      v1::FlushRequest request;
      v1::FlushResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request))
        tartan::fuzz::AbortOnServerFault(service.Flush(&context, &request, &response));
      break;
    }
    case 6: {
      v1::CompactRequest request;
      v1::CompactResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request))
        tartan::fuzz::AbortOnServerFault(service.Compact(&context, &request, &response));
      break;
    }
    default: {
      v1::GetCodecRequest request;
      v1::GetCodecResponse response;
      if (tartan::fuzz::ParseRequest(data, size, &request)) {
        const grpc::Status status = service.GetCodec(&context, &request, &response);
        tartan::fuzz::AbortOnServerFault(status);
        // A codec file comes only with a codec the caller does not know.
        if (status.ok() && !response.codec_file().empty() &&
            (response.codec_id() == 0 || response.codec_id() == request.known_codec_id()))
          std::abort();
      }
      break;
    }
  }
  return 0;
}
