// Hot loops of the index: MaxSim (SIMD with runtime dispatch, scalar reference) and
// blocked BLAS MaxSim for brute force / reranking.
#pragma once

#include <cstdint>
#include <vector>

// Loops the compiler vectorises well get AVX2 and baseline clones chosen at load time (GCC
// ifunc). Sanitizer runtimes are not initialised when ifunc resolvers run, so sanitized
// builds use the baseline only.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TARTAN_TARGET_CLONES_AVX2
#else
#define TARTAN_TARGET_CLONES_AVX2 __attribute__((target_clones("avx2", "default")))
#endif

namespace tartan::index::kernels {

// sum_i max_j q_i . d_j. q: [nq, dim], d: [nd, dim]. Returns 0 when nd == 0.
float MaxSimScalar(const float* q, int nq, const float* d, int nd, int dim);
// AVX2+FMA version; only call when HasAvx2(). Any dim (tail handled).
float MaxSimAvx2(const float* q, int nq, const float* d, int nd, int dim);
bool HasAvx2();
// Dispatches to the best available variant.
float MaxSimDispatch(const float* q, int nq, const float* d, int nd, int dim);

// Scores many documents stored back to back: d: [offsets[ndocs], dim], document i owns rows
// [offsets[i], offsets[i+1]). One GEMM (q . d^T, [nq, rows]) then row max per document.
// out: [ndocs]. scratch is reused between calls.
void MaxSimBlock(const float* q, int nq, const float* d, const uint32_t* offsets, int ndocs,
                 int dim, float* out, std::vector<float>* scratch);

}  // namespace tartan::index::kernels
