// oneDNN, shared by the encoder's model and the index: the process-wide CPU engine, the
// per-call thread count of its OpenMP runtime, and strided matrix products read in place.
// oneDNN picks its kernels by CPUID (brg:avx512_core here); Debian's OpenBLAS 0.3.21 ran the
// indexer's query-centroid product 3x slower on the same core (bench/RESULTS.md, issue 11).
#pragma once

#include <cstdint>
#include <string>

#include <oneapi/dnnl/dnnl.hpp>

#include "common/compute/matmul_types.h"

namespace tartan::compute {

dnnl::engine& CpuEngine();

// oneDNN's threading runtime (libgomp) keeps the thread count per calling thread: each product
// sets it for the thread that issues it.
void SetOneDnnThreads(int num_threads);

// The calling thread's current oneDNN thread count. oneDNN 2.x fixes a primitive's thread count
// when the primitive is created and runs it with that many threads whatever the count at
// execution, so every primitive cache keys its entries by this value.
int OneDnnThreads();

// C[m, n] = alpha * A[m, k] * op(B) (for each of batch.count products). A: row-major, row stride
// lda. B: [k, n] with row stride ldb, or, when trans_b, stored [n, k] with row stride ldb (so op(B)
// = B^T). A and B hold `type` elements (float, or bf16 as uint16_t); C is float32 with row stride
// ldc. num_threads: oneDNN threads for this call (1 inside an already parallel loop). Primitives
// are cached per shape on each calling thread.
void StridedMatmul(MatmulDataType type, bool trans_b, int m, int n, int k, float alpha,
                   const void* a, int64_t lda, const void* b, int64_t ldb, float* c, int64_t ldc,
                   int num_threads, const MatmulBatch& batch = {});

// The oneDNN implementation StridedMatmul runs for one product of this shape (e.g. "gemm:jit";
// "ref:any" would be a slow fallback).
std::string StridedMatmulImpl(MatmulDataType type, bool trans_b, int m, int n, int k, float alpha,
                              int64_t lda, int64_t ldb, int64_t ldc);

}  // namespace tartan::compute
