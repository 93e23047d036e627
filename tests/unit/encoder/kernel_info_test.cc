// The kernel detector (services/encoder/lib/blas/kernel_info.h): its verdict on fake OpenBLAS
// core names, its verdict on this machine (fails when OpenBLAS runs kernels below this CPU and
// OPENBLAS_CORETYPE, the fix tartan-encoder applies at start-up, does not cure it), and what
// ColbertEncoder reports with --precision auto.
#include "services/encoder/lib/blas/kernel_info.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "colbert_test_util.h"
#include "gtest/gtest.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/blas/packed_matmul.h"
#include "services/encoder/lib/blas/strided_matmul.h"
#include "services/encoder/lib/colbert/colbert_encoder.h"

namespace tartan::encoder {
namespace {

constexpr CpuIsa kSse{false, false};
constexpr CpuIsa kAvx2{true, false};
constexpr CpuIsa kAvx512{true, true};

TEST(KernelInfoTest, FallbackCoresOnAvx2AreCaught) {
  for (const char* core :
       {"Prescott", "Core2", "Penryn", "Nehalem", "Dunnington", "Atom", "Sandybridge", "Barcelona",
        "Bulldozer", "Piledriver", "Opteron(SSE3)", "generic", "Unknown", ""}) {
    EXPECT_EQ(JudgeBlasCore(core, kAvx2), BlasCoreVerdict::kFallback) << core;
    EXPECT_EQ(JudgeBlasCore(core, kAvx512), BlasCoreVerdict::kFallback) << core;
    EXPECT_EQ(JudgeBlasCore(core, kSse), BlasCoreVerdict::kOk) << core;  // nothing better
  }
}

TEST(KernelInfoTest, MatchingCoresAreOk) {
  for (const char* core : {"Haswell", "Zen", "Excavator", "HASWELL", "zen"}) {
    EXPECT_EQ(JudgeBlasCore(core, kAvx2), BlasCoreVerdict::kOk) << core;
    EXPECT_EQ(JudgeBlasCore(core, kAvx512), BlasCoreVerdict::kBelowCpu) << core;
  }
  for (const char* core : {"SkylakeX", "Cooperlake", "SapphireRapids"}) {
    EXPECT_EQ(JudgeBlasCore(core, kAvx512), BlasCoreVerdict::kOk) << core;
    EXPECT_EQ(JudgeBlasCore(core, kAvx2), BlasCoreVerdict::kOk) << core;
  }
}

TEST(KernelInfoTest, RecommendationFollowsTheIsa) {
  EXPECT_EQ(RecommendedBlasCoreType(kAvx512), "SkylakeX");
  EXPECT_EQ(RecommendedBlasCoreType(kAvx2), "Haswell");
  EXPECT_EQ(RecommendedBlasCoreType(kSse), "");
  EXPECT_EQ(BlasCoreVerdictName(BlasCoreVerdict::kFallback), "fallback");
}

// On this machine: OpenBLAS's kernels match the CPU, or the fix tartan-encoder applies
// (re-execution with OPENBLAS_CORETYPE set) makes them match. Fails when the encoder would run
// a fallback kernel on a CPU that supports better.
TEST(KernelInfoTest, ThisCpuRunsMatchingBlasKernels) {
  const CpuIsa cpu = DetectCpuIsa();
  const KernelReport report = InspectBlasKernels();
  std::cout << "OpenBLAS core " << report.blas_core << " (AVX2 " << cpu.avx2 << ", AVX-512 "
            << cpu.avx512 << "), verdict " << BlasCoreVerdictName(report.verdict) << ", oneDNN ISA "
            << OneDnnIsaName() << "\n";
  EXPECT_EQ(report.verdict == BlasCoreVerdict::kOk, report.warning.empty());
  if (report.verdict == BlasCoreVerdict::kOk) return;
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) {
    // An explicit choice is honoured (tartan-encoder only warns): AVX2 kernels on an AVX-512
    // CPU are the user's call, a pre-AVX2 fallback is not.
    EXPECT_NE(report.verdict, BlasCoreVerdict::kFallback) << report.warning;
    std::cout << "warning: " << report.warning << "\n";
    return;
  }
  ASSERT_FALSE(report.recommended_coretype.empty());
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("OPENBLAS_CORETYPE", report.recommended_coretype.c_str(), 1);
    char arg0[] = "encoder_kernel_info_test";
    char filter[] = "--gtest_filter=KernelInfoTest.ThisCpuRunsMatchingBlasKernels";
    char* args[] = {arg0, filter, nullptr};
    execv("/proc/self/exe", args);
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << report.warning << "; and OPENBLAS_CORETYPE=" << report.recommended_coretype
      << " did not fix it";
}

TEST(KernelInfoTest, OneDnnFallbacksAreCaught) {
  CpuIsa avx2;
  avx2.avx2 = true;
  CpuIsa avx512 = avx2;
  avx512.avx512 = true;
  CpuIsa bf16 = avx512;
  bf16.avx512_bf16 = true;
  CpuIsa amx = bf16;
  amx.amx = true;
  EXPECT_EQ(JudgeOneDnn("avx2", "brg:avx2", avx2), MatmulVerdict::kOk);
  EXPECT_EQ(JudgeOneDnn("avx2", "ref:any", avx2), MatmulVerdict::kFallback);
  EXPECT_EQ(JudgeOneDnn("sse41", "gemm:jit", avx2), MatmulVerdict::kFallback);
  EXPECT_EQ(JudgeOneDnn("avx2", "gemm:jit", avx512), MatmulVerdict::kFallback);
  EXPECT_EQ(JudgeOneDnn("avx512_core", "brg:avx512_core", avx512), MatmulVerdict::kOk);
  EXPECT_EQ(JudgeOneDnn("avx512_core", "brg:avx512_core", bf16), MatmulVerdict::kFallback);
  EXPECT_EQ(JudgeOneDnn("avx512_core_bf16", "brg:avx512_core_bf16", bf16), MatmulVerdict::kOk);
  EXPECT_EQ(JudgeOneDnn("avx512_core_bf16", "brg:avx512_core_bf16", amx), MatmulVerdict::kFallback);
  EXPECT_EQ(JudgeOneDnn("avx512_core_amx", "brg:avx512_core_amx", amx), MatmulVerdict::kOk);
  EXPECT_EQ(ExpectedOneDnnIsa(CpuIsa()), "");
}

// The dispatch on this machine: oneDNN must run the best ISA the CPU has and no reference
// kernel, in float32, int8 and (where native) bf16. Fails when the encoder would silently run a
// fallback kernel on a CPU that supports better (e.g. ONEDNN_MAX_CPU_ISA capping it).
TEST(KernelInfoTest, ThisCpuRunsMatchingOneDnnKernels) {
  const CpuIsa cpu = DetectCpuIsa();
  for (Precision p : {Precision::kFloat32, Precision::kBFloat16, Precision::kInt8}) {
    if (p == Precision::kBFloat16 && !CpuHasNativeBf16()) continue;
    const MatmulReport r = InspectMatmulKernels(p);
    std::cout << PrecisionName(p) << ": oneDNN ISA " << r.isa << " (expected at least "
              << ExpectedOneDnnIsa(cpu) << "), projections " << r.projection << ", attention "
              << r.attention << "\n";
    EXPECT_EQ(r.verdict, MatmulVerdict::kOk) << r.warning;
    EXPECT_EQ(r.verdict == MatmulVerdict::kOk, r.warning.empty());
    EXPECT_TRUE(absl::StartsWith(r.projection, "onednn:")) << r.projection;
    // brgemm where the CPU has AVX-512 (the packed layout is what makes projections fast).
    if (cpu.avx512) {
      EXPECT_NE(r.projection.find("brg:avx512_core"), std::string::npos);
    }
    // int8 on a CPU with VNNI must use it (else 7-bit activations and int16 pair sums).
    if (p == Precision::kInt8 && CpuHasInt8Dot() && cpu.avx512) {
      EXPECT_NE(r.projection.find("vnni"), std::string::npos) << r.projection;
    }
  }
}

TEST(KernelInfoTest, AutoPrecisionPicksNativeBf16OnlyAndIsReported) {
  EXPECT_EQ(*ParsePrecision("auto"), Precision::kAuto);
  EXPECT_EQ(*ParsePrecision("AUTO"), Precision::kAuto);
  const std::string shared = testing::SharedDirOrEmpty();
  if (shared.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR not available";
  EncoderOptions options;
  options.precision = Precision::kAuto;
  auto enc = ColbertEncoder::Load(shared + "/golden/models/bert-colbert-tiny", options);
  ASSERT_TRUE(enc.ok()) << enc.status();
  const ModelInfo& info = (*enc)->info();
  EXPECT_EQ(info.requested_precision, Precision::kAuto);
  EXPECT_EQ(info.precision, CpuHasNativeBf16() ? Precision::kBFloat16 : Precision::kFloat32);
  EXPECT_EQ(info.onednn_isa, OneDnnIsaName());
  EXPECT_EQ(info.matmul_verdict, "ok") << info.kernel_warning;
  EXPECT_TRUE(absl::StartsWith(info.matmul_impl, "onednn:")) << info.matmul_impl;
  EXPECT_EQ(info.blas_core, BlasCoreName());
  EXPECT_FALSE(info.blas_core_verdict.empty());

  options.precision = Precision::kFloat32;
  auto fp32 = ColbertEncoder::Load(shared + "/golden/models/bert-colbert-tiny", options);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ((*fp32)->info().precision, Precision::kFloat32);
  EXPECT_EQ(PrecisionName((*fp32)->info().requested_precision), "fp32");
}

// int8 is opt-in: asked for, it runs (never a silent fallback) and says what runs: int8
// projections on oneDNN, attention products bf16 where native, else f32.
TEST(KernelInfoTest, Int8IsReportedWithItsKernels) {
  EXPECT_EQ(*ParsePrecision("INT8"), Precision::kInt8);
  const std::string shared = testing::SharedDirOrEmpty();
  if (shared.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR not available";
  EncoderOptions options;
  options.precision = Precision::kInt8;
  auto enc = ColbertEncoder::Load(shared + "/golden/models/bert-colbert-tiny", options);
  ASSERT_TRUE(enc.ok()) << enc.status();
  const ModelInfo& info = (*enc)->info();
  EXPECT_EQ(PrecisionName(info.precision), "int8");
  EXPECT_EQ(info.requested_precision, Precision::kInt8);
  EXPECT_EQ(info.matmul_impl, InspectMatmulKernels(Precision::kInt8).projection);
  EXPECT_TRUE(absl::StartsWith(info.matmul_impl, "onednn:")) << info.matmul_impl;
  EXPECT_EQ(info.attention_impl, StridedMatmulImpl(CpuHasNativeBf16() ? MatmulDataType::kBFloat16
                                                                      : MatmulDataType::kFloat32));
  EXPECT_EQ(info.matmul_verdict, "ok") << info.kernel_warning;
  std::cout << "int8: projections " << info.matmul_impl << ", attention " << info.attention_impl
            << ", activation levels " << Int8ActivationLevels() << "\n";
}

}  // namespace
}  // namespace tartan::encoder
