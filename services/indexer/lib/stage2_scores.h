// Stage 2 of a search (searcher.h) on an 8-bit copy of the query's centroid scores: a quarter
// of the float table's bytes, and the kernel keeps the maxima of 32 query tokens in one
// register for a whole document. On the skewed 100k corpus stage 2 scores tens of thousands of
// candidates per query; this made it 3-5x faster at the same recall (bench/RESULTS.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tartan::index {

// Bytes after the table's last row: the SIMD kernel reads 32 bytes from any row start.
inline constexpr size_t kStage2RowPad = 32;

struct Stage2Table {
  std::vector<uint8_t> scores;  // [nc * nq + kStage2RowPad]: max(c . q_i, 0) in steps of `step`
  float step = 0;               // the score of one step: the largest score / 255
};

// Fills *table from st [nc, nq] (centroid-major) and best [nc] (each centroid's best score):
// rows of centroids whose best score is below `threshold` stay 0, so they count as 0, as
// PLAID's centroid pruning has them.
void QuantizeStage2Table(const float* st, const float* best, size_t nc, int nq, float threshold,
                         Stage2Table* table);

// sum_i max(0, max over the codes t of table[code_t * nq + i]), in steps. Uses AVX2 where the
// CPU has it; the scalar version is the reference.
uint32_t Stage2MaxSum(const Stage2Table& table, int nq, const uint16_t* codes, size_t n);
uint32_t Stage2MaxSum(const Stage2Table& table, int nq, const uint32_t* codes, size_t n);
uint32_t Stage2MaxSumScalar(const Stage2Table& table, int nq, const uint32_t* codes, size_t n);

}  // namespace tartan::index
