// MaxSim, the late-interaction score S(Q, D) = sum_i max_j q_i . d_j: SIMD variants with
// runtime dispatch and the scalar reference they are tested against, plus a blocked BLAS form
// for scoring many documents against one query (brute force, reranking).
#pragma once

#include <cstdint>
#include <vector>

namespace tartan::compute {

// q: [nq, dim], d: [nd, dim], row-major. Returns 0 when nd == 0. The reference.
float MaxSimScalar(const float* q, int nq, const float* d, int nd, int dim);
// AVX2+FMA version; only call when HasAvx2() (cpu_features.h). Any dim (tail handled).
float MaxSimAvx2(const float* q, int nq, const float* d, int nd, int dim);
// The best variant this CPU runs (checked once per process).
float MaxSimDispatch(const float* q, int nq, const float* d, int nd, int dim);
// What callers want: the same as MaxSimDispatch.
float MaxSim(const float* q, int nq, const float* d, int nd, int dim);

// Scores many documents stored back to back: d: [offsets[ndocs], dim], document i owns rows
// [offsets[i], offsets[i+1]). One GEMM (q . d^T, [nq, rows]) then row max per document.
// out: [ndocs]. scratch is reused between calls. BLAS threads as set (blas_threads.h).
void MaxSimBlock(const float* q, int nq, const float* d, const uint32_t* offsets, int ndocs,
                 int dim, float* out, std::vector<float>* scratch);

}  // namespace tartan::compute
