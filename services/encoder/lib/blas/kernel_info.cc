#include "services/encoder/lib/blas/kernel_info.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/compute/cpu_features.h"

namespace tartan::encoder {

CpuIsa DetectCpuIsa() {
  CpuIsa isa;
  isa.avx2 = compute::HasAvx2();
  isa.avx512 = compute::HasAvx512f() && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
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

std::string OneDnnIsaName() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_all:
      return "all";
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
      return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    default:
      break;
  }
  return "unknown";
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

}  // namespace tartan::encoder
