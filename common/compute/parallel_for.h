// The one fork-join primitive of the tree, on oneTBB: run fn(i) for every i in [0, n) on up
// to num_threads threads and return when all are done. Callers hand it coarse items (a chunk
// of rows, an attention tile, one query's RPC fan-out); each item is its own task, taken by
// whichever thread is free (dynamic load balance, no static split).
#pragma once

#include <cstdint>

#include "absl/functional/function_ref.h"

namespace tartan::compute {

// Cores this process may run on (oneTBB's default concurrency: respects the affinity mask).
int NumCores();

// How many threads ParallelFor(n, num_threads, ...) uses: min(n, num_threads), where
// num_threads <= 0 means NumCores(); 1 when n <= 1. Worker indices lie in [0, this).
int ParallelWorkers(int64_t n, int num_threads);

// Calls fn(i, worker) exactly once for every i in [0, n), in no particular order, on
// ParallelWorkers(n, num_threads) threads (the calling thread is one of them), and returns
// when every call has returned. `worker` identifies the thread: two calls that run at the same
// time never share it, so per-worker scratch indexed by it needs no lock. With one worker
// everything runs inline on the caller. fn must not throw.
//
// num_threads is honoured even above NumCores() (the thread pool is raised for the call), so
// blocking items such as RPCs get their concurrency; for compute, pass <= 0 or at most the
// cores. Under ThreadSanitizer, which cannot see oneTBB's (uninstrumented) synchronisation,
// the same contract runs on plain std::threads.
void ParallelFor(int64_t n, int num_threads, absl::FunctionRef<void(int64_t i, int worker)> fn);

}  // namespace tartan::compute
