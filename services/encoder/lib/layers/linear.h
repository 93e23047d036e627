// A dense layer y = x W^T + b with W stored [out, in] (torch.nn.Linear layout).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/encoder/lib/blas/precision.h"

namespace tartan::encoder {

class PackedMatmul;  // blas/packed_matmul.h

// How a Linear multiplies: oneDNN float32, oneDNN bf16, bf16 numerics emulated with sgemm, or
// oneDNN dynamic int8 (blas/int8_matmul.h). Weights are packed for the backend once, in
// SetBackend.
enum class MatmulBackend { kFloat32, kBf16OneDnn, kBf16Emulated, kInt8OneDnn };

class Linear {
 public:
  Linear();
  Linear(int out, int in, std::vector<float> weight, std::vector<float> bias);
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;
  ~Linear();

  int out() const { return out_; }
  int in() const { return in_; }
  // [out, in]; empty once SetBackend has packed it (the packed copy is the only one kept).
  const std::vector<float>& weight() const { return weight_; }
  const std::vector<float>& bias() const { return bias_; }  // [out] or empty

  // Packs (for kInt8OneDnn: quantises and packs) the weights for `backend`, once (a second
  // call is an error). kBf16OneDnn needs oneDNN with a bf16 matmul for this CPU, else an error.
  // Until then Forward runs OpenBLAS sgemm on the unpacked weights (tests build small layers that
  // way).
  absl::Status SetBackend(MatmulBackend backend);
  // oneDNN's implementation ("onednn:brg:avx512_core", ...), "emulated", or "openblas".
  std::string backend() const;

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
  std::unique_ptr<PackedMatmul> matmul_;
};

}  // namespace tartan::encoder
