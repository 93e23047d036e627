// Synthetic (random-weight) backbone checkpoints in Hugging Face layout: config.json +
// model.safetensors that LoadBackbone reads like a real model. Used by `tartanctl
// make-test-model` (through WriteSyntheticCheckpoint), the encoder tests and benchmarks.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace tartan::encoder {

struct SyntheticBackboneShape {
  std::string arch = "modernbert";  // or "bert"
  int vocab_size = 1000;
  int hidden = 64;
  int layers = 4;
  int heads = 4;
  int intermediate = 96;
  int local_attention = 8;  // modernbert only
  int global_every = 3;     // modernbert only
  int max_position = 8192;  // bert: 8192 (the untouched default) is written as 512
  int type_vocab_size = 2;  // bert only
};

// Writes <dir>/config.json + <dir>/model.safetensors with weights drawn from `seed`.
// lexical: zero the attention-output and MLP-output projections (and, for BERT, the position
// and token-type embeddings) so each token's hidden state is its own normalised embedding.
absl::Status WriteSyntheticBackbone(const std::string& dir, const SyntheticBackboneShape& shape,
                                    uint64_t seed, bool lexical);

}  // namespace tartan::encoder
