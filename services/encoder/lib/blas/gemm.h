// The one BLAS seam of the encoder: every float32 matrix product of the backbone goes through
// Sgemm (OpenBLAS cblas_sgemm underneath), so threading and accounting live in one place.
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

// Y[rows, out] = X[rows, in] * W[out, in]^T (+ bias[out] broadcast over rows when non-null).
void LinearF32(const float* x, int rows, int in, const float* w, int out, const float* bias,
               float* y, int num_threads);

// Float operations issued through Sgemm since process start (2*m*n*k per call); benchmarks
// read it to report achieved GFLOP/s.
uint64_t GemmFlopCount();

}  // namespace tartan::encoder
