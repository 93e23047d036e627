// common/compute/maxsim: every SIMD variant against the scalar reference, and the scalar
// reference against a naive double-precision loop.
#include "common/compute/maxsim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "common/compute/cpu_features.h"

namespace tartan::compute {
namespace {

// Unit-norm random vectors [n, dim].
std::vector<float> RandomUnit(int n, int dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(size_t(n) * dim);
  for (int i = 0; i < n; ++i) {
    float* row = v.data() + size_t(i) * dim;
    double s = 0;
    for (int k = 0; k < dim; ++k) {
      row[k] = g(rng);
      s += double(row[k]) * row[k];
    }
    for (int k = 0; k < dim; ++k) row[k] /= float(std::sqrt(s));
  }
  return v;
}

// Naive triple loop, double accumulation.
double NaiveMaxSim(const float* q, int nq, const float* d, int nd, int dim) {
  if (nd == 0) return 0;
  double total = 0;
  for (int i = 0; i < nq; ++i) {
    double best = -std::numeric_limits<double>::infinity();
    for (int j = 0; j < nd; ++j) {
      double s = 0;
      for (int k = 0; k < dim; ++k) s += double(q[size_t(i) * dim + k]) * d[size_t(j) * dim + k];
      best = std::max(best, s);
    }
    total += best;
  }
  return total;
}

TEST(MaxSimTest, ScalarMatchesNaive) {
  for (int dim : {8, 96, 128}) {
    auto q = RandomUnit(7, dim, 1), d = RandomUnit(13, dim, 2);
    EXPECT_NEAR(MaxSimScalar(q.data(), 7, d.data(), 13, dim),
                NaiveMaxSim(q.data(), 7, d.data(), 13, dim), 1e-4);
  }
}

TEST(MaxSimTest, Avx2MatchesScalarIncludingTails) {
  if (!HasAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  for (int dim : {8, 13, 64, 96, 128, 130}) {
    for (int nd : {0, 1, 3, 4, 5, 31}) {
      auto q = RandomUnit(5, dim, dim), d = RandomUnit(std::max(nd, 1), dim, nd + 100);
      EXPECT_NEAR(MaxSimAvx2(q.data(), 5, d.data(), nd, dim),
                  MaxSimScalar(q.data(), 5, d.data(), nd, dim), 1e-4)
          << "dim=" << dim << " nd=" << nd;
    }
  }
}

TEST(MaxSimTest, PublicMaxSimDispatches) {
  auto q = RandomUnit(32, 128, 3), d = RandomUnit(100, 128, 4);
  EXPECT_NEAR(MaxSim(q.data(), 32, d.data(), 100, 128),
              NaiveMaxSim(q.data(), 32, d.data(), 100, 128), 1e-3);
  EXPECT_EQ(MaxSim(q.data(), 32, d.data(), 100, 128),
            MaxSimDispatch(q.data(), 32, d.data(), 100, 128));
  EXPECT_EQ(MaxSim(q.data(), 32, d.data(), 0, 128), 0.f);
}

TEST(MaxSimTest, BlockMatchesPerDocument) {
  const int dim = 64;
  std::vector<uint32_t> offsets = {0, 10, 10, 25, 26};  // includes an empty document
  auto d = RandomUnit(26, dim, 5), q = RandomUnit(9, dim, 6);
  std::vector<float> out(4), scratch;
  MaxSimBlock(q.data(), 9, d.data(), offsets.data(), 4, dim, out.data(), &scratch);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(
        out[i],
        NaiveMaxSim(q.data(), 9, d.data() + offsets[i] * dim, offsets[i + 1] - offsets[i], dim),
        1e-4);
  }
}

}  // namespace
}  // namespace tartan::compute
