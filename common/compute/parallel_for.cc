#include "common/compute/parallel_for.h"

#include <algorithm>
#include <optional>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#if defined(__SANITIZE_THREAD__)
#include <atomic>
#include <thread>
#include <vector>
#endif

namespace tartan::compute {

int NumCores() { return std::max(1, tbb::info::default_concurrency()); }

int ParallelWorkers(int64_t n, int num_threads) {
  const int threads = num_threads <= 0 ? NumCores() : num_threads;
  return static_cast<int>(std::clamp<int64_t>(n, 1, threads));
}

#if defined(__SANITIZE_THREAD__)

// ThreadSanitizer build: threads started for the call, items taken from a shared counter.
// pthread_create/join and the counter are visible to TSAN, so it checks fn's own accesses.
void ParallelFor(int64_t n, int num_threads, absl::FunctionRef<void(int64_t i, int worker)> fn) {
  if (n <= 0) return;
  const int workers = ParallelWorkers(n, num_threads);
  std::atomic<int64_t> next{0};
  const auto run = [&](int worker) {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i, worker);
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (int w = 1; w < workers; ++w) threads.emplace_back(run, w);
  run(0);
  for (auto& t : threads) t.join();
}

#else

void ParallelFor(int64_t n, int num_threads, absl::FunctionRef<void(int64_t i, int worker)> fn) {
  if (n <= 0) return;
  const int workers = ParallelWorkers(n, num_threads);
  if (workers == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  // oneTBB's worker pool holds NumCores() - 1 threads unless a global_control raises it; an
  // arena wider than the pool would silently run on fewer threads.
  std::optional<tbb::global_control> raise;
  if (static_cast<size_t>(workers) >
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism)) {
    raise.emplace(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(workers));
  }
  // An arena of exactly `workers` slots: at most that many threads run items, and a thread's
  // slot index (0 = the caller) is its worker number.
  tbb::task_arena arena(workers);
  arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(0, n, 1),
        [&](const tbb::blocked_range<int64_t>& range) {
          const int worker = tbb::this_task_arena::current_thread_index();
          for (int64_t i = range.begin(); i < range.end(); ++i) fn(i, worker);
        },
        tbb::simple_partitioner());  // one task per item: items are coarse, loads uneven
  });
}

#endif

}  // namespace tartan::compute
