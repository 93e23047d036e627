#include "services/encoder/lib/blas/strided_matmul.h"

#include "common/compute/dnnl_matmul.h"
#include "services/encoder/lib/blas/gemm.h"

namespace tartan::encoder {

void StridedMatmul(MatmulDataType type, bool trans_b, int m, int n, int k, float alpha,
                   const void* a, int64_t lda, const void* b, int64_t ldb, float* c, int64_t ldc,
                   int num_threads, const MatmulBatch& batch) {
  if (m <= 0 || n <= 0 || batch.count <= 0) return;
  CountGemmFlops(2ull * static_cast<uint64_t>(m) * n * k * batch.count);
  compute::StridedMatmul(type, trans_b, m, n, k, alpha, a, lda, b, ldb, c, ldc, num_threads, batch);
}

std::string StridedMatmulImpl(MatmulDataType type) {
  // A 64-row query tile of one 64-wide head against 180 keys, read from a ModernBERT-base qkv
  // buffer (row stride 3 x 768).
  return compute::StridedMatmulImpl(type, true, 64, 180, 64, 0.125f, 2304, 2304, 180);
}

}  // namespace tartan::encoder
