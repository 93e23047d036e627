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

#include "colbert_test_util.h"
#include "gtest/gtest.h"
#include "services/encoder/lib/blas/bf16_matmul.h"
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
  EXPECT_EQ(info.onednn_isa.empty(), info.precision == Precision::kFloat32);
  EXPECT_EQ(info.blas_core, BlasCoreName());
  EXPECT_FALSE(info.blas_core_verdict.empty());

  options.precision = Precision::kFloat32;
  auto fp32 = ColbertEncoder::Load(shared + "/golden/models/bert-colbert-tiny", options);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ((*fp32)->info().precision, Precision::kFloat32);
  EXPECT_EQ(PrecisionName((*fp32)->info().requested_precision), "fp32");
}

}  // namespace
}  // namespace tartan::encoder
