// The set of index shards a router talks to, and which shard owns a document (no gRPC).
//
// Shards come from a static list ("host:port,host:port") or from a DNS name
// ("dns:///name:port", e.g. a Kubernetes headless service) that resolves to every shard and is
// re-resolved periodically. Addresses are kept sorted, and a document id is owned by
//   shard = xxh64(id bytes, seed 0) mod number_of_shards
// — stable, documented, and reproducible by a future re-balancing tool. With a DNS source the
// order follows the resolved IPs, so writes need a stable membership: prefer the explicit
// list of stable names (the Helm chart passes each StatefulSet pod's DNS name).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::router {

struct ShardSource {
  std::vector<std::string> static_addresses;  // sorted, unique
  std::string dns_name;                       // set for "dns:///name:port"
  int dns_port = 0;
};

// Parses --shards. Errors name the bad entry.
absl::StatusOr<ShardSource> ParseShardSource(std::string_view spec);

// Resolves a source to its sorted addresses ("ip:port" for DNS sources).
absl::StatusOr<std::vector<std::string>> ResolveShards(const ShardSource& source);

uint64_t DocumentHash(std::string_view id);
// Index into a sorted address list of `num_shards` entries.
int ShardForDocument(std::string_view id, int num_shards);

}  // namespace tartan::router
