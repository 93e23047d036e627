// The operand types and batching of oneDNN products (dnnl_matmul.h), in a header light enough
// for the declarations that only name them.
#pragma once

#include <cstdint>

namespace tartan::compute {

enum class MatmulDataType { kFloat32, kBFloat16 };

// Several products of one shape in one call: the i-th reads A + i * stride_a, B + i * stride_b
// and writes C + i * stride_c (strides in elements). One call for all heads of a short
// sequence costs about what one head's call did.
struct MatmulBatch {
  int count = 1;
  int64_t stride_a = 0;
  int64_t stride_b = 0;
  int64_t stride_c = 0;
};

}  // namespace tartan::compute
