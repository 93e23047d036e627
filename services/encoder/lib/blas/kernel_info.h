// Which kernels the encoder's matrix products actually run on, and whether that is what the CPU
// can do. The products run on oneDNN, which dispatches by CPUID (InspectMatmulKernels judges
// it). OpenBLAS remains for the bf16 emulation: Debian 12's OpenBLAS 0.3.21 (DYNAMIC_ARCH)
// picks its kernels by CPU model number and falls back to Prescott (SSE3) kernels on CPUs it
// does not know (newer Xeons), ~6x slower (common/compute/blas_core.h judges it, and
// tartan-encoder re-executes itself with OPENBLAS_CORETYPE set when it must).
#pragma once

#include <string>
#include <string_view>

#include "common/compute/blas_core.h"
#include "services/encoder/lib/blas/precision.h"

namespace tartan::encoder {

// CPU features and OpenBLAS's kernel choice live in common/compute/blas_core.h (the indexer
// calls OpenBLAS too); the encoder reports them with its oneDNN verdict.
using compute::BlasCoreName;
using compute::BlasCoreVerdict;
using compute::BlasCoreVerdictName;
using compute::CpuIsa;
using compute::DetectCpuIsa;
using compute::InspectBlasKernels;
using compute::JudgeBlasCore;
using compute::KernelReport;
using compute::RecommendedBlasCoreType;

// oneDNN's effective CPU ISA ("avx2", "avx512_core_bf16", "avx512_core_amx", ...).
std::string OneDnnIsaName();

// The encoder's products run on oneDNN (packed_matmul.h, strided_matmul.h), which dispatches
// by CPUID. Its verdict: kFallback when it runs a reference kernel ("ref:any") or its effective
// ISA is below what the CPU has (e.g. avx2 on AVX-512, avx512_core on AVX512-BF16), which only
// happens when ONEDNN_MAX_CPU_ISA caps it or oneDNN does not know the CPU.
enum class MatmulVerdict { kOk, kFallback };
MatmulVerdict JudgeOneDnn(std::string_view isa, std::string_view impl, const CpuIsa& cpu);
// The weakest oneDNN ISA that uses all of `cpu` ("avx512_core_amx", "avx512_core_bf16",
// "avx512_core", "avx2", or "" for older CPUs).
std::string ExpectedOneDnnIsa(const CpuIsa& cpu);

struct MatmulReport {
  std::string isa;         // OneDnnIsaName()
  std::string projection;  // a packed projection's backend, "onednn:brg:avx512_core_bf16"
  std::string attention;   // the attention products' oneDNN implementation, "gemm:jit"
  MatmulVerdict verdict = MatmulVerdict::kOk;
  std::string warning;  // "" when kOk
};
// Builds one small packed projection and one attention-shaped product as `precision` runs them
// (kInt8: an int8 projection, attention bf16 where native else f32) and judges them. kBFloat16
// is only asked for where the CPU has native bf16; kAuto is not a precision that runs (its
// resolution is reported).
MatmulReport InspectMatmulKernels(Precision precision);

}  // namespace tartan::encoder
