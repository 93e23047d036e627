#include "services/encoder/lib/blas/kernel_info.h"

#include <oneapi/dnnl/dnnl.h>

#include <cstdlib>
#include <iterator>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/blas/packed_matmul.h"
#include "services/encoder/lib/blas/strided_matmul.h"

namespace tartan::encoder {

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

}  // namespace tartan::encoder
