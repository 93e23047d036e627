// Minimal fork-join helper: runs fn(i) for i in [0, n) on up to num_threads threads (the
// calling thread included), contiguous chunks per thread. Used for the attention loop, whose
// GEMMs are too small to thread inside BLAS.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace tartan::encoder {

template <typename Fn>
void ParallelFor(int64_t n, int num_threads, Fn&& fn) {
  const int workers = static_cast<int>(std::min<int64_t>(std::max(num_threads, 1), n));
  if (workers <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  const auto run = [&](int w) {
    const int64_t begin = n * w / workers;
    const int64_t end = n * (w + 1) / workers;
    for (int64_t i = begin; i < end; ++i) fn(i, w);
  };
  for (int w = 1; w < workers; ++w) threads.emplace_back(run, w);
  run(0);
  for (auto& t : threads) t.join();
}

}  // namespace tartan::encoder
