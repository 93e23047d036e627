// Masked softmax over one attention row (float32), with an AVX-512 or AVX2+FMA kernel chosen at run
// time (the portable build targets baseline x86-64) and a scalar reference it is tested against.
#pragma once

#include <cstdint>

namespace tartan::encoder {

// Softmax of row[lo, hi) restricted to entries whose key_mask is 1.0f (0.0f = hidden); every
// other entry of row[0, n) becomes 0. Returns false (and leaves the row all zero) when no entry
// of [lo, hi) is visible.
bool MaskedSoftmaxRow(float* row, int n, int lo, int hi, const float* key_mask);

// The scalar reference (std::exp), exposed for tests.
bool MaskedSoftmaxRowScalar(float* row, int n, int lo, int hi, const float* key_mask);

// The kernel MaskedSoftmaxRow uses on this CPU: "avx512", "avx2" or "scalar".
const char* SoftmaxKernel();

}  // namespace tartan::encoder
