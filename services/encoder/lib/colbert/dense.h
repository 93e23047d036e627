// The ColBERT projection head: one PyLate / sentence-transformers Dense module
// (`1_Dense`, `2_Dense`, ...). Each token computes y = act(W·x + b), plus x (or R·x when the
// sizes differ) when `use_residual` is set (pylate/models/Dense.py, Dense.forward).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/encoder/lib/layers/linear.h"

namespace tartan::encoder {

enum class DenseActivation { kIdentity, kTanh, kReLU, kGELU, kGELUTanh, kSigmoid, kSiLU };

// Accepts the Python class path stored in config.json ("torch.nn.modules.linear.Identity",
// "torch.nn.modules.activation.Tanh", ...) or its last component ("Tanh").
absl::StatusOr<DenseActivation> ParseDenseActivation(std::string_view class_path);
std::string_view DenseActivationName(DenseActivation activation);

struct DenseConfig {
  int in_features = 0;
  int out_features = 0;
  bool bias = true;  // sentence-transformers' default when the key is absent
  DenseActivation activation = DenseActivation::kIdentity;
  bool use_residual = false;
};

// Parses a Dense folder's config.json text; `source` names the file in error messages.
absl::StatusOr<DenseConfig> ParseDenseConfig(const std::string& json_text,
                                             const std::string& source);

class DenseLayer {
 public:
  // weight: [out, in] row-major (torch nn.Linear layout); bias: [out] when config.bias, else
  // empty; residual_weight: [out, in] when use_residual and in != out, else empty.
  static absl::StatusOr<DenseLayer> Create(const DenseConfig& config, std::vector<float> weight,
                                           std::vector<float> bias,
                                           std::vector<float> residual_weight);

  // Packs the weights for `backend` (the backbone's), once; until then the products run
  // OpenBLAS sgemm on the unpacked weights.
  absl::Status SetBackend(MatmulBackend backend);

  // in: [n, in_features] row-major; out: [n, out_features] row-major (must not alias `in`).
  // num_threads: threads for this call.
  void Forward(const float* in, int64_t n, float* out, int num_threads = 1) const;

  const DenseConfig& config() const { return config_; }
  int in_features() const { return config_.in_features; }
  int out_features() const { return config_.out_features; }

 private:
  DenseLayer() = default;

  DenseConfig config_;
  Linear linear_;    // W [out, in], b [out] or none
  Linear residual_;  // R [out, in] without bias; empty (out() == 0) unless needed
};

// Runs a chain of Dense layers; in: [n, chain.front().in_features]. Returns
// [n, chain.back().out_features]. An empty chain returns the input.
std::vector<float> RunDenseChain(const std::vector<DenseLayer>& chain, const float* in, int64_t n,
                                 int in_dim, int num_threads = 1);

}  // namespace tartan::encoder
