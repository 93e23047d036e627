#include "services/encoder/lib/blas/bf16.h"

#include <immintrin.h>

#include "common/compute/cpu_features.h"

namespace tartan::encoder {
namespace {

// vcvtneps2bf16 rounds to nearest even like ToBf16 (NaNs stay NaN, payload aside; denormals
// flush to zero).
__attribute__((target("avx512f,avx512bf16"))) void ToBf16Avx512(const float* in, size_t n,
                                                                uint16_t* out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(in + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reinterpret_cast<const __m256i&>(v));
  }
  for (; i < n; ++i) out[i] = ToBf16(in[i]);
}

}  // namespace

void ToBf16(const float* in, size_t n, uint16_t* out) {
  static const bool native = compute::HasAvx512Bf16();
  if (native) return ToBf16Avx512(in, n, out);
  for (size_t i = 0; i < n; ++i) out[i] = ToBf16(in[i]);
}

}  // namespace tartan::encoder
