// WARP-style scoring of compressed tokens (Jha et al., "WARP: An Efficient Engine for
// Multi-Vector Retrieval", 2025), the first scoring stage of a search: for each query token
// q_i and each centroid c it probes, every token t in c's list (token_index.h) scores
//   q_i . (c + r_t) = (q_i . c) + sum_p L_i[p][byte_p(r_t)]
// where L_i holds, per packed residual byte position p and byte value, q_i's dot product
// with the residual values that byte encodes — table lookups instead of decompression. A
// document's score is sum_i of its best such token score for q_i, or, when none of its tokens
// sits in a centroid q_i probes (or its best is lower), an estimate: the score of q_i's
// weakest probed centroid.
//
// A centroid whose list is crowded (a stop-word direction most documents share) is not
// scored token by token: it cannot tell documents apart, so every document gets its centroid
// score as that query token's estimate, and one such centroid cannot dominate the query's cost.
//
// The scores ignore the renormalisation a unit-norm codec applies on decode (|c + r| is
// close to 1); later stages rescore the best documents on decoded vectors.
#pragma once

#include <cstdint>
#include <vector>

#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/segment.h"
#include "services/indexer/lib/segment_file.h"
#include "services/indexer/lib/token_index.h"

namespace tartan::index {

// L_i for every query token: out [nq, packed_bytes, 256].
void BuildResidualLuts(const Codec& codec, const float* q, int nq, std::vector<float>* out);

// q_i . (c + r) for a token of centroid c with packed residual r: (q_i . c) + sum_p L_i[p][r[p]].
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

// Scores every document of `file` that has a token in a centroid some query token probes:
// appends (document, score) to *out, each document once. cs: the query's scores for the
// segment's codec, with probe lists and lookup tables.
void WarpScoreSegment(const CentroidScores& cs, const TokenIndex& index, const SegmentFile& file,
                      ProbeScratch* scratch, std::vector<SegmentHit>* out);

}  // namespace tartan::index
