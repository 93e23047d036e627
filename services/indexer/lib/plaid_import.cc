#include "common/status_macros.h"
#include "services/indexer/lib/shard_impl.h"

namespace tartan::index {
absl::StatusOr<int> ShardImpl::ImportPlaid(const std::string& dir, const std::string& prefix) {
  return absl::UnimplementedError("PLAID import is not implemented yet");
}
}  // namespace tartan::index
