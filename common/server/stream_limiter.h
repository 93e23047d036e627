// Bounds the client streams of a synchronous gRPC server. Each open stream holds one of the
// server's --max_threads handler threads for as long as the client keeps it open, so without
// a bound a few thousand idle streams take every thread and unary calls (searches) get
// "Server Threadpool Exhausted". The limiter admits at most `max_streams` streams at once (the
// next gets RESOURCE_EXHAUSTED at once, with the limit in the message) and cancels a stream
// whose handler has waited for the client's next message longer than `idle_timeout`.
//
//   ASSIGN_OR_RETURN(StreamSlot slot, limiter.Admit([context] { context->TryCancel(); }));
//   switch (slot.Read(reader, &request)) { ... case StreamRead::kIdleTimeout: ... }
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/server/parse_error_interceptor.h"

namespace tartan {

struct StreamLimits {
  int max_streams = 32;                             // open client streams per service
  absl::Duration idle_timeout = absl::Seconds(60);  // waiting for the next message
};

class StreamLimiter;

// One admitted stream; gives its place back when destroyed. Movable, not copyable.
class StreamSlot {
 public:
  StreamSlot(StreamSlot&& other) noexcept;
  StreamSlot& operator=(StreamSlot&&) = delete;
  StreamSlot(const StreamSlot&) = delete;
  ~StreamSlot();

  // ReadStreamMessage, with the idle clock running while it waits. kIdleTimeout: the limiter
  // cancelled the stream because no message came within the idle timeout.
  template <typename Request>
  StreamRead Read(grpc::ServerReaderInterface<Request>* reader, Request* message) {
    SetWaiting(true);
    const StreamRead read = ReadStreamMessage(reader, message);
    SetWaiting(false);
    return read != StreamRead::kMessage && IdleCancelled() ? StreamRead::kIdleTimeout : read;
  }
  // The error a handler returns after kIdleTimeout.
  absl::Status IdleError() const;

 private:
  friend class StreamLimiter;
  StreamSlot(StreamLimiter* limiter, uint64_t id) : limiter_(limiter), id_(id) {}
  void SetWaiting(bool waiting);
  bool IdleCancelled() const;

  StreamLimiter* limiter_;  // null once moved from
  uint64_t id_;
};

class StreamLimiter {
 public:
  explicit StreamLimiter(StreamLimits limits);
  ~StreamLimiter();
  StreamLimiter(const StreamLimiter&) = delete;
  StreamLimiter& operator=(const StreamLimiter&) = delete;

  // A slot for a new stream, or RESOURCE_EXHAUSTED when max_streams are open. `cancel` ends
  // the stream (ServerContext::TryCancel); it is called at most once, while the slot lives.
  absl::StatusOr<StreamSlot> Admit(std::function<void()> cancel);

  int open_streams() const;
  const StreamLimits& limits() const { return limits_; }

 private:
  friend class StreamSlot;
  struct Stream {
    std::function<void()> cancel;
    absl::Time waiting_since = absl::InfiniteFuture();  // InfiniteFuture: not waiting
    bool cancelled = false;
  };
  void Release(uint64_t id);
  void Watch();  // the watchdog thread: cancels streams idle for longer than the timeout

  const StreamLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;                              // guarded by mu_
  uint64_t next_id_ = 0;                           // guarded by mu_
  absl::flat_hash_map<uint64_t, Stream> streams_;  // guarded by mu_
  std::thread watchdog_;
};

}  // namespace tartan
