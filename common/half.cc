#include "common/half.h"

#include <cpuid.h>
#include <immintrin.h>

#include <bit>
#include <cmath>

namespace tartan {

uint16_t FloatToHalf(float value) {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // Inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow → Inf
  if (abs < 0x38800000u) {  // subnormal or zero in half
    const float magnitude = std::bit_cast<float>(abs);
    // Scale so the half subnormal unit (2^-24) becomes 1, then round to nearest even.
    const float scaled = magnitude * 16777216.0f;
    const uint32_t mant = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | mant);
  }
  // Normal: rebias exponent (127 → 15), round mantissa 23 → 10 bits to nearest even.
  uint32_t h = ((abs - 0x38000000u) >> 13);
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  const uint32_t mant = bits & 0x3ffu;
  if (exp == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

namespace {

// CPUID.1:ECX.F16C (clang's __builtin_cpu_supports does not know "f16c"); AVX also says the
// OS saves the YMM registers.
bool HasF16c() {
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) &&
           (ecx & bit_F16C) != 0;
  }();
  return has;
}

__attribute__((target("avx,f16c"))) void FloatToHalfF16c(const float* in, size_t n, uint16_t* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = FloatToHalf(in[i]);
}

__attribute__((target("avx,f16c"))) void HalfToFloatF16c(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) out[i] = HalfToFloat(in[i]);
}

}  // namespace

void FloatToHalf(const float* in, size_t n, uint16_t* out) {
  if (HasF16c()) return FloatToHalfF16c(in, n, out);
  for (size_t i = 0; i < n; ++i) out[i] = FloatToHalf(in[i]);
}

void HalfToFloat(const uint16_t* in, size_t n, float* out) {
  if (HasF16c()) return HalfToFloatF16c(in, n, out);
  for (size_t i = 0; i < n; ++i) out[i] = HalfToFloat(in[i]);
}

}  // namespace tartan
