// The oneDNN products against OpenBLAS references: packed float32 projections exactly (up to
// summation order), packed bf16 projections against the sgemm emulation with identical
// rounding, and the strided attention products in both types. On CPUs without native bf16
// (AVX512-BF16/AMX) only the clean failure of the bf16 Create is checked.
#include <cmath>
#include <iostream>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "services/encoder/lib/blas/bf16.h"
#include "services/encoder/lib/blas/gemm.h"
#include "services/encoder/lib/blas/packed_matmul.h"
#include "services/encoder/lib/blas/strided_matmul.h"

namespace tartan::encoder {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// The vectorised conversion (AVX512-BF16 where present) rounds exactly like the scalar one
// (normal numbers; the instruction flushes denormals to zero, which activations never need).
TEST(Bf16Test, VectorConversionMatchesScalarRounding) {
  std::mt19937 rng(4);
  std::vector<float> x = Random(1037, rng);
  for (float v : {0.0f, -0.0f, 1.0f, 1.00390625f, 1.005859375f, 3.0e38f, -2.5e-30f, 65504.0f}) {
    x.push_back(v);
  }
  std::vector<uint16_t> got(x.size());
  ToBf16(x.data(), x.size(), got.data());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], ToBf16(x[i])) << x[i];
}

// Row counts on, below and above the 16-row steps and the 256-row chunks.
constexpr int kRowCounts[] = {1, 15, 16, 17, 64, 255, 256, 257, 1000, 1300};

TEST(PackedMatmulTest, Float32MatchesSgemmForAnyRowCount) {
  const int out = 96, in = 80;
  std::mt19937 rng(1);
  const std::vector<float> w = Random(out * in, rng);
  auto packed = PackedMatmul::Create(w.data(), out, in, MatmulDataType::kFloat32);
  ASSERT_TRUE(packed.ok()) << packed.status();
  std::cout << "f32 backend: " << (*packed)->backend() << "\n";
  for (int rows : kRowCounts) {
    const std::vector<float> x = Random(static_cast<size_t>(rows) * in, rng);
    for (bool accumulate : {false, true}) {
      std::vector<float> a(static_cast<size_t>(rows) * out, 0.5f), b = a;
      (*packed)->Run(x.data(), rows, a.data(), accumulate, 2);
      Sgemm(false, true, rows, out, in, 1.0f, x.data(), in, w.data(), in, accumulate ? 1.0f : 0.0f,
            b.data(), out, 1);
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_NEAR(a[i], b[i], 1e-4f * (1.0f + std::abs(b[i])))
            << "rows " << rows << " accumulate " << accumulate << " at " << i;
      }
    }
  }
}

TEST(PackedMatmulTest, BFloat16MatchesEmulationForAnyRowCount) {
  const int out = 96, in = 80;
  std::mt19937 rng(2);
  const std::vector<float> w = Random(out * in, rng);
  auto native = PackedMatmul::Create(w.data(), out, in, MatmulDataType::kBFloat16);
  if (!CpuHasNativeBf16()) {
    // oneDNN 2.x has no bf16 matmul without AVX-512: an error, never a crash.
    if (!native.ok()) {
      EXPECT_NE(native.status().message().find("bf16"), std::string::npos) << native.status();
    }
    GTEST_SKIP() << "no native bf16 on this CPU; the backbone uses the emulation or float32";
  }
  ASSERT_TRUE(native.ok()) << native.status();
  std::cout << "bf16 backend: " << (*native)->backend() << "\n";
  auto emulated = PackedMatmul::CreateEmulatedBf16(w.data(), out, in);
  for (int rows : kRowCounts) {
    const std::vector<float> x = Random(static_cast<size_t>(rows) * in, rng);
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

// q k^T (trans_b, scaled) and p v read in place from a qkv-like buffer with a wide row stride.
TEST(StridedMatmulTest, AttentionProductsMatchSgemm) {
  const int64_t ld = 3 * 48;
  std::mt19937 rng(3);
  const std::vector<float> buf = Random(200 * ld, rng);
  std::vector<uint16_t> buf16(buf.size());
  ToBf16(buf.data(), buf.size(), buf16.data());
  std::vector<float> rounded(buf.size());
  for (size_t i = 0; i < buf.size(); ++i) rounded[i] = RoundToBf16(buf[i]);
  for (bool bf16 : {false, true}) {
    if (bf16 && !CpuHasNativeBf16()) continue;
    const MatmulDataType type = bf16 ? MatmulDataType::kBFloat16 : MatmulDataType::kFloat32;
    const float* ref = bf16 ? rounded.data() : buf.data();
    const auto op = [&](size_t offset) -> const void* {
      return bf16 ? static_cast<const void*>(buf16.data() + offset)
                  : static_cast<const void*>(buf.data() + offset);
    };
    for (int rows : {1, 7, 64}) {
      for (int keys : {1, 33, 150}) {
        const int hd = 16;
        // s[rows, keys] = 0.25 q k^T; q at column 0, k at column 48.
        std::vector<float> s(rows * keys), s_ref(rows * keys);
        StridedMatmul(type, true, rows, keys, hd, 0.25f, op(0), ld, op(48), ld, s.data(), keys, 1);
        Sgemm(false, true, rows, keys, hd, 0.25f, ref, ld, ref + 48, ld, 0.0f, s_ref.data(), keys,
              1);
        for (size_t i = 0; i < s.size(); ++i) {
          ASSERT_NEAR(s[i], s_ref[i], 1e-4f * (1.0f + std::abs(s_ref[i])))
              << "qk bf16 " << bf16 << " rows " << rows << " keys " << keys << " at " << i;
        }
        // out[rows, hd] (row stride 48) = p v; p = the rounded scores, v at column 96.
        std::vector<float> p(rows * keys);
        std::vector<uint16_t> p16(rows * keys);
        for (size_t i = 0; i < p.size(); ++i) p[i] = bf16 ? RoundToBf16(s_ref[i]) : s_ref[i];
        ToBf16(p.data(), p.size(), p16.data());
        std::vector<float> out(rows * 48, 7.0f), out_ref(rows * 48, 7.0f);
        StridedMatmul(type, false, rows, hd, keys, 1.0f,
                      bf16 ? static_cast<const void*>(p16.data()) : p.data(), keys, op(96), ld,
                      out.data(), 48, 1);
        Sgemm(false, false, rows, hd, keys, 1.0f, p.data(), keys, ref + 96, ld, 0.0f,
              out_ref.data(), 48, 1);
        for (size_t i = 0; i < out.size(); ++i) {
          ASSERT_NEAR(out[i], out_ref[i], 1e-3f * (1.0f + std::abs(out_ref[i])))
              << "pv bf16 " << bf16 << " rows " << rows << " keys " << keys << " at " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace tartan::encoder
