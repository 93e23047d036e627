// Which kernels the encoder's matrix products actually run on, and whether that is what the CPU
// can do. The products run on oneDNN, which dispatches by CPUID (InspectMatmulKernels judges
// it). OpenBLAS remains for the bf16 emulation: Debian 12's OpenBLAS 0.3.21 (DYNAMIC_ARCH)
// picks its kernels by CPU model number and falls back to Prescott (SSE3) kernels on CPUs it
// does not know (newer Xeons), ~6x slower: openblas_get_corename() tells. OpenBLAS reads
// OPENBLAS_CORETYPE only when it loads, so the fix is that variable at process start
// (tartan-encoder re-executes itself with it, main.cc).
#pragma once

#include <string>
#include <string_view>

#include "services/encoder/lib/blas/precision.h"

namespace tartan::encoder {

// The instruction sets that decide which OpenBLAS kernels are right.
struct CpuIsa {
  bool avx2 = false;         // AVX2 + FMA
  bool avx512 = false;       // AVX-512 F, BW, VL, DQ (what OpenBLAS's SkylakeX kernels use)
  bool avx512_bf16 = false;  // AVX512_BF16
  bool amx = false;          // AMX-BF16 (and AMX-TILE)
};
CpuIsa DetectCpuIsa();

enum class BlasCoreVerdict {
  kOk,        // the kernels match the CPU's best vector ISA (or nothing better exists)
  kFallback,  // pre-AVX2 kernels (Prescott, Core2, Nehalem, Sandybridge, generic...) on AVX2
  kBelowCpu,  // AVX2 kernels (Haswell, Zen) on a CPU with AVX-512
};

// Pure logic, case-insensitive on the core name ("Prescott", "Haswell", "SkylakeX", ...).
BlasCoreVerdict JudgeBlasCore(std::string_view corename, const CpuIsa& cpu);
std::string_view BlasCoreVerdictName(BlasCoreVerdict verdict);  // "ok" | "fallback" | "below_cpu"
// The OPENBLAS_CORETYPE that runs OpenBLAS 0.3.21's best kernels for `cpu`: "SkylakeX" with
// AVX-512, "Haswell" with AVX2, "" otherwise.
std::string RecommendedBlasCoreType(const CpuIsa& cpu);

// openblas_get_corename() of the loaded library (e.g. "Haswell", "Zen", "Prescott").
std::string BlasCoreName();
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

struct KernelReport {
  std::string blas_core;
  BlasCoreVerdict verdict = BlasCoreVerdict::kOk;
  std::string recommended_coretype;  // set when verdict != kOk
  std::string warning;               // "" when kOk; otherwise what is wrong and the fix
};
KernelReport InspectBlasKernels();

}  // namespace tartan::encoder
