#include "services/indexer/lib/residual_lut.h"

#include "common/compute/target_clones.h"

namespace tartan::index {

TARTAN_TARGET_CLONES_AVX2 void BuildResidualLuts(const Codec& codec, const float* q, int nq,
                                                 std::vector<float>* out) {
  const int pb = codec.packed_bytes(), per_byte = 8 / codec.nbits;
  out->resize(size_t(nq) * pb * 256);
  for (int i = 0; i < nq; ++i) {
    const float* qi = q + size_t(i) * codec.dim;
    for (int p = 0; p < pb; ++p) {
      float* l = out->data() + (size_t(i) * pb + p) * 256;
      // Byte p holds dimensions p*per_byte + j.
      const float* w = codec.lut_by_dim.data() + size_t(p) * per_byte * 256;
      const float q0 = qi[p * per_byte];
      for (int b = 0; b < 256; ++b) l[b] = q0 * w[b];
      for (int j = 1; j < per_byte; ++j) {
        const float qd = qi[p * per_byte + j];
        for (int b = 0; b < 256; ++b) l[b] += qd * w[j * 256 + b];
      }
    }
  }
}

}  // namespace tartan::index
