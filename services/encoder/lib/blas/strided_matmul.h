// The attention products (q k^T and p v): small matrices read in place from the packed qkv
// buffer through row strides, float32 or bf16 operands, float32 output, through oneDNN matmul
// (CPUID-dispatched jit gemm). Primitives are cached per shape on each calling thread.
#pragma once

#include <cstdint>
#include <string>

#include "services/encoder/lib/blas/packed_matmul.h"

namespace tartan::encoder {

// Several products of one shape in one call: the i-th reads A + i * stride_a, B + i * stride_b
// and writes C + i * stride_c (strides in elements). One call for all heads of a short
// sequence costs about what one head's call did.
struct MatmulBatch {
  int count = 1;
  int64_t stride_a = 0;
  int64_t stride_b = 0;
  int64_t stride_c = 0;
};

// C[m, n] = alpha * A[m, k] * op(B) (for each of batch.count products). A: row-major, row stride
// lda. B: [k, n] with row stride ldb, or, when trans_b, stored [n, k] with row stride ldb (so op(B)
// = B^T). A and B hold `type` elements (float, or bf16 as uint16_t); C is float32 with row stride
// ldc. num_threads: oneDNN threads for this call (1 inside an already parallel loop).
void StridedMatmul(MatmulDataType type, bool trans_b, int m, int n, int k, float alpha,
                   const void* a, int64_t lda, const void* b, int64_t ldb, float* c, int64_t ldc,
                   int num_threads, const MatmulBatch& batch = {});

// The oneDNN implementation StridedMatmul runs for an attention-shaped product of `type`
// (e.g. "gemm:jit"; "ref:any" would be a slow fallback).
std::string StridedMatmulImpl(MatmulDataType type);

}  // namespace tartan::encoder
