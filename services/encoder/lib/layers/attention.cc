#include "services/encoder/lib/layers/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/compute/parallel_for.h"
#include "services/encoder/lib/blas/bf16.h"
#include "services/encoder/lib/blas/strided_matmul.h"
#include "services/encoder/lib/layers/scratch.h"
#include "services/encoder/lib/layers/softmax.h"

#ifndef TARTAN_GLOBAL_TILE
#define TARTAN_GLOBAL_TILE 256
#endif

namespace tartan::encoder {
namespace {

// Query rows per work item (and per score GEMM). Local layers use a small tile so the band
// wasted outside the window stays small. Global layers on long sequences use a larger tile:
// with head_dim-deep products the GEMM spends much of its time packing K and V, once per tile.
// A sequence of up to kWholeSequence tokens is one tile when banding would not skip any key
// (local: len <= tile + 2 * half_window): one product per side instead of one per 64 rows,
// each of which packed the same K or V again.
constexpr int kLocalQueryTile = 64;
constexpr int kWholeSequence = 256;
// Below this many FLOPs (q k^T and p v of all heads) attention is not split across threads.
constexpr int64_t kMinParallelFlops = int64_t{8} << 20;
// Whole-sequence items batch heads up to this many scores (heads x len x len; 64 KB of float):
// all heads of a 32-token query, one head of a 180-token document (more was slower).
constexpr int64_t kMaxBatchedScores = int64_t{16} << 10;
int QueryTile(bool local, int len, int half_window) {
  if (len <= kWholeSequence && (!local || len <= kLocalQueryTile + 2 * half_window)) return len;
  if (local) return kLocalQueryTile;
  return len >= 1024 ? TARTAN_GLOBAL_TILE : 64;
}

struct WorkItem {
  int32_t seq_begin;  // token offset of the sequence
  int32_t seq_len;
  int32_t head;   // first head
  int32_t heads;  // heads [head, head + heads), one batched product
  int32_t q0;     // first query row of the tile, relative to the sequence
  int32_t rows;
};

}  // namespace

void PackedSelfAttention(const float* qkv, const std::vector<int32_t>& offsets,
                         const uint8_t* key_mask, const AttentionParams& p, float* ctx) {
  const int hidden = p.num_heads * p.head_dim;
  const int64_t ld = 3 * static_cast<int64_t>(hidden);
  const bool local = p.half_window >= 0;

  std::vector<WorkItem> items;
  int64_t max_scores = 0;    // largest rows x keys block of any item
  int64_t total_scores = 0;  // rows x keys over all items
  for (size_t b = 0; b + 1 < offsets.size(); ++b) {
    const int32_t len = offsets[b + 1] - offsets[b];
    if (len <= 0) continue;
    const int tile = QueryTile(local, len, p.half_window);
    const int keys = local ? std::min<int>(len, tile + 2 * p.half_window) : len;
    // A sequence within one tile (a query, a short document) batches its heads: one product
    // per side for several heads, instead of one oneDNN call (~4 us of overhead) per head.
    const int64_t head_scores = static_cast<int64_t>(std::min(tile, len)) * keys;
    const int heads_per_item =
        len <= tile
            ? static_cast<int>(std::clamp<int64_t>(kMaxBatchedScores / head_scores, 1, p.num_heads))
            : 1;
    max_scores = std::max<int64_t>(max_scores, head_scores * heads_per_item);
    for (int h = 0; h < p.num_heads; h += heads_per_item) {
      const int heads = std::min(heads_per_item, p.num_heads - h);
      for (int32_t q0 = 0; q0 < len; q0 += tile) {
        items.push_back({offsets[b], len, h, heads, q0, std::min(tile, len - q0)});
        total_scores += static_cast<int64_t>(items.back().rows) * keys * heads;
      }
    }
  }
  // The softmax kernel reads the mask as 0/1 floats (multiplies instead of branches).
  std::vector<float> mask_f(offsets.empty() ? 0 : offsets.back());
  for (size_t t = 0; t < mask_f.size(); ++t) mask_f[t] = key_mask[t] ? 1.0f : 0.0f;
  // Small attention (a short query: ~3 MFLOP per layer) runs on the calling thread alone.
  // Forking it cost more than it saved: the oneDNN (OpenMP) worker still spins on the other
  // core after the projection before, and a woken pool thread fights it for that core.
  const bool small = 4 * total_scores * p.head_dim < kMinParallelFlops;
  const int workers =
      small ? 1 : std::max(1, std::min<int>(p.num_threads, static_cast<int>(items.size())));
  // With several workers each GEMM runs single-threaded on its own tile; with one worker the
  // (large, global) GEMMs may still use several threads.
  const int gemm_threads = workers > 1 || small ? 1 : p.num_threads;
  // bf16 operands: q, k and v rounded once for all heads and tiles; the products read them in
  // place. The emulation keeps them as rounded floats.
  const bool bf16 = p.products == AttentionProducts::kBFloat16;
  const bool emulated = p.products == AttentionProducts::kBFloat16Emulated;
  const MatmulDataType type = bf16 ? MatmulDataType::kBFloat16 : MatmulDataType::kFloat32;
  const size_t qkv_size = static_cast<size_t>(offsets.empty() ? 0 : offsets.back()) * ld;
  // Per calling thread, reused across layers and calls (layers/scratch.h).
  thread_local std::vector<uint16_t> qkv_bf16_scratch;
  ScratchLease<uint16_t> qkv_bf16(qkv_bf16_scratch, bf16 ? qkv_size : 0);
  std::vector<float> qkv_rounded;
  const char* operands = reinterpret_cast<const char*>(qkv);
  size_t elem = sizeof(float);
  if (bf16) {
    ToBf16(qkv, qkv_size, qkv_bf16.data());
    operands = reinterpret_cast<const char*>(qkv_bf16.data());
    elem = sizeof(uint16_t);
  } else if (emulated) {
    qkv_rounded.resize(qkv_size);
    for (size_t i = 0; i < qkv_size; ++i) qkv_rounded[i] = RoundToBf16(qkv[i]);
    operands = reinterpret_cast<const char*>(qkv_rounded.data());
  }
  const auto at = [&](int64_t index) { return operands + index * elem; };
  int max_rows = 0;  // rows x heads
  for (const WorkItem& it : items) max_rows = std::max<int>(max_rows, it.rows * it.heads);
  std::vector<std::vector<float>> scores(workers, std::vector<float>(max_scores));
  std::vector<std::vector<uint16_t>> probs_bf16(bf16 ? workers : 0,
                                                std::vector<uint16_t>(max_scores));
  std::vector<std::vector<float>> mean_v(workers, std::vector<float>(p.head_dim));
  std::vector<std::vector<uint8_t>> degenerate(workers, std::vector<uint8_t>(max_rows));

  compute::ParallelFor(static_cast<int64_t>(items.size()), workers, [&](int64_t idx, int w) {
    const WorkItem& it = items[idx];
    const int32_t q1 = it.q0 + it.rows;
    const int rows = it.rows;
    int32_t k0 = 0, k1 = it.seq_len;
    if (local) {
      k0 = std::max(0, it.q0 - p.half_window);
      k1 = std::min(it.seq_len, q1 - 1 + p.half_window + 1);
    }
    const int keys = k1 - k0;
    const int64_t block = static_cast<int64_t>(rows) * keys;  // scores of one head
    const int64_t seq = static_cast<int64_t>(it.seq_begin) * ld;
    const void* q = at(seq + static_cast<int64_t>(it.q0) * ld + it.head * p.head_dim);
    const void* k = at(seq + static_cast<int64_t>(k0) * ld + hidden + it.head * p.head_dim);
    const void* v = at(seq + static_cast<int64_t>(k0) * ld + 2 * hidden + it.head * p.head_dim);
    const float* kmask = mask_f.data() + it.seq_begin + k0;
    float* s = scores[w].data();
    uint8_t* degen = degenerate[w].data();
    // Head hh of the item: its q, k and v are head_dim further along the row, its scores one
    // block further.
    const MatmulBatch scores_batch{it.heads, p.head_dim, p.head_dim, block};
    const MatmulBatch out_batch{it.heads, block, p.head_dim, p.head_dim};

    // s[hh][rows, keys] = scale * q k^T
    StridedMatmul(type, true, rows, keys, p.head_dim, p.scale, q, ld, k, ld, s, keys, gemm_threads,
                  scores_batch);
    bool any_degenerate = false;
    for (int hh = 0; hh < it.heads; ++hh) {
      for (int r = 0; r < rows; ++r) {
        const int32_t i = it.q0 + r;  // query position in the sequence
        // Visible keys: inside the window (local) and not masked.
        int32_t lo = k0, hi = k1;
        if (local) {
          lo = std::max(k0, i - p.half_window);
          hi = std::min(k1, i + p.half_window + 1);
        }
        float* sr = s + hh * block + static_cast<int64_t>(r) * keys;
        degen[hh * rows + r] = MaskedSoftmaxRow(sr, keys, lo - k0, hi - k0, kmask) ? 0 : 1;
        any_degenerate |= degen[hh * rows + r] != 0;
      }
    }
    float* out = ctx + static_cast<int64_t>(it.seq_begin + it.q0) * hidden + it.head * p.head_dim;
    // out[rows, head_dim] = s v, with s rounded like v in the bf16 modes.
    const void* probs = s;
    if (bf16) {
      ToBf16(s, static_cast<size_t>(block) * it.heads, probs_bf16[w].data());
      probs = probs_bf16[w].data();
    } else if (emulated) {
      for (int64_t i = 0; i < block * it.heads; ++i) s[i] = RoundToBf16(s[i]);
    }
    StridedMatmul(type, false, rows, p.head_dim, keys, 1.0f, probs, keys, v, ld, out, hidden,
                  gemm_threads, out_batch);
    if (any_degenerate) {
      float* mv = mean_v[w].data();
      for (int hh = 0; hh < it.heads; ++hh) {
        const uint8_t* dh = degen + hh * rows;
        if (std::find(dh, dh + rows, 1) == dh + rows) continue;
        std::fill(mv, mv + p.head_dim, 0.0f);
        const float* vall = qkv + seq + 2 * hidden + (it.head + hh) * p.head_dim;
        for (int32_t j = 0; j < it.seq_len; ++j) {
          const float* vj = vall + static_cast<int64_t>(j) * ld;
          for (int d = 0; d < p.head_dim; ++d) mv[d] += vj[d];
        }
        const float inv = 1.0f / static_cast<float>(it.seq_len);
        for (int d = 0; d < p.head_dim; ++d) mv[d] *= inv;
        for (int r = 0; r < rows; ++r) {
          if (!dh[r]) continue;
          std::copy(mv, mv + p.head_dim, out + static_cast<int64_t>(r) * hidden + hh * p.head_dim);
        }
      }
    }
  });
}

}  // namespace tartan::encoder
