#include "services/encoder/lib/layers/ops.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "common/compute/cpu_features.h"
#include "services/encoder/lib/layers/simd_avx2.h"
#include "services/encoder/lib/layers/simd_avx512.h"

namespace tartan::encoder {
namespace {

inline float GeluErf(float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); }
inline float GeluTanh(float v) {
  const float c = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * v * (1.0f + std::tanh(c * (v + 0.044715f * v * v * v)));
}
inline float Silu(float v) { return v / (1.0f + std::exp(-v)); }

inline float Apply(float v, Activation act) {
  switch (act) {
    case Activation::kGeluErf:
      return GeluErf(v);
    case Activation::kGeluTanh:
      return GeluTanh(v);
    case Activation::kSilu:
      return Silu(v);
    case Activation::kRelu:
      return v > 0.0f ? v : 0.0f;
  }
  return v;
}

__attribute__((target("avx2,fma"))) void GatedGeluErfAvx2(const float* in, int64_t rows, int inter,
                                                          float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* input = in + r * 2 * inter;
    const float* gate = input + inter;
    float* o = out + r * inter;
    int i = 0;
    for (; i + 8 <= inter; i += 8) {
      _mm256_storeu_ps(
          o + i, _mm256_mul_ps(GeluErf256(_mm256_loadu_ps(input + i)), _mm256_loadu_ps(gate + i)));
    }
    for (; i < inter; ++i) o[i] = GeluErf(input[i]) * gate[i];
  }
}

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and warn about it at -O2.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same values as GatedGeluErfAvx2 (16 lanes, then its 8-lane and scalar tails).
__attribute__((target("avx512f,avx2,fma"))) void GatedGeluErfAvx512(const float* in, int64_t rows,
                                                                    int inter, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* input = in + r * 2 * inter;
    const float* gate = input + inter;
    float* o = out + r * inter;
    int i = 0;
    for (; i + 16 <= inter; i += 16) {
      _mm512_storeu_ps(
          o + i, _mm512_mul_ps(GeluErf512(_mm512_loadu_ps(input + i)), _mm512_loadu_ps(gate + i)));
    }
    for (; i + 8 <= inter; i += 8) {
      _mm256_storeu_ps(
          o + i, _mm256_mul_ps(GeluErf256(_mm256_loadu_ps(input + i)), _mm256_loadu_ps(gate + i)));
    }
    for (; i < inter; ++i) o[i] = GeluErf(input[i]) * gate[i];
  }
}
#pragma GCC diagnostic pop

__attribute__((target("avx2,fma"))) void GeluErfInPlaceAvx2(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, GeluErf256(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) x[i] = GeluErf(x[i]);
}

// LayerNorm of one row with the scalar code's numerics: mean and variance accumulated in double
// (4 lanes x 2 accumulators instead of one serial chain, which made LayerNorm ~7 % of an int8
// forward), the output in float with the same operation order.
__attribute__((target("avx2,fma"))) void LayerNormRowAvx2(const float* x, int dim,
                                                          const float* gamma, const float* beta,
                                                          float eps, float* y) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int i = 0;
  for (; i + 8 <= dim; i += 8) {
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (int j = i; j < dim; ++j) sum += x[j];
  const double mean = sum / dim;
  const __m256d vmean = _mm256_set1_pd(mean);
  __m256d v0 = _mm256_setzero_pd(), v1 = _mm256_setzero_pd();
  for (i = 0; i + 8 <= dim; i += 8) {
    const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), vmean);
    const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), vmean);
    v0 = _mm256_fmadd_pd(d0, d0, v0);
    v1 = _mm256_fmadd_pd(d1, d1, v1);
  }
  _mm256_storeu_pd(lanes, _mm256_add_pd(v0, v1));
  double var = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (int j = i; j < dim; ++j) {
    const double d = x[j] - mean;
    var += d * d;
  }
  var /= dim;
  const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  const float m = static_cast<float>(mean);
  const __m256 vm = _mm256_set1_ps(m), vinv = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= dim; i += 8) {
    __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vinv);
    t = _mm256_mul_ps(t, _mm256_loadu_ps(gamma + i));
    if (beta != nullptr) t = _mm256_add_ps(t, _mm256_loadu_ps(beta + i));
    _mm256_storeu_ps(y + i, t);
  }
  for (; i < dim; ++i) {
    y[i] = (x[i] - m) * inv * gamma[i] + (beta != nullptr ? beta[i] : 0.0f);
  }
}

}  // namespace

void LayerNormRows(const float* x, int64_t rows, int dim, const float* gamma, const float* beta,
                   float eps, float* out) {
  if (compute::HasAvx2()) {
    for (int64_t r = 0; r < rows; ++r) {
      LayerNormRowAvx2(x + r * dim, dim, gamma, beta, eps, out + r * dim);
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    // Two passes in double: the mean/variance of a few hundred floats, exact enough to match
    // torch to ~1e-7 relative.
    double sum = 0.0;
    for (int i = 0; i < dim; ++i) sum += xr[i];
    const double mean = sum / dim;
    double var = 0.0;
    for (int i = 0; i < dim; ++i) {
      const double d = xr[i] - mean;
      var += d * d;
    }
    var /= dim;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const float m = static_cast<float>(mean);
    if (beta != nullptr) {
      for (int i = 0; i < dim; ++i) yr[i] = (xr[i] - m) * inv * gamma[i] + beta[i];
    } else {
      for (int i = 0; i < dim; ++i) yr[i] = (xr[i] - m) * inv * gamma[i];
    }
  }
}

void ActivateInPlace(float* x, int64_t n, Activation act) {
  if (act == Activation::kGeluErf && compute::HasAvx2()) return GeluErfInPlaceAvx2(x, n);
  for (int64_t i = 0; i < n; ++i) x[i] = Apply(x[i], act);
}

void GatedActivation(const float* in, int64_t rows, int inter, Activation act, float* out) {
  static const bool avx512 = compute::HasAvx512f();
  if (act == Activation::kGeluErf && avx512) return GatedGeluErfAvx512(in, rows, inter, out);
  if (act == Activation::kGeluErf && compute::HasAvx2())
    return GatedGeluErfAvx2(in, rows, inter, out);
  for (int64_t r = 0; r < rows; ++r) {
    const float* input = in + r * 2 * inter;
    const float* gate = input + inter;
    float* o = out + r * inter;
    for (int i = 0; i < inter; ++i) o[i] = Apply(input[i], act) * gate[i];
  }
}

void AddInPlace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void GatherRows(const float* table, int dim, const int32_t* ids, int64_t n, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    std::memcpy(out + t * dim, table + static_cast<int64_t>(ids[t]) * dim, sizeof(float) * dim);
  }
}

}  // namespace tartan::encoder
