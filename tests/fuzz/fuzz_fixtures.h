// The services the request-handling fuzz targets call directly (no network): an indexer over
// a small real shard, an encoder over a tiny synthetic BERT checkpoint. Built once per process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/server_context.h>

#include "services/encoder/encoder_service.h"
#include "services/indexer/indexer_service.h"

namespace tartan::fuzz {

inline constexpr int kFuzzDim = 32;  // the synthetic checkpoint's and the shard's dimension

// An IndexerService over a shard in the scratch folder holding 40 documents (30 in a
// compressed segment, 10 in the fresh one), metadata {"lang": "en"|"fr", "n": "<i>"},
// ids "d0".."d39". Exact search is allowed so its path is fuzzed too.
indexer::IndexerService& FuzzIndexer();
// An EncoderService over a tiny synthetic BERT ColBERT checkpoint (dim kFuzzDim).
encoder::EncoderService& FuzzEncoder();

// Aborts (a finding) when a handler answers INTERNAL or UNKNOWN: a request, however hostile,
// must get OK or a code that names the client's mistake.
void AbortOnServerFault(const grpc::Status& status);

// A request message from the fuzz input (protobuf wire format); false when it does not parse.
template <typename Request>
bool ParseRequest(const uint8_t* data, size_t size, Request* request) {
  return request->ParseFromArray(data, int(size));
}

}  // namespace tartan::fuzz
