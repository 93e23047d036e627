#include "services/encoder/lib/blas/bf16.h"

namespace tartan::encoder {

void ToBf16(const float* in, size_t n, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = ToBf16(in[i]);
}

}  // namespace tartan::encoder
