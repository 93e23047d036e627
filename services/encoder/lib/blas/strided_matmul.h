// The attention products (q k^T and p v): small matrices read in place from the packed qkv
// buffer through row strides, float32 or bf16 operands, float32 output, through oneDNN matmul
// (common/compute/dnnl_matmul.h), counted in the encoder's GEMM flops (gemm.h).
#pragma once

#include <cstdint>
#include <string>

#include "common/compute/matmul_types.h"
#include "services/encoder/lib/blas/packed_matmul.h"

namespace tartan::encoder {

using compute::MatmulBatch;

// compute::StridedMatmul, with its flops counted.
void StridedMatmul(MatmulDataType type, bool trans_b, int m, int n, int k, float alpha,
                   const void* a, int64_t lda, const void* b, int64_t ldb, float* c, int64_t ldc,
                   int num_threads, const MatmulBatch& batch = {});

// The oneDNN implementation StridedMatmul runs for an attention-shaped product of `type`
// (e.g. "gemm:jit"; "ref:any" would be a slow fallback).
std::string StridedMatmulImpl(MatmulDataType type);

}  // namespace tartan::encoder
