// Reads a PLAID index written by Stanford ColBERT / fast-plaid / pylate-rs as one compressed
// segment to import (Shard::ImportPlaidIndex, `tartanctl import-plaid`). Codes and residuals
// are copied unchanged: fast-plaid decompresses as normalize(centroid[code] +
// bucket_weights[bucket_d]), our codec's decode with identical per-dimension tables.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "services/indexer/lib/segment_build.h"

namespace tartan::index {

// Document ids are id_prefix + passage number. Fails on a dim other than shard_dim, on
// inconsistent files, and on an index with no documents.
absl::StatusOr<SegmentBuild> ReadPlaidIndex(const std::string& dir, const std::string& id_prefix,
                                            int shard_dim);

}  // namespace tartan::index
