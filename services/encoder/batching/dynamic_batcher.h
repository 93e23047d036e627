// Dynamic batching for the encoder service (no gRPC): requests from many clients wait in one
// bounded queue and are merged into backbone batches bounded by an estimated token count and a
// maximum queue delay, as Triton's dynamic batcher does. Expired requests are dropped before
// any compute is spent on them, and a batch stops between backbone batches once every request
// in it has expired.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/encoder/lib/colbert/colbert_encoder.h"

namespace tartan::encoder {

struct BatcherOptions {
  int max_batch_tokens = 8192;                             // estimated tokens merged into one batch
  absl::Duration max_queue_delay = absl::Milliseconds(2);  // wait for company this long at most
  int max_queue_texts = 4096;  // texts waiting; beyond: RESOURCE_EXHAUSTED
  int num_workers = 1;         // batches encoded concurrently
};

// Observations for metrics; every callback is optional.
struct BatcherObserver {
  std::function<void(int queued_texts)> queue_depth;
  std::function<void(double seconds)> queue_wait;
  std::function<void(int texts, int tokens, double seconds)> batch_done;
  std::function<void()> expired;
};

using EncodeResult = absl::StatusOr<std::vector<EncodedText>>;

class DynamicBatcher {
 public:
  DynamicBatcher(const ColbertEncoder* encoder, const BatcherOptions& options,
                 BatcherObserver observer = {});
  ~DynamicBatcher();  // fails queued work with UNAVAILABLE, joins workers

  // Queues the texts; the future resolves when they are encoded (in input order), or with
  // RESOURCE_EXHAUSTED at once when the queue is full, DEADLINE_EXCEEDED when `deadline`
  // passed before the work started.
  std::future<EncodeResult> Submit(std::vector<std::string> texts, EncodeParams params,
                                   absl::Time deadline);

  int queued_texts() const;

 private:
  struct Job {
    std::vector<std::string> texts;
    EncodeParams params;
    absl::Time deadline;
    absl::Time enqueued;
    int estimated_tokens = 0;
    std::promise<EncodeResult> promise;
  };

  void WorkerLoop();
  int EstimateTokens(const std::vector<std::string>& texts, const EncodeParams& params) const;
  static bool Compatible(const EncodeParams& a, const EncodeParams& b);

  const ColbertEncoder* encoder_;
  const BatcherOptions options_;
  const BatcherObserver observer_;
  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Job>> queue_ ABSL_GUARDED_BY(mu_);
  int queued_texts_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace tartan::encoder
