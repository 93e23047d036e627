// tartan.v1.Encoder request handling: the input is an EncodeRequest (protobuf wire format)
// handed to EncoderService::Encode directly over a tiny synthetic model (fuzz_fixtures.h).
// Every answer must be OK or a client-side error code, with one result per text when OK.
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/fuzz_fixtures.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tartan::encoder::EncoderService& service = tartan::fuzz::FuzzEncoder();
  tartan::v1::EncodeRequest request;
  if (!request.ParseFromArray(data, int(size))) {
    return 0;
  }
  // Bound the work per input (the service's own limits allow 256 texts x 200 KB).
  if (request.texts_size() > 8) {
    request.mutable_texts()->DeleteSubrange(8, request.texts_size() - 8);
  }
  for (std::string& text : *request.mutable_texts()) {
    if (text.size() > 2048) text.resize(2048);
  }
  grpc::ServerContext context;
  tartan::v1::EncodeResponse response;
  const grpc::Status status = service.Encode(&context, &request, &response);
  tartan::fuzz::AbortOnServerFault(status);
  if (status.ok() && response.results_size() != request.texts_size()) {
    std::abort();
  }
  return 0;
}
