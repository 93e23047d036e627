// A dense layer y = x W^T + b with W stored [out, in] (torch.nn.Linear layout).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "services/encoder/lib/blas/precision.h"

namespace tartan::encoder {

class Bf16Matmul;  // blas/bf16_matmul.h

// How a Linear multiplies: float32 sgemm, oneDNN bf16, or bf16 numerics emulated with sgemm.
enum class MatmulBackend { kFloat32, kBf16OneDnn, kBf16Emulated };

class Linear {
 public:
  Linear();
  Linear(int out, int in, std::vector<float> weight, std::vector<float> bias);
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;
  ~Linear();

  int out() const { return out_; }
  int in() const { return in_; }
  const std::vector<float>& weight() const { return weight_; }  // [out, in]
  const std::vector<float>& bias() const { return bias_; }      // [out] or empty

  // Switches the products to `backend` (kFloat32 and kBf16Emulated always work; kBf16OneDnn
  // needs oneDNN with a bf16 matmul for this CPU, else an error).
  absl::Status SetBackend(MatmulBackend backend);

  // y[rows, out] = x[rows, in] W^T + b.
  void Forward(const float* x, int64_t rows, float* y, int num_threads) const;
  // y[rows, out] += x[rows, in] W^T + b (residual connections without an extra pass).
  void ForwardAccumulate(const float* x, int64_t rows, float* y, int num_threads) const;

 private:
  void Run(const float* x, int64_t rows, float* y, bool accumulate, int num_threads) const;

  int out_ = 0;
  int in_ = 0;
  std::vector<float> weight_;
  std::vector<float> bias_;
  std::unique_ptr<Bf16Matmul> bf16_;
};

}  // namespace tartan::encoder
