#!/usr/bin/env bash
# ThreadSanitizer pass over the index engine's concurrent code: concurrent search + upsert +
# delete + compaction (indexer_concurrency_test, labelled slow), the shard tests, and the
# multi-threaded codec (k-means/encode), ParallelFor itself (which runs on std::threads
# under TSAN: oneTBB's synchronisation is invisible to it) and the encoder's backbone, whose
# forward runs a batch's sequences on several threads. Run by CI after README's test command.
# Env: TSAN_BUILD_DIR (default build-tsan), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan}
JOBS=${JOBS:-$(nproc)}
TESTS='indexer_concurrency_test|indexer_shard_test|indexer_codec_test|compute_parallel_for_test|model_backbone_test'
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTARTAN_BUILD_TESTS=ON \
  -DTARTAN_SANITIZE=thread
cmake --build "$BUILD_DIR" -j "$JOBS" --target indexer_concurrency_test indexer_shard_test \
  indexer_codec_test compute_parallel_for_test model_backbone_test
# OpenBLAS's own worker threads synchronise inside the (uninstrumented) library, so TSAN
# reports its GEMM writes as races; one BLAS thread keeps the check on our threads. oneDNN's
# reports are suppressed (scripts/tsan.supp says why).
OPENBLAS_NUM_THREADS=1 \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp" \
  ctest --test-dir "$BUILD_DIR" -R "^(${TESTS})\$" --output-on-failure
