#include "services/indexer/lib/warp_scorer.h"

#include <algorithm>

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

namespace {

constexpr size_t kPrefetchAhead = 8;

// A list holding more than this many tokens is a stop-word centroid: 32 times its fair share,
// and never below 4,096 tokens (small segments have short lists).
size_t CrowdedListTokens(uint64_t num_tokens, int num_centroids) {
  return std::max<size_t>(4096, size_t(32 * num_tokens / std::max(1, num_centroids)));
}

// Per-document slots valid only while their stamp equals the current epoch, so nothing is
// cleared between query tokens, segments or searches.
uint32_t NextEpoch(ProbeScratch* s) {
  if (++s->epoch == 0) {  // wrapped: old stamps could collide
    std::fill(s->best_stamp.begin(), s->best_stamp.end(), 0);
    std::fill(s->acc_stamp.begin(), s->acc_stamp.end(), 0);
    s->epoch = 1;
  }
  return s->epoch;
}

}  // namespace

TARTAN_TARGET_CLONES_AVX2 void WarpScoreSegment(const CentroidScores& cs, const TokenIndex& index,
                                                const SegmentFile& file, ProbeScratch* s,
                                                std::vector<SegmentHit>* out) {
  const uint32_t n = file.num_docs();
  if (s->best.size() < n) {
    s->best.resize(n);
    s->acc.resize(n);
    s->best_stamp.resize(n, 0);
    s->acc_stamp.resize(n, 0);
  }
  const int nq = cs.nq, np = cs.nprobe;
  const size_t crowded = CrowdedListTokens(file.num_tokens(), cs.codec->num_centroids);
  const uint32_t doc_epoch = NextEpoch(s);
  s->touched.clear();
  float missing_total = 0;
  for (int i = 0; i < nq; ++i) {
    const uint32_t token_epoch = NextEpoch(s);
    s->touched_by_token.clear();
    float missing = cs.missing[i];
    for (int j = 0; j < np; ++j) {
      const uint32_t c = cs.probes[size_t(i) * np + j];
      const float base = cs.st[size_t(c) * nq + i];
      if (index.list(c).size() > crowded) {
        // A stop-word centroid: nearly every document has a token there, so it cannot tell
        // them apart; every document gets its centroid score as the estimate instead of
        // the whole list being scored.
        missing = std::max(missing, base);
        continue;
      }
      const std::span<const TokenIndex::Entry> list = index.list(c);
      for (size_t k = 0; k < list.size(); ++k) {
        const TokenIndex::Entry& e = list[k];
        // The residual rows of one centroid's tokens lie apart in the file (stored by
        // document): fetch a few ahead.
        if (k + kPrefetchAhead < list.size())
          __builtin_prefetch(file.residual(list[k + kPrefetchAhead].token));
        const float v = ProbedTokenScore(cs, i, c, file.residual(e.token));
        if (s->best_stamp[e.doc] != token_epoch) {
          s->best_stamp[e.doc] = token_epoch;
          s->best[e.doc] = v;
          s->touched_by_token.push_back(e.doc);
        } else {
          s->best[e.doc] = std::max(s->best[e.doc], v);
        }
      }
    }
    // acc holds sum over query tokens of (best - estimate), so documents a query token
    // missed keep the estimate; no document scores below it.
    missing_total += missing;
    for (const uint32_t d : s->touched_by_token) {
      if (s->acc_stamp[d] != doc_epoch) {
        s->acc_stamp[d] = doc_epoch;
        s->acc[d] = 0;
        s->touched.push_back(d);
      }
      s->acc[d] += std::max(s->best[d], missing) - missing;
    }
  }
  for (const uint32_t d : s->touched) out->push_back(SegmentHit{d, missing_total + s->acc[d]});
}

}  // namespace tartan::index
