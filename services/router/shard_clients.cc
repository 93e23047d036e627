#include "services/router/shard_clients.h"

#include "absl/container/flat_hash_map.h"
#include "common/logging.h"

namespace tartan::router {
namespace {

// Reads are idempotent: a search or get that a shard shed (RESOURCE_EXHAUSTED: its handler
// threads were all taken, say by a burst of stream opens) is tried again, twice at most, within
// the caller's deadline, rather than answered partial.
constexpr char kShardReadRetry[] = R"({"methodConfig": [{
  "name": [{"service": "tartan.v1.Indexer", "method": "Search"},
           {"service": "tartan.v1.Indexer", "method": "Get"}],
  "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.02s", "maxBackoff": "0.2s",
                  "backoffMultiplier": 3, "retryableStatusCodes": ["RESOURCE_EXHAUSTED"]}}]})";

}  // namespace

ShardClients::ShardClients(ShardSource source, int max_message_bytes,
                           std::shared_ptr<grpc::ChannelCredentials> credentials)
    : source_(std::move(source)),
      max_message_bytes_(max_message_bytes),
      credentials_(std::move(credentials)),
      current_(std::make_shared<ShardSet>()) {}

absl::Status ShardClients::Refresh() {
  auto addresses = ResolveShards(source_);
  if (!addresses.ok()) {
    LOG_WARNING << "shard resolution failed, keeping the previous set: " << addresses.status();
    return addresses.status();
  }
  auto previous = Current();
  absl::flat_hash_map<std::string, std::shared_ptr<ShardClient>> existing;
  for (const auto& shard : previous->shards) existing[shard->address] = shard;
  auto next = std::make_shared<ShardSet>();
  bool changed = previous->shards.size() != addresses->size();
  for (const std::string& address : *addresses) {
    auto it = existing.find(address);
    if (it != existing.end()) {
      next->shards.push_back(it->second);
      continue;
    }
    changed = true;
    auto client = std::make_shared<ShardClient>();
    client->address = address;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(max_message_bytes_);
    args.SetMaxSendMessageSize(max_message_bytes_);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    // Reconnect quickly after a shard restarts.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetServiceConfigJSON(kShardReadRetry);
    client->channel = grpc::CreateCustomChannel(address, credentials_, args);
    client->stub = tartan::v1::Indexer::NewStub(client->channel);
    next->shards.push_back(std::move(client));
  }
  if (changed) {
    std::string list;
    for (const auto& shard : next->shards) list += shard->address + " ";
    LOG_INFO << "shard set: " << list;
  }
  absl::MutexLock lock(&mu_);
  current_ = std::move(next);
  return absl::OkStatus();
}

std::shared_ptr<const ShardSet> ShardClients::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

}  // namespace tartan::router
