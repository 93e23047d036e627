// PackedSelfAttention (tiled, banded, AVX2 softmax) against a naive double-precision reference
// of Hugging Face eager attention with an additive float32-min mask.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/encoder/lib/blas/packed_matmul.h"
#include "services/encoder/lib/layers/attention.h"
#include "services/encoder/lib/layers/ops.h"
#include "services/encoder/lib/layers/rope.h"
#include "services/encoder/lib/layers/softmax.h"

namespace tartan::encoder {
namespace {

// ctx for one sequence/head, as transformers computes it: scores + (min where hidden), softmax.
// A row with every key hidden has all scores == min, so it averages all keys uniformly.
std::vector<double> Reference(const std::vector<float>& qkv, int begin, int len, int heads, int dim,
                              int half_window, const std::vector<uint8_t>& mask, int head) {
  const int hidden = heads * dim;
  const int ld = 3 * hidden;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
  std::vector<double> out(static_cast<size_t>(len) * dim, 0.0);
  for (int i = 0; i < len; ++i) {
    std::vector<double> s(len);
    bool any = false;
    for (int j = 0; j < len; ++j) {
      const bool visible = mask[begin + j] && (half_window < 0 || std::abs(i - j) <= half_window);
      any |= visible;
      double dot = 0;
      for (int d = 0; d < dim; ++d) {
        dot += static_cast<double>(qkv[(begin + i) * ld + head * dim + d]) *
               qkv[(begin + j) * ld + hidden + head * dim + d];
      }
      s[j] = visible ? dot * scale : -std::numeric_limits<double>::infinity();
    }
    double mx = -std::numeric_limits<double>::infinity(), sum = 0;
    if (!any) std::fill(s.begin(), s.end(), 0.0);  // uniform
    for (double v : s) mx = std::max(mx, v);
    for (double& v : s) sum += (v = std::exp(v - mx));
    for (int j = 0; j < len; ++j) {
      for (int d = 0; d < dim; ++d) {
        out[i * dim + d] += s[j] / sum * qkv[(begin + j) * ld + 2 * hidden + head * dim + d];
      }
    }
  }
  return out;
}

TEST(AttentionTest, MatchesNaiveReferenceGlobalAndLocal) {
  const int heads = 2, dim = 16, hidden = heads * dim;
  // Lengths cover: a single token, one partial tile, several local tiles, and a sequence long
  // enough for the large global tile (>= 1024) with a ragged last tile.
  const std::vector<int> lengths = {1, 70, 200, 1100};
  std::vector<int32_t> offsets = {0};
  for (int l : lengths) offsets.push_back(offsets.back() + l);
  const int total = offsets.back();
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.5f);
  std::vector<float> qkv(static_cast<size_t>(total) * 3 * hidden);
  for (float& v : qkv) v = nd(rng);
  std::vector<uint8_t> mask(total, 1);
  for (int t = 0; t < total; ++t) mask[t] = rng() % 3 != 0;
  // Sequence 2: only its first 10 keys are visible, so far rows of local layers are degenerate.
  for (int t = offsets[2] + 10; t < offsets[3]; ++t) mask[t] = 0;

