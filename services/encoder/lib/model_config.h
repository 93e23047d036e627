// Hyper-parameters of a backbone, read from a Hugging Face config.json.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::encoder {

enum class Activation { kGeluErf, kGeluTanh, kSilu, kRelu };

struct ModelConfig {
  std::string model_type;  // "modernbert" | "bert"
  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int max_position_embeddings = 0;
  Activation activation = Activation::kGeluErf;
  float norm_eps = 1e-5f;  // ModernBERT norm_eps; BERT layer_norm_eps

  // ModernBERT.
  bool norm_bias = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  int local_attention = 128;          // full window; a local layer sees |i-j| <= local/2
  std::vector<bool> layer_is_global;  // size num_layers
  double global_rope_theta = 160000.0;
  double local_rope_theta = 10000.0;

  // BERT.
  int type_vocab_size = 2;

  int head_dim() const { return hidden_size / num_heads; }
};

// Parses "gelu", "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "silu"/"swish", "relu".
absl::StatusOr<Activation> ParseActivation(const std::string& name);

// Reads and validates `path` (a config.json). Errors name the file and the key.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);
// Same, from JSON text (`source` is only used in error messages).
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source);

}  // namespace tartan::encoder
