// The ColBERT projection head: one PyLate / sentence-transformers Dense module
// (`1_Dense`, `2_Dense`, ...). Each token computes y = act(W·x + b), plus x (or R·x when the
// sizes differ) when `use_residual` is set (pylate/models/Dense.py, Dense.forward).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

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

  // in: [n, in_features] row-major; out: [n, out_features] row-major (must not alias `in`).
  // num_threads: BLAS threads for this call (see blas/gemm.h).
  void Forward(const float* in, int64_t n, float* out, int num_threads = 1) const;

  const DenseConfig& config() const { return config_; }
  int in_features() const { return config_.in_features; }
  int out_features() const { return config_.out_features; }

 private:
  DenseLayer() = default;

  DenseConfig config_;
  std::vector<float> weight_;           // [out, in]
  std::vector<float> bias_;             // [out] or empty
  std::vector<float> residual_weight_;  // [out, in] or empty
};

// Runs a chain of Dense layers; in: [n, chain.front().in_features]. Returns
// [n, chain.back().out_features]. An empty chain returns the input.
std::vector<float> RunDenseChain(const std::vector<DenseLayer>& chain, const float* in, int64_t n,
                                 int in_dim, int num_threads = 1);

}  // namespace tartan::encoder