  for (int half_window : {-1, 4, 64}) {
    for (int threads : {1, 2}) {
      AttentionParams p;
      p.num_heads = heads;
      p.head_dim = dim;
      p.half_window = half_window;
      p.scale = 1.0f / std::sqrt(static_cast<float>(dim));
      p.num_threads = threads;
      std::vector<float> ctx(static_cast<size_t>(total) * hidden, -7.0f);
      PackedSelfAttention(qkv.data(), offsets, mask.data(), p, ctx.data());
      double worst = 0;
      for (size_t b = 0; b < lengths.size(); ++b) {
        for (int h = 0; h < heads; ++h) {
          const auto ref = Reference(qkv, offsets[b], lengths[b], heads, dim, half_window, mask, h);
          for (int i = 0; i < lengths[b]; ++i) {
            for (int d = 0; d < dim; ++d) {
              worst = std::max(
                  worst, std::abs(ref[i * dim + d] - ctx[(offsets[b] + i) * hidden + h * dim + d]));
            }
          }
        }
      }
      EXPECT_LE(worst, 2e-5) << "half_window " << half_window << " threads " << threads;
    }
  }
}

// Sequences within one query tile (<= 64 tokens) run all heads in one batched product per
// side; longer ones one product per head and tile. Both against the reference in every product
// precision, and native bf16 against its emulation.
TEST(AttentionTest, BatchedHeadsMatchReferenceInEveryPrecision) {
  const std::vector<int> lengths = {1, 7, 32, 64, 65, 128};
  std::vector<AttentionProducts> modes = {AttentionProducts::kFloat32,
                                          AttentionProducts::kBFloat16Emulated};
  if (CpuHasNativeBf16()) modes.push_back(AttentionProducts::kBFloat16);
  for (int dim : {24, 64}) {
    const int heads = 3, hidden = heads * dim;
    std::vector<int32_t> offsets = {0};
    for (int l : lengths) offsets.push_back(offsets.back() + l);
    const int total = offsets.back();
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> qkv(static_cast<size_t>(total) * 3 * hidden);
    for (float& v : qkv) v = nd(rng);
    std::vector<uint8_t> mask(total, 1);
    for (int t = 0; t < total; ++t) mask[t] = rng() % 4 != 0;
    // Sequence 2 (32 tokens): only its first 3 keys are visible (degenerate local rows).
    for (int t = offsets[2] + 3; t < offsets[3]; ++t) mask[t] = 0;
    for (int half_window : {-1, 4, 64}) {
      for (int threads : {1, 2}) {
        std::vector<float> emulated;
        for (AttentionProducts mode : modes) {
          AttentionParams p;
          p.num_heads = heads;
          p.head_dim = dim;
          p.half_window = half_window;
          p.scale = 1.0f / std::sqrt(static_cast<float>(dim));
          p.num_threads = threads;
          p.products = mode;
          std::vector<float> ctx(static_cast<size_t>(total) * hidden, -7.0f);
          PackedSelfAttention(qkv.data(), offsets, mask.data(), p, ctx.data());
          double worst = 0;
          for (size_t b = 0; b < lengths.size(); ++b) {
            for (int h = 0; h < heads; ++h) {
              const auto ref =
                  Reference(qkv, offsets[b], lengths[b], heads, dim, half_window, mask, h);
              for (int i = 0; i < lengths[b]; ++i) {
                for (int d = 0; d < dim; ++d) {
                  worst = std::max(worst, std::abs(ref[i * dim + d] -
                                                   ctx[(offsets[b] + i) * hidden + h * dim + d]));
                }
              }
            }
          }
          const std::string what =
              "dim " + std::to_string(dim) + " mode " + std::to_string(static_cast<int>(mode)) +
              " half_window " + std::to_string(half_window) + " threads " + std::to_string(threads);
          // bf16 operands (8 significant bits) against the unrounded reference.
          EXPECT_LE(worst, mode == AttentionProducts::kFloat32 ? 2e-5 : 2e-2) << what;
          if (mode == AttentionProducts::kBFloat16Emulated) emulated = ctx;
          if (mode == AttentionProducts::kBFloat16) {
            // The same rounded operands; float32 sums in another order, so a probability may
            // round to the neighbouring bf16 value.
            double diff = 0;
            for (size_t i = 0; i < ctx.size(); ++i) {
              diff = std::max(diff, static_cast<double>(std::abs(ctx[i] - emulated[i])));
            }
            EXPECT_LE(diff, 2e-3) << what;
          }
        }
      }
    }
  }
}

TEST(AttentionTest, VectorSoftmaxMatchesScalar) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 8.0f);
  for (int n : {1, 7, 8, 9, 16, 17, 33, 180, 300}) {
    std::vector<float> row(n), mask(n);
    for (int j = 0; j < n; ++j) {
      row[j] = nd(rng);
      mask[j] = rng() % 4 != 0 ? 1.0f : 0.0f;
    }
    mask[0] = 1.0f;
    row[n - 1] = -120.0f;  // exp underflow region
    const int lo = n > 8 ? 2 : 0, hi = n > 8 ? n - 1 : n;
    if (lo < hi) mask[lo] = 1.0f;
    std::vector<float> a = row, b = row;
    const bool ra = MaskedSoftmaxRow(a.data(), n, lo, hi, mask.data());
    const bool rb = MaskedSoftmaxRowScalar(b.data(), n, lo, hi, mask.data());
    ASSERT_EQ(ra, rb);
    for (int j = 0; j < n; ++j) {
      EXPECT_NEAR(a[j], b[j], 1e-6f * std::max(1.0f, b[j])) << n << " " << j;
      if (j < lo || j >= hi || mask[j] == 0.0f) {
        EXPECT_EQ(a[j], 0.0f);
      }
    }
  }
  std::vector<float> row(16, 1.0f), none(16, 0.0f);
  EXPECT_FALSE(MaskedSoftmaxRow(row.data(), 16, 0, 16, none.data()));
  for (float v : row) EXPECT_EQ(v, 0.0f);
  std::cout << "softmax kernel: " << SoftmaxKernel() << "\n";
}

