// A real local cluster for integration tests: tartan-encoder, N tartan-indexer shards and
// tartan-router as separate processes on 127.0.0.1, on ports they pick themselves.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "tartan/v1/encoder.grpc.pb.h"
#include "tartan/v1/indexer.grpc.pb.h"
#include "tartan/v1/router.grpc.pb.h"
#include "tests/testing/process.h"

namespace tartan::testing {

// Writes (once per process) a lexical test model from the shared ModernBERT tokenizer and
// returns its folder; "" when ../shared is unavailable.
std::string LexicalTestModel(const std::string& work_dir);

class LocalCluster {
 public:
  struct Options {
    int shards = 3;
    int dim = 128;
    // --allow_exact_search on the shards and the router (the tests compare index and exact).
    bool allow_exact_search = true;
    std::vector<std::string> indexer_args;  // extra flags for every shard
    // Shards 1.. adopt shard 0's codec (--codec_source), as the Helm chart's shards do.
    bool share_codec = false;
    std::vector<std::string> router_args;
  };

  // Starts everything and waits until the router can search.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(const std::string& model_dir,
                                                             const std::string& work_dir,
                                                             const Options& options);
  ~LocalCluster();

  tartan::v1::Router::Stub& router() { return *router_stub_; }
  tartan::v1::Encoder::Stub& encoder() { return *encoder_stub_; }
  std::unique_ptr<tartan::v1::Indexer::Stub> ShardStub(int i) const;
  const std::string& shard_address(int i) const { return shard_addresses_[i]; }
  int num_shards() const { return static_cast<int>(shards_.size()); }
  ServiceProcess& shard(int i) { return shards_[i]; }
  ServiceProcess& router_process() { return router_; }

  // SIGKILL / SIGTERM a shard; RestartShard brings it back on the same port and data dir.
  void KillShard(int i);
  absl::Status StopShard(int i);
  absl::Status RestartShard(int i);
  // Waits until a router search reaches every shard (partial=false).
  absl::Status WaitUntilComplete(double timeout_s = 20);

 private:
  LocalCluster() = default;
  absl::StatusOr<ServiceProcess> StartShard(int i, int port);

  std::string work_dir_;
  Options options_;
  ServiceProcess encoder_;
  std::vector<ServiceProcess> shards_;
  std::vector<std::string> shard_addresses_;
  ServiceProcess router_;
  std::unique_ptr<tartan::v1::Router::Stub> router_stub_;
  std::unique_ptr<tartan::v1::Encoder::Stub> encoder_stub_;
};

// Unary call helpers with a deadline.
void SetDeadline(grpc::ClientContext* context, double seconds);

// Unit vectors, [rows, dim] row-major, as TokenVectors (normal entries, rows normalised).
tartan::v1::TokenVectors RandomVectors(std::mt19937* rng, int rows, int dim);

}  // namespace tartan::testing
