#include "services/encoder/lib/layers/rope.h"

#include <immintrin.h>

#include <cmath>

#include "common/compute/cpu_features.h"

namespace tartan::encoder {

RopeTable::RopeTable(int head_dim, double theta, int max_positions)
    : head_dim_(head_dim), max_positions_(max_positions) {
  const int half = head_dim / 2;
  cos_.resize(static_cast<size_t>(max_positions) * half);
  sin_.resize(cos_.size());
  // Mirrors transformers: inv_freq and pos * inv_freq are float32 tensors, then cos/sin. Doing
  // the product in float32 too keeps long-position angles bit-compatible with the reference.
  std::vector<float> inv_freq(half);
  for (int i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq[i] = 1.0f / std::pow(static_cast<float>(theta), exponent);
  }
  for (int p = 0; p < max_positions; ++p) {
    for (int i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv_freq[i];
      cos_[static_cast<size_t>(p) * half + i] =
          static_cast<float>(std::cos(static_cast<double>(angle)));
      sin_[static_cast<size_t>(p) * half + i] =
          static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

namespace {

// One head's rotation, scalar and AVX2 with the same operations (no FMA: bit-identical).
void RotateScalar(float* x, const float* c, const float* s, int half) {
  for (int i = 0; i < half; ++i) {
    const float x1 = x[i];
    const float x2 = x[i + half];
    x[i] = x1 * c[i] - x2 * s[i];
    x[i + half] = x2 * c[i] + x1 * s[i];
  }
}

__attribute__((target("avx2"))) void RotateAvx2(float* x, const float* c, const float* s,
                                                int half) {
  int i = 0;
  for (; i + 8 <= half; i += 8) {
    const __m256 x1 = _mm256_loadu_ps(x + i), x2 = _mm256_loadu_ps(x + i + half);
    const __m256 vc = _mm256_loadu_ps(c + i), vs = _mm256_loadu_ps(s + i);
    _mm256_storeu_ps(x + i, _mm256_sub_ps(_mm256_mul_ps(x1, vc), _mm256_mul_ps(x2, vs)));
    _mm256_storeu_ps(x + i + half, _mm256_add_ps(_mm256_mul_ps(x2, vc), _mm256_mul_ps(x1, vs)));
  }
  for (; i < half; ++i) {
    const float x1 = x[i];
    const float x2 = x[i + half];
    x[i] = x1 * c[i] - x2 * s[i];
    x[i + half] = x2 * c[i] + x1 * s[i];
  }
}

}  // namespace

void RopeTable::ApplyToQK(float* qkv, int64_t ld, int num_heads,
                          const std::vector<int32_t>& offsets) const {
  static const bool avx2 = compute::HasAvx2();
  const auto rotate = avx2 ? &RotateAvx2 : &RotateScalar;
  const int half = head_dim_ / 2;
  const int64_t hidden = static_cast<int64_t>(num_heads) * head_dim_;
  for (size_t b = 0; b + 1 < offsets.size(); ++b) {
    for (int32_t t = offsets[b]; t < offsets[b + 1]; ++t) {
      const int pos = t - offsets[b];
      const float* c = cos_.data() + static_cast<size_t>(pos) * half;
      const float* s = sin_.data() + static_cast<size_t>(pos) * half;
      float* row = qkv + static_cast<int64_t>(t) * ld;
      for (int part = 0; part < 2; ++part) {  // q then k
        float* base = row + part * hidden;
        for (int h = 0; h < num_heads; ++h) rotate(base + h * head_dim_, c, s, half);
      }
    }
  }
}

}  // namespace tartan::encoder