// The vectorised GELU (A&S erf, as PyTorch's vectorised CPU erf) against std::erf.
TEST(ActivationTest, GeluErfMatchesLibm) {
  std::vector<float> in;
  for (float x = -12.0f; x <= 12.0f; x += 0.01f) in.push_back(x);
  in.push_back(0.0f);
  in.push_back(-0.0f);
  in.push_back(1e-30f);
  const int64_t n = static_cast<int64_t>(in.size());
  std::vector<float> gated(2 * n), out(n), inplace = in;
  for (int64_t i = 0; i < n; ++i) {
    gated[i] = in[i];
    gated[n + i] = 1.5f;  // gate
  }
  GatedActivation(gated.data(), 1, static_cast<int>(n), Activation::kGeluErf, out.data());
  ActivateInPlace(inplace.data(), n, Activation::kGeluErf);
  for (int64_t i = 0; i < n; ++i) {
    const double x = in[i];
    const double want = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    EXPECT_NEAR(inplace[i], want, 2e-7 * std::max(1.0, std::abs(x))) << x;
    EXPECT_NEAR(out[i], 1.5 * want, 3e-7 * std::max(1.0, std::abs(x))) << x;
  }
}

// LayerNorm (vectorised where the CPU has AVX2) against a double-precision reference, with and
// without beta, dims on and off the 8-lane steps, in place and out of place.
TEST(LayerNormTest, MatchesDoubleReference) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.5f, 2.0f);
  for (int dim : {1, 7, 8, 64, 67, 768}) {
    const int rows = 5;
    std::vector<float> x(rows * dim), gamma(dim), beta(dim);
    for (float& v : x) v = nd(rng);
    for (float& v : gamma) v = nd(rng);
    for (float& v : beta) v = nd(rng);
    for (bool with_beta : {false, true}) {
      std::vector<float> out(x.size()), inplace = x;
      const float* b = with_beta ? beta.data() : nullptr;
      LayerNormRows(x.data(), rows, dim, gamma.data(), b, 1e-5f, out.data());
      LayerNormRows(inplace.data(), rows, dim, gamma.data(), b, 1e-5f, inplace.data());
      EXPECT_EQ(out, inplace);
      for (int r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int i = 0; i < dim; ++i) mean += x[r * dim + i];
        mean /= dim;
        for (int i = 0; i < dim; ++i) var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
        var /= dim;
        for (int i = 0; i < dim; ++i) {
          const double want = (x[r * dim + i] - mean) / std::sqrt(var + 1e-5) * gamma[i] +
                              (with_beta ? beta[i] : 0.0);
          ASSERT_NEAR(out[r * dim + i], want, 1e-5 * (1.0 + std::fabs(want)))
              << "dim " << dim << " row " << r << " at " << i;
        }
      }
    }
  }
}

// RoPE (vectorised where the CPU has AVX2) against the rotate-half formula in double, on the q
// and k blocks of a packed qkv matrix (v untouched), positions restarting per sequence.
TEST(RopeTest, RotatesQAndKLikeTheFormula) {
  const int heads = 3, head_dim = 20, hidden = heads * head_dim, half = head_dim / 2;
  const double theta = 10000.0;
  const std::vector<int32_t> offsets = {0, 5, 12};
  const int64_t ld = 3 * hidden;
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> qkv(offsets.back() * ld);
  for (float& v : qkv) v = nd(rng);
  std::vector<float> rotated = qkv;
  RopeTable(head_dim, theta, 16).ApplyToQK(rotated.data(), ld, heads, offsets);
  for (size_t b = 0; b + 1 < offsets.size(); ++b) {
    for (int32_t t = offsets[b]; t < offsets[b + 1]; ++t) {
      const int pos = t - offsets[b];
      for (int col = 0; col < 3 * hidden; ++col) {
        const float got = rotated[t * ld + col];
        if (col >= 2 * hidden) {
          ASSERT_EQ(got, qkv[t * ld + col]);  // v
          continue;
        }
        const int i = col % head_dim, pair = i < half ? i + half : i - half;
        const double angle = pos * std::pow(theta, -2.0 * (i % half) / head_dim);
        const double x = qkv[t * ld + col], y = qkv[t * ld + col - i + pair];
        const double want = i < half ? x * std::cos(angle) - y * std::sin(angle)
                                     : x * std::cos(angle) + y * std::sin(angle);
        ASSERT_NEAR(got, want, 2e-5) << "token " << t << " column " << col;
      }
    }
  }
}

}  // namespace
}  // namespace tartan::encoder
