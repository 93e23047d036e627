// Rotary position embedding, half-split ("rotate_half") convention of Hugging Face
// Llama/ModernBERT: for pair (x[i], x[i + d/2]), i < d/2: (x[i] cos - x[i+d/2] sin, x[i+d/2] cos +
// x[i] sin), angle = pos * inv_freq[i], inv_freq[i] = theta^(-2i/d).
#pragma once

#include <cstdint>
#include <vector>

namespace tartan::encoder {

class RopeTable {
 public:
  RopeTable() = default;
  // Precomputes cos/sin for positions [0, max_positions).
  RopeTable(int head_dim, double theta, int max_positions);

  int max_positions() const { return max_positions_; }

  // Rotates the q block (columns [0, H)) and the k block (columns [H, 2H)) of a packed
  // qkv matrix [total_tokens, ld] in place; positions restart at 0 at every offsets[b].
  // H = num_heads * head_dim. Positions must be < max_positions() (caller checks).
  void ApplyToQK(float* qkv, int64_t ld, int num_heads, const std::vector<int32_t>& offsets) const;

 private:
  int head_dim_ = 0;
  int max_positions_ = 0;
  std::vector<float> cos_;  // [max_positions, head_dim/2]
  std::vector<float> sin_;
};

}  // namespace tartan::encoder
