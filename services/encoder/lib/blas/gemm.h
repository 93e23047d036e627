// OpenBLAS sgemm, kept for the bf16 emulation (tests of bf16 numerics on CPUs without native
// bf16). The encoder's products run on oneDNN (packed_matmul.h, strided_matmul.h); the FLOP
// counter here covers all three.
#pragma once

#include <cstdint>

namespace tartan::encoder {

// Row-major C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C.
// op(X) = X^T when the trans flag is set; lda/ldb/ldc are row strides in elements (of the
// stored, untransposed matrices). num_threads >= 1 is the BLAS thread count for this call.
// OpenBLAS keeps one process-wide thread count (compute::SetBlasThreads, which changes it only
// when it differs), so concurrent callers should agree on the count: code that fans Sgemm
// calls out to several threads sets the count first.
void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc, int num_threads);

// Float operations issued through Sgemm, PackedMatmul and StridedMatmul since process start
// (2*m*n*k per product); benchmarks read it to report achieved GFLOP/s.
uint64_t GemmFlopCount();
void CountGemmFlops(uint64_t flops);

}  // namespace tartan::encoder
