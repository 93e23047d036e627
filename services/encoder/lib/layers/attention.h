// Multi-head self-attention over a packed (unpadded) batch, with optional sliding window.
#pragma once

#include <cstdint>
#include <vector>

namespace tartan::encoder {

// Operands of q k^T and p v (softmax and accumulation are float32 in every mode).
enum class AttentionProducts {
  kFloat32,           // oneDNN f32
  kBFloat16,          // q, k, v and p rounded to bf16, oneDNN bf16 (AVX512-BF16/AMX)
  kBFloat16Emulated,  // the same rounding, products in oneDNN f32 (tests on any CPU)
};

struct AttentionParams {
  int num_heads = 0;
  int head_dim = 0;
  // Local (sliding-window) attention: key j is visible from query i iff |i - j| <= half_window.
  // Negative: global attention. Local layers only compute the band of the window (blocked by
  // query tiles), so their cost is linear in the sequence length.
  int half_window = -1;
  float scale = 1.0f;  // applied to q.k (1/sqrt(head_dim))
  int num_threads = 1;
  AttentionProducts products = AttentionProducts::kFloat32;
};

// qkv: [total_tokens, 3H] row-major (q | k | v, heads contiguous inside each block), already
// rotated for RoPE models. offsets: [batch + 1] sequence boundaries. key_mask: [total_tokens],
// 0 = the token may not be attended to as a key (it is still a query row).
// ctx: [total_tokens, H] output (softmax(q k^T * scale + mask) v per head).
//
// A query row with no visible key (all masked) reproduces the reference's additive float32-min
// mask: every score equals min, so softmax is uniform over all keys of the sequence and the row
// becomes the mean of v over the whole sequence.
void PackedSelfAttention(const float* qkv, const std::vector<int32_t>& offsets,
                         const uint8_t* key_mask, const AttentionParams& params, float* ctx);

}  // namespace tartan::encoder
