#include "services/encoder/lib/layers/softmax.h"

#include <immintrin.h>

#include "common/compute/cpu_features.h"
#include "services/encoder/lib/layers/simd_avx2.h"
#include "services/encoder/lib/layers/simd_avx512.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tartan::encoder {
namespace {

__attribute__((target("avx2,fma"))) bool MaskedSoftmaxRowAvx2(float* row, int n, int lo, int hi,
                                                              const float* key_mask) {
  std::fill(row, row + lo, 0.0f);
  std::fill(row + hi, row + n, 0.0f);
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256 zero = _mm256_setzero_ps();
  // Pass 1: max over visible entries.
  __m256 vmax = neg_inf;
  int j = lo;
  for (; j + 8 <= hi; j += 8) {
    const __m256 visible = _mm256_cmp_ps(_mm256_loadu_ps(key_mask + j), zero, _CMP_NEQ_OQ);
    vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(neg_inf, _mm256_loadu_ps(row + j), visible));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  float mx = *std::max_element(lanes, lanes + 8);
  for (; j < hi; ++j) {
    if (key_mask[j] != 0.0f) mx = std::max(mx, row[j]);
  }
  if (mx == -std::numeric_limits<float>::infinity()) {
    std::fill(row + lo, row + hi, 0.0f);
    return false;
  }
  // Pass 2: e = exp(x - max) on visible entries, 0 elsewhere; running sum.
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 vsum = zero;
  j = lo;
  for (; j + 8 <= hi; j += 8) {
    const __m256 mask = _mm256_loadu_ps(key_mask + j);
    const __m256 e = _mm256_mul_ps(Exp256(_mm256_sub_ps(_mm256_loadu_ps(row + j), vm)), mask);
    _mm256_storeu_ps(row + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  _mm256_store_ps(lanes, vsum);
  double sum = 0.0;
  for (float v : lanes) sum += v;
  for (; j < hi; ++j) {
    row[j] = key_mask[j] != 0.0f ? std::exp(row[j] - mx) : 0.0f;
    sum += row[j];
  }
  // Pass 3: normalise.
  const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / sum));
  j = lo;
  for (; j + 8 <= hi; j += 8)
    _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inv));
  const float inv_s = static_cast<float>(1.0 / sum);
  for (; j < hi; ++j) row[j] *= inv_s;
  return true;
}

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and warn about it at -O2.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// MaskedSoftmaxRowAvx2 on 16 lanes, with masked loads for the ragged end instead of scalar
// std::exp (a 180-key row has 4 of them per pass).
__attribute__((target("avx512f"))) bool MaskedSoftmaxRowAvx512(float* row, int n, int lo, int hi,
                                                               const float* key_mask) {
  std::fill(row, row + lo, 0.0f);
  std::fill(row + hi, row + n, 0.0f);
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 zero = _mm512_setzero_ps();
  const auto lanes_from = [hi](int j) -> __mmask16 {
    return hi - j >= 16 ? 0xffff : static_cast<__mmask16>((1u << (hi - j)) - 1);
  };
  // Pass 1: max over visible entries.
  __m512 vmax = neg_inf;
  for (int j = lo; j < hi; j += 16) {
    const __mmask16 in = lanes_from(j);
    const __mmask16 visible =
        _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, key_mask + j), zero, _CMP_NEQ_OQ);
    vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(neg_inf, visible, row + j));
  }
  const float mx = _mm512_reduce_max_ps(vmax);
  if (mx == -std::numeric_limits<float>::infinity()) {
    std::fill(row + lo, row + hi, 0.0f);
    return false;
  }
  // Pass 2: e = exp(x - max) on visible entries, 0 elsewhere; running sum.
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 vsum = zero;
  for (int j = lo; j < hi; j += 16) {
    const __mmask16 in = lanes_from(j);
    const __m512 mask = _mm512_maskz_loadu_ps(in, key_mask + j);
    const __m512 x = _mm512_mask_loadu_ps(vm, in, row + j);  // x - max = 0 off the end
    const __m512 e = _mm512_mul_ps(Exp512(_mm512_sub_ps(x, vm)), mask);
    _mm512_mask_storeu_ps(row + j, in, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, vsum);
  double sum = 0.0;
  for (float v : lanes) sum += v;
  // Pass 3: normalise.
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / sum));
  for (int j = lo; j < hi; j += 16) {
    const __mmask16 in = lanes_from(j);
    _mm512_mask_storeu_ps(row + j, in, _mm512_mul_ps(_mm512_maskz_loadu_ps(in, row + j), inv));
  }
  return true;
}
#pragma GCC diagnostic pop

const bool kHaveAvx2 = compute::HasAvx2();
const bool kHaveAvx512 = compute::HasAvx512f();

}  // namespace

const char* SoftmaxKernel() { return kHaveAvx512 ? "avx512" : kHaveAvx2 ? "avx2" : "scalar"; }

bool MaskedSoftmaxRowScalar(float* row, int n, int lo, int hi, const float* key_mask) {
  float mx = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (int j = lo; j < hi; ++j) {
    if (key_mask[j] != 0.0f) {
      mx = std::max(mx, row[j]);
      any = true;
    }
  }
  std::fill(row, row + lo, 0.0f);
  std::fill(row + hi, row + n, 0.0f);
  if (!any) {
    std::fill(row + lo, row + hi, 0.0f);
    return false;
  }
  double sum = 0.0;
  for (int j = lo; j < hi; ++j) {
    row[j] = key_mask[j] != 0.0f ? std::exp(row[j] - mx) : 0.0f;
    sum += row[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int j = lo; j < hi; ++j) row[j] *= inv;
  return true;
}

bool MaskedSoftmaxRow(float* row, int n, int lo, int hi, const float* key_mask) {
  if (kHaveAvx512) return MaskedSoftmaxRowAvx512(row, n, lo, hi, key_mask);
  return kHaveAvx2 ? MaskedSoftmaxRowAvx2(row, n, lo, hi, key_mask)
                   : MaskedSoftmaxRowScalar(row, n, lo, hi, key_mask);
}

}  // namespace tartan::encoder
