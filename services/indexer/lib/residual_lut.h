// Scoring packed residuals without decompressing them (as WARP does, Jha et al. 2025): a query
// token q_i's dot product with a compressed token of centroid c and packed residual r is
//   q_i . (c + r) = (q_i . c) + sum_p L_i[p][byte_p(r)]
// where L_i holds, per packed residual byte position p and byte value, q_i's dot product
// with the residual values that byte encodes: nbits*dim/8 table lookups instead of a decode
// and a dot product. Search stage 3 scores the probed tokens of its candidates this way.
//
// The scores ignore the renormalisation a unit-norm codec applies on decode (|c + r| is
// close to 1); the final stage rescores the best documents on decoded vectors.
#pragma once

#include <cstdint>
#include <vector>

#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/segment.h"

namespace tartan::index {

// L_i for every query token: out [nq, packed_bytes, 256].
void BuildResidualLuts(const Codec& codec, const float* q, int nq, std::vector<float>* out);

// q_i . (c + r) for a token of centroid c with packed residual r, from cs's tables.
inline float ProbedTokenScore(const CentroidScores& cs, int i, uint32_t c, const uint8_t* r) {
  const int pb = cs.codec->packed_bytes();
  const float* lut = cs.residual_lut.data() + size_t(i) * pb * 256;
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int p = 0;
  for (; p + 4 <= pb; p += 4) {
    s0 += lut[(p + 0) * 256 + r[p + 0]];
    s1 += lut[(p + 1) * 256 + r[p + 1]];
    s2 += lut[(p + 2) * 256 + r[p + 2]];
    s3 += lut[(p + 3) * 256 + r[p + 3]];
  }
  for (; p < pb; ++p) s0 += lut[p * 256 + r[p]];
  return cs.st[size_t(c) * cs.nq + i] + ((s0 + s1) + (s2 + s3));
}

}  // namespace tartan::index
