#include "common/api/token_vectors.h"

#include "common/half.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"

namespace tartan::api {
namespace {

tartan::v1::TokenVectors Make(int rows, int dim, const std::vector<float>& values) {
  tartan::v1::TokenVectors v;
  EncodeTokenVectors(values.data(), rows, dim, tartan::v1::FLOAT32, &v);
  return v;
}

TEST(TokenVectorsTest, Float32RoundTrip) {
  const std::vector<float> values = {0.5f, -1.25f, 3.0f, 1e-7f, 0.f, -0.f};
  auto decoded = DecodeTokenVectors(Make(2, 3, values), 3, 10, "v");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->rows, 2);
  EXPECT_EQ(decoded->data, values);
}

TEST(TokenVectorsTest, Float16RoundTripWithinHalfPrecision) {
  const std::vector<float> values = {0.1f, -0.3333f, 1.0f, 65504.0f, 6e-8f, -2.5e-5f};
  tartan::v1::TokenVectors v;
  EncodeTokenVectors(values.data(), 3, 2, tartan::v1::FLOAT16, &v);
  EXPECT_EQ(v.data().size(), 12u);
  auto decoded = DecodeTokenVectors(v, 2, 10, "v");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_NEAR(decoded->data[i], values[i], std::abs(values[i]) * 1e-3 + 6e-8) << i;
  }
  // Exact cases: 1, -2, the largest half, the smallest subnormal.
  for (float x : {1.0f, -2.0f, 65504.0f, 5.9604645e-8f}) EXPECT_EQ(HalfToFloat(FloatToHalf(x)), x);
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(1e6f))));
}

TEST(TokenVectorsTest, RejectsBadInputNamingTheField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto status = DecodeTokenVectors(Make(1, 2, {1.f, nan}), 2, 10, "docs[3].vectors").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("docs[3].vectors"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("not finite"), absl::string_view::npos) << status;

  EXPECT_FALSE(DecodeTokenVectors(Make(1, 2, {1.f, 2.f}), 3, 10, "v").ok());  // wrong dim
  EXPECT_FALSE(DecodeTokenVectors(Make(3, 2, std::vector<float>(6, 1.f)), 2, 2, "v").ok());  // rows
  tartan::v1::TokenVectors empty;
  EXPECT_FALSE(DecodeTokenVectors(empty, 0, 10, "v").ok());
  auto short_bytes = Make(2, 2, {1.f, 2.f, 3.f, 4.f});
  short_bytes.mutable_data()->pop_back();
  EXPECT_FALSE(DecodeTokenVectors(short_bytes, 2, 10, "v").ok());
  EXPECT_TRUE(DecodeTokenVectors(Make(2, 2, {1.f, 2.f, 3.f, 4.f}), 0, 10, "v").ok());  // any dim
}

}  // namespace
}  // namespace tartan::api

namespace tartan {
namespace {

TEST(HalfTest, EveryHalfRoundTripsAndRoundingIsToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), h) << h;
  }
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), FloatToHalf(1.0f));  // tie → even (1.0)
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048), FloatToHalf(1.0f + 4.0f / 2048));  // tie → even
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::numeric_limits<float>::quiet_NaN()))));
}

}  // namespace
}  // namespace tartan
