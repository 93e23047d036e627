// IEEE-754 binary16 conversions, round to nearest even on the way down. One implementation
// for the wire format (FLOAT16 vectors), safetensors F16 tensors and fp16 index centroids.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tartan {

uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t bits);

// The same over arrays, with F16C where the CPU has it (every AVX2 CPU); bit-identical to the
// scalar functions for every non-NaN input (round to nearest even).
void FloatToHalf(const float* in, size_t n, uint16_t* out);
void HalfToFloat(const uint16_t* in, size_t n, float* out);

}  // namespace tartan
