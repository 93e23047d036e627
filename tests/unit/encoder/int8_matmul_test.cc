// The dynamic int8 products (services/encoder/lib/blas/int8_matmul.h): the per-row activation
// quantiser against a scalar reference and its error bound; the packed oneDNN product against
// an exact integer reference built from the same quantisation (any row count, = and +=, 8- and
// 7-bit activations); and against the float product within the quantisation error bound.
#include "services/encoder/lib/blas/int8_matmul.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tartan::encoder {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float mean = 0.0f) {
  std::normal_distribution<float> nd(mean, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// The quantiser's contract, written out scalar.
RowQuantization Reference(const std::vector<float>& x, int levels, std::vector<uint8_t>* q) {
  float lo = 0.0f, hi = 0.0f;
  for (float v : x) lo = std::min(lo, v), hi = std::max(hi, v);
  RowQuantization r;
  if (hi > lo) {
    r.scale = (hi - lo) / static_cast<float>(levels);
    r.zero_point = std::clamp(static_cast<int32_t>(std::nearbyint(-lo / r.scale)), 0, levels);
  }
  q->resize(x.size());
  const float inv = 1.0f / r.scale;
  for (size_t i = 0; i < x.size(); ++i) {
    const int32_t v = static_cast<int32_t>(std::nearbyint(x[i] * inv)) + r.zero_point;
    (*q)[i] = static_cast<uint8_t>(std::clamp(v, 0, levels));
  }
  return r;
}

TEST(Int8QuantizeTest, RowsMatchReferenceWithinHalfAStep) {
  EXPECT_EQ(Int8ActivationLevels(), CpuHasInt8Dot() ? 255 : 127);
  std::mt19937 rng(7);
  for (int levels : {255, 127}) {
    for (int n : {1, 15, 16, 17, 80, 768, 1001}) {
      // Centred, all-positive (zero point 0) and all-negative (zero point = levels) rows.
      for (float mean : {0.0f, 6.0f, -6.0f}) {
        SCOPED_TRACE(testing::Message() << "levels " << levels << " n " << n << " mean " << mean);
        const std::vector<float> x = Random(n, rng, mean);
        std::vector<uint8_t> want, got(n);
        const RowQuantization r = Reference(x, levels, &want);
        const RowQuantization g = QuantizeRowU8(x.data(), n, levels, got.data());
        ASSERT_EQ(g.scale, r.scale);
        ASSERT_EQ(g.zero_point, r.zero_point);
        ASSERT_EQ(got, want);
        if (mean > 0 && n > 1) {
          EXPECT_EQ(g.zero_point, 0);
        }
        if (mean < 0 && n > 1) {
          EXPECT_EQ(g.zero_point, levels);
        }
        for (int i = 0; i < n; ++i) {
          ASSERT_LE(got[i], levels);
          const float back = g.scale * static_cast<float>(got[i] - g.zero_point);
          ASSERT_LE(std::fabs(back - x[i]), 0.5f * g.scale * 1.0001f) << i;
        }
      }
    }
  }
  std::vector<float> zeros(33, 0.0f);
  std::vector<uint8_t> q(33, 9);
  const RowQuantization z = QuantizeRowU8(zeros.data(), 33, 255, q.data());
  EXPECT_EQ(z.scale, 1.0f);
  EXPECT_EQ(z.zero_point, 0);
  EXPECT_EQ(q, std::vector<uint8_t>(33, 0));
}

// Row counts on, below and above the 16-row steps and the 256-row chunks.
constexpr int kRowCounts[] = {1, 15, 16, 17, 64, 255, 256, 257, 1000};

// Symmetric per-output-channel weights, as the product quantises them at load.
void QuantizeWeights(const std::vector<float>& w, int out, int in, std::vector<int8_t>* q,
                     std::vector<float>* scale) {
  q->resize(w.size());
  scale->resize(out);
  for (int n = 0; n < out; ++n) {
    float amax = 0.0f;
    for (int k = 0; k < in; ++k) amax = std::max(amax, std::fabs(w[n * in + k]));
    (*scale)[n] = amax > 0.0f ? amax / 127.0f : 1.0f;
    const float inv = 1.0f / (*scale)[n];
    for (int k = 0; k < in; ++k) {
      (*q)[n * in + k] =
          static_cast<int8_t>(std::clamp(std::nearbyint(w[n * in + k] * inv), -127.0f, 127.0f));
    }
  }
}

TEST(Int8MatmulTest, MatchesIntegerReferenceForAnyRowCount) {
  const int out = 96, in = 80;
  std::mt19937 rng(3);
  std::vector<float> w = Random(out * in, rng);
  std::fill(w.begin(), w.begin() + in, 0.0f);  // an all-zero output channel
  std::vector<int8_t> wq;
  std::vector<float> ws;
  QuantizeWeights(w, out, in, &wq, &ws);
  for (int levels : {255, 127}) {
    auto mm = CreateInt8Matmul(w.data(), out, in, levels);
    ASSERT_TRUE(mm.ok()) << mm.status();
    if (levels == 255) std::cout << "int8 backend: " << (*mm)->backend() << "\n";
    EXPECT_EQ((*mm)->backend().rfind("onednn:", 0), 0u) << (*mm)->backend();
    for (int rows : kRowCounts) {
      const std::vector<float> x = Random(static_cast<size_t>(rows) * in, rng, 0.3f);
      for (bool accumulate : {false, true}) {
        SCOPED_TRACE(testing::Message()
                     << "levels " << levels << " rows " << rows << " accumulate " << accumulate);
        std::vector<float> y(static_cast<size_t>(rows) * out, 0.5f);
        (*mm)->Run(x.data(), rows, y.data(), accumulate, 2);
        for (int r = 0; r < rows; ++r) {
          std::vector<float> row(x.begin() + r * in, x.begin() + (r + 1) * in);
          std::vector<uint8_t> xq;
          const RowQuantization rq = Reference(row, levels, &xq);
          for (int n = 0; n < out; ++n) {
            int64_t acc = 0;
            for (int k = 0; k < in; ++k) {
              acc += static_cast<int64_t>(xq[k] - rq.zero_point) * wq[n * in + k];
            }
            const double want = static_cast<double>(rq.scale) * ws[n] * static_cast<double>(acc) +
                                (accumulate ? 0.5 : 0.0);
            ASSERT_NEAR(y[r * out + n], want, 1e-5 * (1.0 + std::fabs(want))) << r << "," << n;
          }
        }
      }
    }
  }
}

// Against the float product: every element within the worst case of the two roundings,
//   |y - x.w| <= sum_k (|x_k| sw/2 + |w_k| sa/2 + sa sw / 4),
// and the whole product within 1.5 % (8-bit) / 2.5 % (7-bit) relative Frobenius error on
// Gaussian data of a ModernBERT-base projection width (measured: 1.03 % / 1.60 %; the weights'
// step, max |w| / 127 with Gaussian outliers at ~3.2 sigma, dominates).
TEST(Int8MatmulTest, StaysWithinQuantisationErrorOfFloatProduct) {
  const int out = 192, in = 768, rows = 40;
  std::mt19937 rng(5);
  const std::vector<float> w = Random(out * in, rng);
  const std::vector<float> x = Random(static_cast<size_t>(rows) * in, rng, 0.2f);
  std::vector<int8_t> wq;
  std::vector<float> ws;
  QuantizeWeights(w, out, in, &wq, &ws);
  for (int levels : {255, 127}) {
    auto mm = CreateInt8Matmul(w.data(), out, in, levels);
    ASSERT_TRUE(mm.ok()) << mm.status();
    std::vector<float> y(static_cast<size_t>(rows) * out);
    (*mm)->Run(x.data(), rows, y.data(), false, 1);
    double err2 = 0, ref2 = 0;
    for (int r = 0; r < rows; ++r) {
      std::vector<float> row(x.begin() + r * in, x.begin() + (r + 1) * in);
      std::vector<uint8_t> unused;
      const double sa = Reference(row, levels, &unused).scale;
      for (int n = 0; n < out; ++n) {
        double ref = 0, bound = 0;
        for (int k = 0; k < in; ++k) {
          ref += static_cast<double>(row[k]) * w[n * in + k];
          bound +=
              std::fabs(row[k]) * ws[n] / 2 + std::fabs(w[n * in + k]) * sa / 2 + sa * ws[n] / 4;
        }
        const double got = y[r * out + n];
        ASSERT_LE(std::fabs(got - ref), bound * 1.001 + 1e-4) << r << "," << n;
        err2 += (got - ref) * (got - ref);
        ref2 += ref * ref;
      }
    }
    const double rel = std::sqrt(err2 / ref2);
    std::cout << "levels " << levels << ": relative Frobenius error vs float " << rel << "\n";
    EXPECT_LT(rel, levels == 255 ? 0.015 : 0.025);
  }
}

// Concurrent callers (concurrent Encode calls share the packed weights and the per-row-count
// primitives, created on first use under a lock) get what one caller gets.
TEST(Int8MatmulTest, ConcurrentCallersAgreeWithOneCaller) {
  const int out = 64, in = 48;
  std::mt19937 rng(8);
  const std::vector<float> w = Random(out * in, rng);
  auto mm = CreateInt8Matmul(w.data(), out, in, 255);
  ASSERT_TRUE(mm.ok()) << mm.status();
  const std::vector<int> rows = {3, 40, 300, 17};  // distinct tails: primitives built concurrently
  std::vector<std::vector<float>> x, want(rows.size()), got(rows.size());
  for (int r : rows) x.push_back(Random(static_cast<size_t>(r) * in, rng));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < rows.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 3; ++rep) {
        got[i].assign(static_cast<size_t>(rows[i]) * out, 0.0f);
        (*mm)->Run(x[i].data(), rows[i], got[i].data(), false, 1);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < rows.size(); ++i) {
    want[i].assign(static_cast<size_t>(rows[i]) * out, 0.0f);
    (*mm)->Run(x[i].data(), rows[i], want[i].data(), false, 1);
    EXPECT_EQ(got[i], want[i]) << "rows " << rows[i];
  }
}

TEST(Int8MatmulTest, RejectsUnsupportedActivationLevels) {
  std::vector<float> w(16, 1.0f);
  auto mm = CreateInt8Matmul(w.data(), 4, 4, 100);
  EXPECT_EQ(mm.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tartan::encoder
