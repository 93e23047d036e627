// The shared request limits (common/api/request_checks.h) on a decoded SearchRequest plus a
// document's metadata: no check may crash, and ClientText must stay within its bound.
#include <cstdint>
#include <cstdlib>

#include "common/api/request_checks.h"
#include "tartan/v1/router.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tartan::v1::SearchRequest request;
  if (!request.ParseFromArray(data, int(size))) {
    return 0;
  }
  namespace api = tartan::api;
  (void)api::CheckCollection(request.collection());
  (void)api::CheckK(request.k());
  (void)api::CheckNonBlankText(request.text(), "text");
  (void)api::CheckSearchParams(request.params(), false);
  (void)api::CheckSearchParams(request.params(), true);
  (void)api::CheckFilter(request.filter());
  (void)api::CheckIdSubset(request.id_subset());
  (void)api::CheckDocumentIds(request.id_subset(), "ids");
  for (const std::string& id : request.id_subset()) {
    (void)api::CheckDocumentId(id, "id");
  }
  // Metadata built from the id list: key i = value i.
  google::protobuf::Map<std::string, std::string> metadata;
  for (int i = 0; i + 1 < request.id_subset_size(); i += 2) {
    metadata[request.id_subset(i)] = request.id_subset(i + 1);
  }
  (void)api::CheckMetadata(metadata, "metadata");
  const std::string echo = api::ClientText(request.text());
  if (echo.size() > size_t(api::kMaxEchoBytes) + 32) {
    std::abort();
  }
  return 0;
}
