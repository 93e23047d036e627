// The dense products of the encoder's projections: y[M, N] (+)= x[M, K] * W[N, K]^T with the
// weights packed once, at load, into the layout oneDNN's CPUID-dispatched matmul asks for
// (brgemm on AVX-512 / AVX512-BF16 / AMX, jit elsewhere). float32 or bf16 operands, float32
// accumulation and output. bf16 is fast only on CPUs with AVX512-BF16 or AMX (CpuHasNativeBf16).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/compute/matmul_types.h"

namespace tartan::encoder {

// True when the CPU executes bf16 dot products natively (AVX512_BF16 or AMX-BF16, per CPUID;
// common/compute/cpu_features.h) and oneDNN uses them (not capped by ONEDNN_MAX_CPU_ISA).
bool CpuHasNativeBf16();

using compute::MatmulDataType;

class PackedMatmul {
 public:
  virtual ~PackedMatmul() = default;
  // weight: [out, in] float32, packed (and for kBFloat16 rounded) once here; the caller's
  // buffer is not kept. Fails when oneDNN cannot build the product on this CPU (oneDNN 2.6 has
  // no bf16 matmul below AVX-512).
  static absl::StatusOr<std::unique_ptr<PackedMatmul>> Create(const float* weight, int out, int in,
                                                              MatmulDataType type);
  // Portable bf16 emulation (operands rounded to bf16, float32 accumulation) through OpenBLAS
  // sgemm: no speed-up; lets tests check bf16 accuracy on any CPU.
  static std::unique_ptr<PackedMatmul> CreateEmulatedBf16(const float* weight, int out, int in);
  // "onednn:<implementation>" (e.g. "onednn:brg:avx512_core_bf16") or "emulated".
  virtual std::string backend() const = 0;
  // y[rows, out] = x[rows, in] W^T, or y += ... when accumulate. Thread-safe.
  virtual void Run(const float* x, int64_t rows, float* y, bool accumulate,
                   int num_threads) const = 0;
};

}  // namespace tartan::encoder
