#include "common/server/stream_limiter.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tartan {

StreamSlot::StreamSlot(StreamSlot&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)), id_(other.id_) {}

StreamSlot::~StreamSlot() {
  if (limiter_ != nullptr) limiter_->Release(id_);
}

void StreamSlot::SetWaiting(bool waiting) {
  std::lock_guard<std::mutex> lock(limiter_->mu_);
  limiter_->streams_.at(id_).waiting_since = waiting ? absl::Now() : absl::InfiniteFuture();
}

bool StreamSlot::IdleCancelled() const {
  std::lock_guard<std::mutex> lock(limiter_->mu_);
  return limiter_->streams_.at(id_).cancelled;
}

absl::Status StreamSlot::IdleError() const {
  return absl::DeadlineExceededError(
      absl::StrCat("no message for ", absl::FormatDuration(limiter_->limits_.idle_timeout),
                   " (the stream idle timeout); the stream was closed"));
}

StreamLimiter::StreamLimiter(StreamLimits limits)
    : limits_(limits), watchdog_([this] { Watch(); }) {}

StreamLimiter::~StreamLimiter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  watchdog_.join();
}

absl::StatusOr<StreamSlot> StreamLimiter::Admit(std::function<void()> cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  if (streams_.size() >= size_t(limits_.max_streams)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(limits_.max_streams,
                     " client streams are open (the server's --max_streams); retry later or "
                     "send unary requests"));
  }
  const uint64_t id = next_id_++;
  streams_.emplace(id, Stream{std::move(cancel)});
  return StreamSlot(this, id);
}

int StreamLimiter::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int(streams_.size());
}

void StreamLimiter::Release(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(id);
}

void StreamLimiter::Watch() {
  // A quarter of the timeout between checks: a stream is cancelled at most 25% late.
  const auto period = std::chrono::microseconds(
      std::clamp<int64_t>(absl::ToInt64Microseconds(limits_.idle_timeout) / 4, 10'000, 1'000'000));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, period, [this] { return stop_; })) {
    const absl::Time cutoff = absl::Now() - limits_.idle_timeout;
    for (auto& [id, stream] : streams_) {
      if (stream.cancelled || stream.waiting_since > cutoff) continue;
      // Under mu_: the slot, and so the call its cancel refers to, cannot end meanwhile.
      stream.cancelled = true;
      stream.cancel();
    }
  }
}

}  // namespace tartan
