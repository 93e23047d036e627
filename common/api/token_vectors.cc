#include "common/api/token_vectors.h"

#include "common/half.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tartan::api {

static_assert(std::endian::native == std::endian::little, "wire format is little-endian");

absl::StatusOr<Matrix> DecodeTokenVectors(const tartan::v1::TokenVectors& vectors, int expected_dim,
                                          int max_rows, const std::string& field) {
  if (vectors.rows() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": rows must be >= 1"));
  }
  if (static_cast<int64_t>(vectors.rows()) > max_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", vectors.rows(), " rows exceeds the limit of ", max_rows));
  }
  if (vectors.dim() == 0) return absl::InvalidArgumentError(absl::StrCat(field, ": dim is 0"));
  if (expected_dim > 0 && static_cast<int>(vectors.dim()) != expected_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": dim ", vectors.dim(), " does not match the collection dim ", expected_dim));
  }
  const bool half = vectors.dtype() == tartan::v1::FLOAT16;
  if (vectors.dtype() != tartan::v1::FLOAT32 && vectors.dtype() != tartan::v1::FLOAT16 &&
      vectors.dtype() != tartan::v1::DTYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": unsupported dtype ", vectors.dtype()));
  }
  const size_t count = static_cast<size_t>(vectors.rows()) * vectors.dim();
  const size_t expected_bytes = count * (half ? 2 : 4);
  if (vectors.data().size() != expected_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": data has ", vectors.data().size(),
                                                   " bytes, expected rows*dim*", half ? 2 : 4,
                                                   " = ", expected_bytes));
  }
  Matrix matrix;
  matrix.rows = static_cast<int>(vectors.rows());
  matrix.dim = static_cast<int>(vectors.dim());
  matrix.data.resize(count);
  if (half) {
    const auto* src = reinterpret_cast<const unsigned char*>(vectors.data().data());
    for (size_t i = 0; i < count; ++i) {
      uint16_t bits;
      std::memcpy(&bits, src + 2 * i, 2);
      matrix.data[i] = HalfToFloat(bits);
    }
  } else {
    std::memcpy(matrix.data.data(), vectors.data().data(), expected_bytes);
  }
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(matrix.data[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": value at row ", i / matrix.dim, ", column ", i % matrix.dim, " is not finite"));
    }
  }
  return matrix;
}

void EncodeTokenVectors(const float* data, int rows, int dim, tartan::v1::DType dtype,
                        tartan::v1::TokenVectors* out) {
  const size_t count = static_cast<size_t>(rows) * dim;
  out->set_rows(rows);
  out->set_dim(dim);
  if (dtype == tartan::v1::FLOAT16) {
    out->set_dtype(tartan::v1::FLOAT16);
    std::string bytes(count * 2, '\0');
    for (size_t i = 0; i < count; ++i) {
      const uint16_t bits = FloatToHalf(data[i]);
      std::memcpy(bytes.data() + 2 * i, &bits, 2);
    }
    out->set_data(std::move(bytes));
  } else {
    out->set_dtype(tartan::v1::FLOAT32);
    out->set_data(reinterpret_cast<const char*>(data), count * sizeof(float));
  }
}

}  // namespace tartan::api
