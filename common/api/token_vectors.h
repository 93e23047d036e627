// Conversion between the wire form of token vectors (tartan.v1.TokenVectors: packed
// little-endian float32/float16 bytes) and float32 row-major matrices, with the validation
// every service applies to client input.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tartan/v1/common.pb.h"

namespace tartan::api {

struct Matrix {
  int rows = 0;
  int dim = 0;
  std::vector<float> data;  // [rows, dim] row-major
};

// Decodes and validates: rows in [1, max_rows], dim == expected_dim (when > 0), byte size
// matches rows*dim*sizeof(dtype), every value finite. Errors are INVALID_ARGUMENT naming
// `field`.
absl::StatusOr<Matrix> DecodeTokenVectors(const tartan::v1::TokenVectors& vectors, int expected_dim,
                                          int max_rows, const std::string& field);

// Packs [rows, dim] float32 into `out` as `dtype` (FLOAT32 when unspecified).
void EncodeTokenVectors(const float* data, int rows, int dim, tartan::v1::DType dtype,
                        tartan::v1::TokenVectors* out);

}  // namespace tartan::api
