#include "common/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <vector>

namespace tartan {
namespace {

// The array conversions (F16C where the CPU has it) agree bit for bit with the scalar ones on
// every half value, the rounding ties between them, subnormals and overflow, at lengths that
// exercise both the 8-wide loop and its tail.
TEST(HalfArraysTest, MatchScalarConversions) {
  std::vector<float> in;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(uint16_t(h));
    if ((h & 0x7c00u) == 0x7c00u) {  // Inf and NaN: NaN payloads may differ
      if ((h & 0x3ffu) == 0) in.push_back(f);
      continue;
    }
    in.push_back(f);
    // Halfway to the next half up, and just above and below it.
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    in.push_back(std::bit_cast<float>(bits + 0x1000u));
    in.push_back(std::bit_cast<float>(bits + 0x0fffu));
    in.push_back(std::bit_cast<float>(bits + 0x1001u));
  }
  in.push_back(65519.f), in.push_back(65520.f), in.push_back(1e9f), in.push_back(-1e-9f);
  in.push_back(5.9604645e-08f), in.push_back(2.9802322e-08f), in.push_back(2.9802326e-08f);
  for (const size_t n : {in.size(), in.size() - 3, size_t(7), size_t(1)}) {
    std::vector<uint16_t> half(n);
    FloatToHalf(in.data(), n, half.data());
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(half[i], FloatToHalf(in[i])) << "input " << in[i];
    std::vector<float> back(n);
    HalfToFloat(half.data(), n, back.data());
    for (size_t i = 0; i < n; ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(back[i]), std::bit_cast<uint32_t>(HalfToFloat(half[i])));
  }
}

}  // namespace
}  // namespace tartan
