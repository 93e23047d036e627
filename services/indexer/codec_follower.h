// CodecFollower: keeps a shard on its index's shared codec (tartan-indexer --codec_source).
// It polls the source shard's GetCodec and adopts every codec the source publishes — when the
// source first trains one and again when it retrains as the index grows: the codec file is
// stored in the shard's folder (read back at start-up, so a restart keeps it) and
// Shard::AdoptCodec re-encodes the shard's segments with it. Until the first one arrives the
// shard trains its own, as an unshared shard would. A shard that reaches itself through the
// address (every pod of a StatefulSet gets the same one) is the source: it trains the codec
// for the others and stops polling.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "services/indexer/lib/shard.h"

namespace tartan::indexer {

struct CodecFollowerOptions {
  std::string source;  // host:port (or dns:///name:port) of the shard that trains the codec
  std::chrono::milliseconds poll_interval{10000};
  std::string data_dir;     // the shard's folder: the adopted codec file goes there
  std::string instance_id;  // this process's GetCodecResponse.instance_id
  int max_message_bytes = 64 << 20;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class CodecFollower {
 public:
  CodecFollower(CodecFollowerOptions options, std::shared_ptr<index::Shard> shard);
  ~CodecFollower();  // stops polling (cancels a call in flight; waits for an adoption)

  // The adopted codec file in a shard folder.
  static std::string AdoptedCodecPath(const std::string& data_dir);

  void Start();
  // Asks the source once: adopts a codec that is new, or finds that this process is the source
  // (*is_source). Errors: the source's (UNAVAILABLE while it is down), or a file that fails its
  // checks.
  absl::Status PollOnce(bool* is_source);

 private:
  void Loop();

  const CodecFollowerOptions opts_;
  const std::shared_ptr<index::Shard> shard_;
  std::shared_ptr<grpc::Channel> channel_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                    // guarded by mu_
  grpc::ClientContext* call_ = nullptr;  // guarded by mu_: the GetCodec in flight, to cancel
  std::thread thread_;
};

}  // namespace tartan::indexer
