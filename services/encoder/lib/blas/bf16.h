// float32 <-> bf16 rounding shared by the oneDNN products and their emulation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tartan::encoder {

// Round-to-nearest-even float -> bf16 (NaN payloads are not preserved; activations never are).
inline uint16_t ToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

inline float RoundToBf16(float f) {
  const uint32_t bits = static_cast<uint32_t>(ToBf16(f)) << 16;
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

// out[i] = ToBf16(in[i]) for i < n.
void ToBf16(const float* in, size_t n, uint16_t* out);

}  // namespace tartan::encoder
