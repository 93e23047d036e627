// Whether OpenBLAS runs the kernels this CPU deserves, for every process that calls it (encoder,
// indexer). Debian 12's OpenBLAS 0.3.21 (DYNAMIC_ARCH) picks its kernels by CPU model number and
// falls back to Prescott (SSE3) kernels on CPUs it does not know (newer Xeons), ~6x slower:
// openblas_get_corename() tells. OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so the fix
// is that variable at process start: FixBlasCoreOrWarn re-executes the process with it.
#pragma once

#include <string>
#include <string_view>

namespace tartan::compute {

// The instruction sets that decide which kernels are right.
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

struct KernelReport {
  std::string blas_core;
  BlasCoreVerdict verdict = BlasCoreVerdict::kOk;
  std::string recommended_coretype;  // set when verdict != kOk
  std::string warning;               // "" when kOk; otherwise what is wrong and the fix
};
KernelReport InspectBlasKernels();

// Call first thing in main, before any thread or socket exists. When OpenBLAS runs kernels
// below this CPU and OPENBLAS_CORETYPE is unset, re-executes the process (argv as given) with
// the recommended value when `fix` is set; otherwise, or if that fails, logs the warning with
// the fix. Runs at most once: the re-executed process has the variable set and only warns.
void FixBlasCoreOrWarn(char** argv, bool fix);

}  // namespace tartan::compute
