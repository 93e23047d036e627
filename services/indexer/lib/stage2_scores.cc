#include "services/indexer/lib/stage2_scores.h"

#include <immintrin.h>

#include <algorithm>

#include "common/compute/cpu_features.h"
#include "common/compute/target_clones.h"

namespace tartan::index {

TARTAN_TARGET_CLONES_AVX2 void QuantizeStage2Table(const float* st, const float* best, size_t nc,
                                                   int nq, float threshold, Stage2Table* table) {
  float top = 0;
  for (size_t c = 0; c < nc; ++c) top = std::max(top, best[c]);
  table->step = top > 0 ? top / 255.f : 1.f;
  const float inv = top > 0 ? 255.f / top : 0.f;
  table->scores.resize(nc * nq + kStage2RowPad);
  for (size_t c = 0; c < nc; ++c) {
    uint8_t* out = table->scores.data() + c * nq;
    if (!(best[c] >= threshold)) {
      std::fill_n(out, nq, uint8_t{0});
      continue;
    }
    const float* row = st + c * nq;
    for (int i = 0; i < nq; ++i) out[i] = uint8_t(std::max(row[i], 0.f) * inv + 0.5f);
  }
}

namespace {

template <typename Code>
uint32_t MaxSumScalar(const uint8_t* scores, int nq, const Code* codes, size_t n) {
  uint32_t total = 0;
  for (int i = 0; i < nq; ++i) {
    uint8_t m = 0;
    for (size_t t = 0; t < n; ++t) m = std::max(m, scores[size_t(codes[t]) * nq + i]);
    total += m;
  }
  return total;
}

// 32 query tokens per register, over every code of the document. A last partial block reads
// past its row (into the next row or the padding) and masks those lanes off.
template <typename Code>
__attribute__((target("avx2"))) uint32_t MaxSumAvx2(const uint8_t* scores, int nq,
                                                    const Code* codes, size_t n) {
  uint64_t total = 0;
  for (int i0 = 0; i0 < nq; i0 += 32) {
    __m256i m = _mm256_setzero_si256();
    for (size_t t = 0; t < n; ++t) {
      const uint8_t* row = scores + size_t(codes[t]) * nq + i0;
      m = _mm256_max_epu8(m, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row)));
    }
    if (nq - i0 < 32) {
      alignas(32) uint8_t keep[32];
      for (int j = 0; j < 32; ++j) keep[j] = j < nq - i0 ? 0xFF : 0;
      m = _mm256_and_si256(m, _mm256_load_si256(reinterpret_cast<const __m256i*>(keep)));
    }
    const __m256i sums = _mm256_sad_epu8(m, _mm256_setzero_si256());  // 4 x u64
    total += uint64_t(_mm256_extract_epi64(sums, 0)) + uint64_t(_mm256_extract_epi64(sums, 1)) +
             uint64_t(_mm256_extract_epi64(sums, 2)) + uint64_t(_mm256_extract_epi64(sums, 3));
  }
  return uint32_t(total);
}

template <typename Code>
uint32_t MaxSum(const Stage2Table& table, int nq, const Code* codes, size_t n) {
  static const bool avx2 = compute::HasAvx2();
  return avx2 ? MaxSumAvx2(table.scores.data(), nq, codes, n)
              : MaxSumScalar(table.scores.data(), nq, codes, n);
}

}  // namespace

uint32_t Stage2MaxSum(const Stage2Table& table, int nq, const uint16_t* codes, size_t n) {
  return MaxSum(table, nq, codes, n);
}

uint32_t Stage2MaxSum(const Stage2Table& table, int nq, const uint32_t* codes, size_t n) {
  return MaxSum(table, nq, codes, n);
}

uint32_t Stage2MaxSumScalar(const Stage2Table& table, int nq, const uint32_t* codes, size_t n) {
  return MaxSumScalar(table.scores.data(), nq, codes, n);
}

}  // namespace tartan::index
