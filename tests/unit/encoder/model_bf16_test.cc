// The oneDNN bf16 matmul against the sgemm emulation with identical rounding. On CPUs without
// native bf16 (AVX512-BF16/AMX) only the clean failure of Create is checked.
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "services/encoder/lib/blas/bf16_matmul.h"

namespace tartan::encoder {
namespace {

TEST(Bf16MatmulTest, OneDnnMatchesEmulationForAnyRowCount) {
  const int out = 96, in = 80;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(out * in);
  for (float& v : w) v = nd(rng);
  auto native = Bf16Matmul::Create(w.data(), out, in);
  if (!CpuHasNativeBf16()) {
    // oneDNN 2.x has no bf16 matmul without AVX-512: an error, never a crash.
    if (!native.ok()) {
      EXPECT_NE(native.status().message().find("bf16"), std::string::npos) << native.status();
    }
    GTEST_SKIP() << "no native bf16 on this CPU; the backbone uses the emulation or float32";
  }
  ASSERT_TRUE(native.ok()) << native.status();
  std::cout << "bf16 backend: " << (*native)->backend() << "\n";
  auto emulated = Bf16Matmul::CreateEmulated(w.data(), out, in);
  // Row counts on, below and above the padding buckets.
  for (int rows : {1, 15, 16, 17, 64, 65, 1000, 1025, 1300}) {
    std::vector<float> x(static_cast<size_t>(rows) * in);
    for (float& v : x) v = nd(rng);
    for (bool accumulate : {false, true}) {
      std::vector<float> a(static_cast<size_t>(rows) * out, 0.5f), b = a;
      (*native)->Run(x.data(), rows, a.data(), accumulate, 2);
      emulated->Run(x.data(), rows, b.data(), accumulate, 1);
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_NEAR(a[i], b[i], 1e-3f * (1.0f + std::abs(b[i])))
            << "rows " << rows << " accumulate " << accumulate << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace tartan::encoder
