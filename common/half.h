// IEEE-754 binary16 conversions, round to nearest even on the way down. One implementation
// for the wire format (FLOAT16 vectors), safetensors F16 tensors and fp16 index centroids.
#pragma once

#include <cstdint>

namespace tartan {

uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t bits);

}  // namespace tartan
