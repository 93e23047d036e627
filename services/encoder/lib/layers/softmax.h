// Masked softmax over one attention row (float32).
#pragma once

#include <cstdint>

namespace tartan::encoder {

// Softmax of row[lo, hi) restricted to entries whose key_mask is non-zero; every other entry of
// row[0, n) becomes 0. Returns false (and leaves the row all zero) when no entry is visible.
bool MaskedSoftmaxRow(float* row, int n, int lo, int hi, const uint8_t* key_mask);

// out[i] = exp(x[i]) for n values (vectorised where the CPU allows; ~1 ulp of std::exp).
void ExpInPlace(float* x, int n);

}  // namespace tartan::encoder
