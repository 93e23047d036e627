// common/compute/parallel_for: every index exactly once, worker numbers that are in range and
// never shared by two running calls, the thread count honoured above the core count.
#include "common/compute/parallel_for.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace tartan::compute {
namespace {

TEST(ParallelForTest, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 4, 0}) {
    for (int64_t n : {0, 1, 3, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      const int workers = ParallelWorkers(n, threads);
      std::vector<std::atomic<int>> busy(workers);
      std::atomic<int> bad_worker{0}, shared_worker{0};
      ParallelFor(n, threads, [&](int64_t i, int w) {
        if (w < 0 || w >= workers) {
          ++bad_worker;
          return;
        }
        if (busy[w].fetch_add(1) != 0) ++shared_worker;
        hits[i].fetch_add(1);
        busy[w].fetch_sub(1);
      });
      EXPECT_EQ(bad_worker.load(), 0) << "threads=" << threads << " n=" << n;
      EXPECT_EQ(shared_worker.load(), 0) << "threads=" << threads << " n=" << n;
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[i].load(), 1) << "threads=" << threads << " n=" << n << " i=" << i;
    }
  }
}

TEST(ParallelForTest, WorkerCount) {
  EXPECT_EQ(ParallelWorkers(0, 4), 1);
  EXPECT_EQ(ParallelWorkers(1, 4), 1);
  EXPECT_EQ(ParallelWorkers(3, 4), 3);
  EXPECT_EQ(ParallelWorkers(100, 4), 4);
  EXPECT_EQ(ParallelWorkers(100, 1), 1);
  EXPECT_EQ(ParallelWorkers(1 << 20, 0), NumCores());
  EXPECT_GE(NumCores(), 1);
}

TEST(ParallelForTest, OneThreadRunsInOrderOnTheCaller) {
  const auto caller = std::this_thread::get_id();
  std::vector<int64_t> order;
  ParallelFor(5, 1, [&](int64_t i, int w) {
    EXPECT_EQ(w, 0);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    order.push_back(i);
  });
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

// Blocking items (the router's RPC fan-out): all 8 must be in flight at once, even on a
// machine with fewer cores. Each item waits (bounded) for the others to arrive.
TEST(ParallelForTest, HonoursThreadCountAboveCores) {
  constexpr int kItems = 8;
  std::atomic<int> arrived{0};
  std::atomic<int> all_met{0};
  ParallelFor(kItems, kItems, [&](int64_t, int) {
    ++arrived;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (arrived.load() < kItems && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (arrived.load() == kItems) ++all_met;
  });
  EXPECT_EQ(all_met.load(), kItems);
}

TEST(ParallelForTest, NestedCallsComplete) {
  std::vector<std::atomic<int>> hits(4 * 50);
  ParallelFor(4, 4, [&](int64_t outer, int) {
    ParallelFor(50, 2, [&](int64_t inner, int) { hits[outer * 50 + inner].fetch_add(1); });
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

}  // namespace
}  // namespace tartan::compute
