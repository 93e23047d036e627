// Splitting a shard's share of a write into messages under gRPC's message size limit.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::router {

// Splits items of the given encoded sizes (bytes), in order, into consecutive half-open ranges
// [begin, end) whose sizes sum to at most `max_bytes` each, as few as greedy packing gives.
// An item larger than `max_bytes` on its own is INVALID_ARGUMENT naming its index.
absl::StatusOr<std::vector<std::pair<size_t, size_t>>> SplitBySize(const std::vector<size_t>& sizes,
                                                                   size_t max_bytes);

}  // namespace tartan::router
