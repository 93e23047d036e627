#include "services/encoder/lib/blas/kernel_info.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdlib>
#include <iterator>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/compute/cpu_features.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/blas/packed_matmul.h"
#include "services/encoder/lib/blas/strided_matmul.h"

namespace tartan::encoder {

CpuIsa DetectCpuIsa() {
  CpuIsa isa;
  isa.avx2 = compute::HasAvx2();
  isa.avx512 = compute::HasAvx512f() && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  isa.avx512_bf16 = isa.avx512 && compute::HasAvx512Bf16();
  isa.amx = compute::HasAmxBf16();
  return isa;
}

namespace {

// oneDNN 2.6's CPU ISA ladder, weakest first (the mic variants are Xeon Phi only).
constexpr std::string_view kOneDnnIsaLadder[] = {"sse41",
                                                 "avx",
                                                 "avx2",
                                                 "avx2_vnni",
                                                 "avx512_core",
                                                 "avx512_core_vnni",
                                                 "avx512_core_bf16",
                                                 "avx512_core_amx"};

int IsaRank(std::string_view isa) {
  for (size_t i = 0; i < std::size(kOneDnnIsaLadder); ++i) {
    if (kOneDnnIsaLadder[i] == isa) return static_cast<int>(i);
  }
  return isa == "all" ? static_cast<int>(std::size(kOneDnnIsaLadder)) : -1;
}

}  // namespace

std::string ExpectedOneDnnIsa(const CpuIsa& cpu) {
  if (cpu.amx) return "avx512_core_amx";
  if (cpu.avx512_bf16) return "avx512_core_bf16";
  if (cpu.avx512) return "avx512_core";
  if (cpu.avx2) return "avx2";
  return "";
}

MatmulVerdict JudgeOneDnn(std::string_view isa, std::string_view impl, const CpuIsa& cpu) {
  if (impl.substr(0, 3) == "ref") return MatmulVerdict::kFallback;
  const std::string expected = ExpectedOneDnnIsa(cpu);
  if (!expected.empty() && IsaRank(isa) < IsaRank(expected)) return MatmulVerdict::kFallback;
  return MatmulVerdict::kOk;
}

MatmulReport InspectMatmulKernels(Precision precision) {
  MatmulReport r;
  r.isa = OneDnnIsaName();
  if (precision == Precision::kAuto) {
    precision = CpuHasNativeBf16() ? Precision::kBFloat16 : Precision::kFloat32;
  }
  const bool bf16_attention =
      precision == Precision::kBFloat16 || (precision == Precision::kInt8 && CpuHasNativeBf16());
  const MatmulDataType attention_type =
      bf16_attention ? MatmulDataType::kBFloat16 : MatmulDataType::kFloat32;
  std::vector<float> w(64 * 64, 0.01f);
  auto packed =
      precision == Precision::kInt8
          ? CreateInt8Matmul(w.data(), 64, 64, Int8ActivationLevels())
          : PackedMatmul::Create(w.data(), 64, 64,
                                 precision == Precision::kBFloat16 ? MatmulDataType::kBFloat16
                                                                   : MatmulDataType::kFloat32);
  r.projection = packed.ok() ? (*packed)->backend() : "unavailable";
  r.attention = StridedMatmulImpl(attention_type);
  const std::string projection_impl =
      absl::StartsWith(r.projection, "onednn:") ? r.projection.substr(7) : "ref";
  const CpuIsa cpu = DetectCpuIsa();
  r.verdict = JudgeOneDnn(r.isa, projection_impl, cpu) == MatmulVerdict::kOk
                  ? JudgeOneDnn(r.isa, r.attention, cpu)
                  : MatmulVerdict::kFallback;
  if (r.verdict == MatmulVerdict::kFallback) {
    const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
    r.warning = absl::StrCat(
        "oneDNN runs ", r.isa, " kernels (projections ", r.projection, ", attention ", r.attention,
        ") on a CPU that supports ", ExpectedOneDnnIsa(cpu),
        cap != nullptr ? "; ONEDNN_MAX_CPU_ISA is " : "", cap != nullptr ? cap : "",
        cap != nullptr ? " (unset it)" : "; the products run slower than this CPU allows");
  }
  return r;
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
