#include "common/compute/maxsim.h"

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "common/compute/cpu_features.h"

namespace tartan::compute {

float MaxSimScalar(const float* q, int nq, const float* d, int nd, int dim) {
  if (nd == 0) return 0;
  float total = 0;
  for (int i = 0; i < nq; ++i) {
    float best = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < nd; ++j) {
      float s = 0;
      for (int k = 0; k < dim; ++k) s += q[size_t(i) * dim + k] * d[size_t(j) * dim + k];
      best = std::max(best, s);
    }
    total += best;
  }
  return total;
}

namespace {
__attribute__((target("avx2,fma"))) inline float HSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}
}  // namespace

// Four document rows per pass so each query load feeds four FMAs.
__attribute__((target("avx2,fma"))) float MaxSimAvx2(const float* q, int nq, const float* d, int nd,
                                                     int dim) {
  if (nd == 0) return 0;
  const int vec_end = dim & ~7;
  float total = 0;
  for (int i = 0; i < nq; ++i) {
    const float* qi = q + size_t(i) * dim;
    float best = -std::numeric_limits<float>::infinity();
    int j = 0;
    for (; j + 4 <= nd; j += 4) {
      const float* d0 = d + size_t(j) * dim;
      const float* d1 = d0 + dim;
      const float* d2 = d1 + dim;
      const float* d3 = d2 + dim;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int k = 0; k < vec_end; k += 8) {
        __m256 qv = _mm256_loadu_ps(qi + k);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(d0 + k), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(d1 + k), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(d2 + k), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(d3 + k), a3);
      }
      float s0 = HSum(a0), s1 = HSum(a1), s2 = HSum(a2), s3 = HSum(a3);
      for (int k = vec_end; k < dim; ++k) {
        s0 += qi[k] * d0[k];
        s1 += qi[k] * d1[k];
        s2 += qi[k] * d2[k];
        s3 += qi[k] * d3[k];
      }
      best = std::max(best, std::max(std::max(s0, s1), std::max(s2, s3)));
    }
    for (; j < nd; ++j) {
      const float* dj = d + size_t(j) * dim;
      __m256 a = _mm256_setzero_ps();
      for (int k = 0; k < vec_end; k += 8)
        a = _mm256_fmadd_ps(_mm256_loadu_ps(qi + k), _mm256_loadu_ps(dj + k), a);
      float s = HSum(a);
      for (int k = vec_end; k < dim; ++k) s += qi[k] * dj[k];
      best = std::max(best, s);
    }
    total += best;
  }
  return total;
}

float MaxSimDispatch(const float* q, int nq, const float* d, int nd, int dim) {
  return HasAvx2() ? MaxSimAvx2(q, nq, d, nd, dim) : MaxSimScalar(q, nq, d, nd, dim);
}

float MaxSim(const float* q, int nq, const float* d, int nd, int dim) {
  return MaxSimDispatch(q, nq, d, nd, dim);
}

void MaxSimBlock(const float* q, int nq, const float* d, const uint32_t* offsets, int ndocs,
                 int dim, float* out, std::vector<float>* scratch) {
  const int rows = int(offsets[ndocs] - offsets[0]);
  if (rows == 0) {
    std::fill(out, out + ndocs, 0.f);
    return;
  }
  const float* base = d + size_t(offsets[0]) * dim;
  scratch->resize(size_t(nq) * rows);
  float* s = scratch->data();
  // s[i, r] = q_i . d_r
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, rows, dim, 1.f, q, dim, base, dim, 0.f,
              s, rows);
  for (int doc = 0; doc < ndocs; ++doc) {
    const int b = int(offsets[doc] - offsets[0]), e = int(offsets[doc + 1] - offsets[0]);
    if (b == e) {
      out[doc] = 0;
      continue;
    }
    float total = 0;
    for (int i = 0; i < nq; ++i) {
      const float* row = s + size_t(i) * rows;
      total += *std::max_element(row + b, row + e);
    }
    out[doc] = total;
  }
}

}  // namespace tartan::compute
