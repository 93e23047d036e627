#include "common/compute/blas_core.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/compute/cpu_features.h"
#include "common/logging.h"

namespace tartan::compute {

CpuIsa DetectCpuIsa() {
  CpuIsa isa;
  isa.avx2 = HasAvx2();
  isa.avx512 = HasAvx512f() && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  isa.avx512_bf16 = isa.avx512 && HasAvx512Bf16();
  isa.amx = HasAmxBf16();
  return isa;
}

BlasCoreVerdict JudgeBlasCore(std::string_view corename, const CpuIsa& cpu) {
  const std::string core = absl::AsciiStrToLower(std::string(corename));
  // OpenBLAS x86-64 core families by the widest ISA of their sgemm kernels.
  const bool avx512_core = core == "skylakex" || core == "cooperlake" || core == "sapphirerapids";
  const bool avx2_core = avx512_core || core == "haswell" || core == "zen" || core == "excavator";
  if (cpu.avx2 && !avx2_core) return BlasCoreVerdict::kFallback;
  if (cpu.avx512 && !avx512_core) return BlasCoreVerdict::kBelowCpu;
  return BlasCoreVerdict::kOk;
}

std::string_view BlasCoreVerdictName(BlasCoreVerdict verdict) {
  switch (verdict) {
    case BlasCoreVerdict::kOk:
      return "ok";
    case BlasCoreVerdict::kFallback:
      return "fallback";
    case BlasCoreVerdict::kBelowCpu:
      return "below_cpu";
  }
  return "?";
}

std::string RecommendedBlasCoreType(const CpuIsa& cpu) {
  if (cpu.avx512) return "SkylakeX";
  if (cpu.avx2) return "Haswell";
  return "";
}

std::string BlasCoreName() {
  const char* name = openblas_get_corename();
  return name != nullptr ? std::string(name) : std::string("unknown");
}

KernelReport InspectBlasKernels() {
  KernelReport r;
  const CpuIsa cpu = DetectCpuIsa();
  r.blas_core = BlasCoreName();
  r.verdict = JudgeBlasCore(r.blas_core, cpu);
  if (r.verdict == BlasCoreVerdict::kOk) return r;
  r.recommended_coretype = RecommendedBlasCoreType(cpu);
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  r.warning = absl::StrCat(
      "OpenBLAS runs its ", r.blas_core, " kernels on a CPU with ", cpu.avx512 ? "AVX-512" : "AVX2",
      r.verdict == BlasCoreVerdict::kFallback ? " (a fallback: float32 GEMMs several times slower)"
                                              : " (slower than this CPU allows)",
      forced != nullptr ? absl::StrCat("; OPENBLAS_CORETYPE is ", forced) : std::string(),
      "; fix: start the process with OPENBLAS_CORETYPE=", r.recommended_coretype);
  return r;
}

void FixBlasCoreOrWarn(char** argv, bool fix) {
  const KernelReport report = InspectBlasKernels();
  if (report.verdict == BlasCoreVerdict::kOk) {
    LOG_INFO << "OpenBLAS kernels: " << report.blas_core;
    return;
  }
  if (fix && std::getenv("OPENBLAS_CORETYPE") == nullptr && !report.recommended_coretype.empty()) {
    LOG_WARNING << "OpenBLAS picked its " << report.blas_core
                << " kernels, below this CPU; re-executing with OPENBLAS_CORETYPE="
                << report.recommended_coretype;
    setenv("OPENBLAS_CORETYPE", report.recommended_coretype.c_str(), 1);
    execv("/proc/self/exe", argv);
    LOG_WARNING << "re-exec failed; continuing with the slow kernels";
  }
  LOG_WARNING << report.warning;
}

}  // namespace tartan::compute
