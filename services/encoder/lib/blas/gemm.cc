#include "services/encoder/lib/blas/gemm.h"

#include <cblas.h>

#include <atomic>

#include "common/compute/blas_threads.h"

namespace tartan::encoder {
namespace {

std::atomic<uint64_t> g_flops{0};

}  // namespace

void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc, int num_threads) {
  if (m <= 0 || n <= 0) return;
  compute::SetBlasThreads(num_threads);
  g_flops.fetch_add(2ull * static_cast<uint64_t>(m) * n * k, std::memory_order_relaxed);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void CountGemmFlops(uint64_t flops) { g_flops.fetch_add(flops, std::memory_order_relaxed); }

uint64_t GemmFlopCount() { return g_flops.load(std::memory_order_relaxed); }

}  // namespace tartan::encoder
