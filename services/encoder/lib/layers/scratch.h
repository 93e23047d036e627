// Per-thread scratch memory for a forward's intermediate activations. Allocated per call, the
// buffers (tens of MB for a batch of documents) were fresh pages every time: glibc hands blocks
// that large back to the kernel on free, so each forward paid page faults and zeroing again
// (~10 % of an int8 ModernBERT-base forward). A call site keeps one buffer per thread
// (`thread_local std::vector<T>`) and leases it for the call; the lease grows it when needed
// (new elements zeroed once, reused ones left as they are) and frees it afterwards only when it
// exceeds kMaxRetainedScratchBytes.
#pragma once

#include <cstddef>
#include <vector>

namespace tartan::encoder {

// A ModernBERT-base forward of 8,192 tokens needs ~240 MB of intermediates.
inline constexpr size_t kMaxRetainedScratchBytes = size_t{256} << 20;

template <typename T>
class ScratchLease {
 public:
  // `per_thread` must be thread_local at the call site and not leased twice at once.
  ScratchLease(std::vector<T>& per_thread, size_t n) : buf_(per_thread) {
    if (buf_.size() < n) buf_.resize(n);
  }
  ~ScratchLease() {
    if (buf_.size() * sizeof(T) > kMaxRetainedScratchBytes) {
      buf_.clear();
      buf_.shrink_to_fit();
    }
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  T* data() { return buf_.data(); }

 private:
  std::vector<T>& buf_;
};

}  // namespace tartan::encoder
