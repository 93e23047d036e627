// The router's live view of the cluster: one gRPC channel per shard address, kept in step
// with the shard source (static list or DNS re-resolution).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "services/router/lib/shard_map.h"
#include "tartan/v1/indexer.grpc.pb.h"

namespace tartan::router {

struct ShardClient {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<tartan::v1::Indexer::Stub> stub;
};

// An immutable snapshot: addresses sorted, index = placement slot.
struct ShardSet {
  std::vector<std::shared_ptr<ShardClient>> shards;
};

class ShardClients {
 public:
  // `credentials`: TLS (from --tls_ca_file, ...) or insecure; shared by every shard channel.
  ShardClients(ShardSource source, int max_message_bytes,
               std::shared_ptr<grpc::ChannelCredentials> credentials);

  // Re-resolves the source; keeps existing channels for unchanged addresses. On a DNS error
  // the previous set stays in place and the error is returned.
  absl::Status Refresh();
  std::shared_ptr<const ShardSet> Current() const;

 private:
  const ShardSource source_;
  const int max_message_bytes_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const ShardSet> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tartan::router
