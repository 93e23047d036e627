// Reduced-precision dense product through oneDNN: y[M, N] (+)= bf16(x)[M, K] * bf16(W)[N, K]^T
// with float32 accumulation and output. Weights are converted once at creation; activations are
// rounded to bf16 per call. Fast only on CPUs with AVX512-BF16 or AMX (see CpuHasNativeBf16).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tartan::encoder {

// True when the CPU executes bf16 dot products natively (AVX512_BF16 or AMX-BF16, per CPUID;
// common/compute/cpu_features.h).
bool CpuHasNativeBf16();

class Bf16Matmul {
 public:
  virtual ~Bf16Matmul() = default;
  // weight: [out, in] float32 (converted once). Uses oneDNN; fails when oneDNN has no bf16
  // matmul for this CPU (oneDNN 2.6 needs AVX512-BF16/AMX, or at least AVX512).
  static absl::StatusOr<std::unique_ptr<Bf16Matmul>> Create(const float* weight, int out, int in);
  // Portable emulation with the same numerics (operands rounded to bf16, float32 accumulation)
  // through Sgemm: no speed-up; lets tests check bf16 accuracy on any CPU.
  static std::unique_ptr<Bf16Matmul> CreateEmulated(const float* weight, int out, int in);
  // "onednn:<implementation>" or "emulated".
  virtual std::string backend() const = 0;
  // y[rows, out] = x[rows, in] W^T, or y += ... when accumulate. Thread-safe.
  virtual void Run(const float* x, int64_t rows, float* y, bool accumulate,
                   int num_threads) const = 0;
};

}  // namespace tartan::encoder
