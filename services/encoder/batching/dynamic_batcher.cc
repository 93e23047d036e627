#include "services/encoder/batching/dynamic_batcher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tartan::encoder {

DynamicBatcher::DynamicBatcher(const ColbertEncoder* encoder, const BatcherOptions& options,
                               BatcherObserver observer)
    : encoder_(encoder), options_(options), observer_(std::move(observer)) {
  for (int i = 0; i < std::max(1, options_.num_workers); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

DynamicBatcher::~DynamicBatcher() {
  std::deque<std::unique_ptr<Job>> abandoned;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    abandoned.swap(queue_);
    queued_texts_ = 0;
  }
  for (auto& job : abandoned) {
    job->promise.set_value(absl::UnavailableError("encoder is shutting down"));
  }
  for (auto& worker : workers_) worker.join();
}

int DynamicBatcher::EstimateTokens(const std::vector<std::string>& texts,
                                   const EncodeParams& params) const {
  const auto& info = encoder_->info();
  int total = 0;
  for (const auto& text : texts) {
    if (params.is_query) {
      total += info.query_length;
    } else {
      // ~4 bytes per token for English BPE/WordPiece; capped by the document length.
      total += std::min<int>(info.document_length, static_cast<int>(text.size() / 4) + 4);
    }
  }
  return total;
}

bool DynamicBatcher::Compatible(const EncodeParams& a, const EncodeParams& b) {
  return a.is_query == b.is_query && a.prompt_name == b.prompt_name && a.prompt == b.prompt &&
         a.pool_factor == b.pool_factor && a.protected_tokens == b.protected_tokens &&
         a.pooling_version == b.pooling_version;
}

std::future<EncodeResult> DynamicBatcher::Submit(std::vector<std::string> texts,
                                                 EncodeParams params, absl::Time deadline) {
  auto job = std::make_unique<Job>();
  std::future<EncodeResult> future = job->promise.get_future();
  const int count = static_cast<int>(texts.size());
  job->estimated_tokens = EstimateTokens(texts, params);
  job->texts = std::move(texts);
  job->params = std::move(params);
  job->deadline = deadline;
  job->enqueued = absl::Now();
  int depth = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      job->promise.set_value(absl::UnavailableError("encoder is shutting down"));
      return future;
    }
    if (queued_texts_ + count > options_.max_queue_texts && queued_texts_ > 0) {
      job->promise.set_value(absl::ResourceExhaustedError(
          absl::StrCat("encoder queue is full (", queued_texts_, " texts waiting, limit ",
                       options_.max_queue_texts, "); retry with backoff")));
      return future;
    }
    queued_texts_ += count;
    depth = queued_texts_;
    queue_.push_back(std::move(job));
  }
  if (observer_.queue_depth) observer_.queue_depth(depth);
  return future;
}

int DynamicBatcher::queued_texts() const {
  absl::MutexLock lock(&mu_);
  return queued_texts_;
}

void DynamicBatcher::WorkerLoop() {
  while (true) {
    std::vector<std::unique_ptr<Job>> batch;
    int depth = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](DynamicBatcher* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (stopping_) return;
      // Wait for company until the oldest job has waited max_queue_delay or enough tokens
      // are queued to fill a batch.
      const absl::Time flush_at = queue_.front()->enqueued + options_.max_queue_delay;
      auto full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        int tokens = 0;
        for (const auto& job : queue_) tokens += job->estimated_tokens;
        return stopping_ || tokens >= options_.max_batch_tokens;
      };
      while (!full() && absl::Now() < flush_at) {
        mu_.AwaitWithDeadline(absl::Condition(&full), flush_at);
      }
      if (stopping_) return;
      // FIFO: take the oldest job and every compatible job behind it that fits.
      int tokens = 0;
      const EncodeParams head = queue_.front()->params;
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (!Compatible((*it)->params, head)) {
          ++it;
          continue;
        }
        if (!batch.empty() && tokens + (*it)->estimated_tokens > options_.max_batch_tokens) break;
        tokens += (*it)->estimated_tokens;
        queued_texts_ -= static_cast<int>((*it)->texts.size());
        batch.push_back(std::move(*it));
        it = queue_.erase(it);
      }
      depth = queued_texts_;
    }
    if (observer_.queue_depth) observer_.queue_depth(depth);

    // Drop expired jobs before spending compute on them.
    const absl::Time now = absl::Now();
    std::vector<std::unique_ptr<Job>> live;
    std::vector<std::string> texts;
    for (auto& job : batch) {
      if (observer_.queue_wait) observer_.queue_wait(absl::ToDoubleSeconds(now - job->enqueued));
      if (job->deadline <= now) {
        if (observer_.expired) observer_.expired();
        job->promise.set_value(
            absl::DeadlineExceededError("deadline passed while waiting in the encoder queue"));
        continue;
      }
      texts.insert(texts.end(), job->texts.begin(), job->texts.end());
      live.push_back(std::move(job));
    }
    if (live.empty()) continue;

    const absl::Time start = absl::Now();
    // The merged call stops once every caller's deadline has passed: nobody waits for it.
    EncodeParams merged = live.front()->params;
    absl::Time last_deadline = absl::InfinitePast();
    for (const auto& job : live) last_deadline = std::max(last_deadline, job->deadline);
    merged.interrupt = [last_deadline] {
      return absl::Now() < last_deadline
                 ? absl::OkStatus()
                 : absl::DeadlineExceededError("deadline passed while encoding");
    };
    EncodeResult result = encoder_->Encode(texts, merged);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (!result.ok() && result.status().code() == absl::StatusCode::kDeadlineExceeded) {
      for (auto& job : live) {
        if (observer_.expired) observer_.expired();
        job->promise.set_value(result.status());
      }
      continue;
    }
    if (!result.ok()) {
      // One bad request must not fail its batch-mates: retry each job alone, each stopping at
      // its own deadline.
      for (auto& job : live) {
        EncodeParams alone = job->params;
        alone.interrupt = [deadline = job->deadline] {
          return absl::Now() < deadline
                     ? absl::OkStatus()
                     : absl::DeadlineExceededError("deadline passed while encoding");
        };
        job->promise.set_value(encoder_->Encode(job->texts, alone));
      }
      continue;
    }
    int tokens = 0;
    for (const auto& encoded : *result) tokens += static_cast<int>(encoded.ids.size());
    if (observer_.batch_done) observer_.batch_done(static_cast<int>(texts.size()), tokens, seconds);
    size_t offset = 0;
    for (auto& job : live) {
      std::vector<EncodedText> part(
          std::make_move_iterator(result->begin() + offset),
          std::make_move_iterator(result->begin() + offset + job->texts.size()));
      offset += job->texts.size();
      job->promise.set_value(std::move(part));
    }
  }
}

}  // namespace tartan::encoder
