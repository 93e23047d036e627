// Hierarchical token pooling: SciPy-compatible Ward linkage / fcluster on hand-checked inputs,
// PyLate's output order for both variants, and the golden pooled documents.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "npy.h"
#include "services/encoder/lib/colbert/token_pooling.h"

namespace tartan::encoder {
namespace {

std::vector<double> Condensed1D(const std::vector<double>& x) {
  std::vector<double> d;
  for (size_t i = 0; i < x.size(); ++i) {
    for (size_t j = i + 1; j < x.size(); ++j) d.push_back(std::fabs(x[i] - x[j]));
  }
  return d;
}

TEST(WardLinkageTest, MatchesHandComputedScipyResult) {
  // Points 0, 1, 5, 6, 20 on a line. By hand (and scipy 1.10): merges {0,1} and {2,3} at 1
  // (tie kept in chain order), then {0..3} at sqrt(50), then everything at sqrt(462.4).
  const std::vector<LinkageRow> z = WardLinkage(Condensed1D({0, 1, 5, 6, 20}), 5);
  ASSERT_EQ(z.size(), 4u);
  const int expected[4][3] = {{0, 1, 2}, {2, 3, 2}, {5, 6, 4}, {4, 7, 5}};
  const double distances[4] = {1.0, 1.0, std::sqrt(50.0), std::sqrt(462.4)};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(z[i].a, expected[i][0]) << i;
    EXPECT_EQ(z[i].b, expected[i][1]) << i;
    EXPECT_EQ(z[i].size, expected[i][2]) << i;
    EXPECT_NEAR(z[i].distance, distances[i], 1e-12) << i;
  }
  EXPECT_EQ(FclusterMaxclust(z, 5, 2), (std::vector<int>{1, 1, 1, 1, 2}));
  EXPECT_EQ(FclusterMaxclust(z, 5, 3), (std::vector<int>{1, 1, 2, 2, 3}));
  EXPECT_EQ(FclusterMaxclust(z, 5, 1), (std::vector<int>{1, 1, 1, 1, 1}));
}

TEST(WardLinkageTest, AllTiesMergeInScipyOrder) {
  // Four identical points: every distance is 0; scipy gives [[0,1],[2,4],[3,5]] with sizes
  // 2, 3, 4 (the chain keeps merging into the last slot).
  const std::vector<LinkageRow> z = WardLinkage(std::vector<double>(6, 0.0), 4);
  ASSERT_EQ(z.size(), 3u);
  EXPECT_EQ(z[0].a, 0);
  EXPECT_EQ(z[0].b, 1);
  EXPECT_EQ(z[1].a, 2);
  EXPECT_EQ(z[1].b, 4);
  EXPECT_EQ(z[2].a, 3);
  EXPECT_EQ(z[2].b, 5);
  EXPECT_EQ(z[2].size, 4);
}

// Unit vectors at the given angles (radians) in the plane, dim 2.
std::vector<float> Angles(const std::vector<double>& angles) {
  std::vector<float> v;
  for (double a : angles) {
    v.push_back(static_cast<float>(std::cos(a)));
    v.push_back(static_cast<float>(std::sin(a)));
  }
  return v;
}

TEST(PoolTokensTest, MainKeepsProtectedFirstAndAveragesClusters) {
  // [CLS] at 3.0 rad, then two tight pairs: {0, 0.01} and {1.5, 1.52}.
  const std::vector<float> v = Angles({3.0, 0.0, 1.5, 0.01, 1.52});
  int rows = 0;
  std::vector<float> out =
      PoolTokensHierarchical(v.data(), 5, 2, 2, 1, PoolingVersion::kMain, &rows);
  ASSERT_EQ(rows, 3);
  EXPECT_FLOAT_EQ(out[0], v[0]);  // protected [CLS] first, untouched
  EXPECT_FLOAT_EQ(out[1], v[1]);
  // Cluster means (not re-normalised), label order: {tokens 0, 2} then {tokens 1, 3}.
  EXPECT_FLOAT_EQ(out[2], (v[2] + v[6]) / 2);
  EXPECT_FLOAT_EQ(out[3], (v[3] + v[7]) / 2);
  EXPECT_FLOAT_EQ(out[4], (v[4] + v[8]) / 2);
  EXPECT_FLOAT_EQ(out[5], (v[5] + v[9]) / 2);
  EXPECT_LT(std::hypot(out[2], out[3]), 1.0f);  // mean of two distinct unit vectors
}

TEST(PoolTokensTest, V140AppendsProtectedLast) {
  const std::vector<float> v = Angles({3.0, 0.0, 1.5, 0.01, 1.52});
  int rows = 0;
  std::vector<float> out =
      PoolTokensHierarchical(v.data(), 5, 2, 2, 1, PoolingVersion::kV140, &rows);
  ASSERT_EQ(rows, 3);
  EXPECT_FLOAT_EQ(out[4], v[0]);
  EXPECT_FLOAT_EQ(out[5], v[1]);
}

TEST(PoolTokensTest, NoReductionReturnsInput) {
  const std::vector<float> v = Angles({3.0, 0.0, 1.5});
  int rows = 0;
  // pool_factor 1: unchanged.
  EXPECT_EQ(PoolTokensHierarchical(v.data(), 3, 2, 1, 1, PoolingVersion::kMain, &rows), v);
  EXPECT_EQ(rows, 3);
  // Two poolable tokens with pool_factor 3: k = max(2 // 3, 1) = 1 < 2, so they merge.
  std::vector<float> merged =
      PoolTokensHierarchical(v.data(), 3, 2, 3, 1, PoolingVersion::kMain, &rows);
  EXPECT_EQ(rows, 2);
  EXPECT_EQ(merged.size(), 4u);
  EXPECT_FLOAT_EQ(merged[2], (v[2] + v[4]) / 2);
  // One poolable token: k = 1 >= 1, unchanged (main's shortcut).
  EXPECT_EQ(PoolTokensHierarchical(v.data(), 2, 2, 2, 1, PoolingVersion::kMain, &rows),
            std::vector<float>(v.begin(), v.begin() + 4));
  EXPECT_EQ(rows, 2);
}

std::string SharedDir() {
  const char* env = std::getenv("TARTAN_SHARED_DIR");
  return env != nullptr ? env : "../shared";
}

// The golden unpooled document vectors pooled here must equal PyLate's pooled output.
TEST(PoolTokensTest, GoldenDocumentsPoolExactly) {
  const std::string root = SharedDir() + "/golden/";
  if (!std::filesystem::exists(root + "modernbert-colbert-tiny/d_02.npy")) {
    GTEST_SKIP() << "golden files not found under " << root;
  }
  struct Case {
    const char* model;
    const char* source;
    const char* pooled;
    int pool_factor;
    PoolingVersion version;
  };
  const Case cases[] = {
      {"modernbert-colbert-tiny", "d_02", "dpool2_02", 2, PoolingVersion::kMain},
      {"modernbert-colbert-tiny", "d_02", "dpool3_02", 3, PoolingVersion::kMain},
      {"modernbert-colbert-tiny", "d_11", "dpool2v140_11", 2, PoolingVersion::kV140},
      {"bert-colbert-tiny", "d_02", "dpool3_02", 3, PoolingVersion::kMain},
      {"bert-colbert-tiny", "d_12", "dpool2v140_12", 2, PoolingVersion::kV140},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.model) + " " + c.pooled);
    auto src = testing::ReadNpyF32(root + c.model + "/" + c.source + ".npy");
    auto want = testing::ReadNpyF32(root + c.model + "/" + c.pooled + ".npy");
    ASSERT_TRUE(src.ok()) << src.status();
    ASSERT_TRUE(want.ok()) << want.status();
    const int n = static_cast<int>(src->shape[0]);
    const int dim = static_cast<int>(src->shape[1]);
    int rows = 0;
    std::vector<float> got =
        PoolTokensHierarchical(src->data.data(), n, dim, c.pool_factor, 1, c.version, &rows);
    ASSERT_EQ(rows, want->shape[0]);
    ASSERT_EQ(got.size(), want->data.size());
    // Same inputs and SciPy's exact merge order: same rows in the same order.
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want->data[i], 1e-6) << i;
  }
}

}  // namespace
}  // namespace tartan::encoder
