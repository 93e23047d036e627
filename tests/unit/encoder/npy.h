// Minimal reader for the golden .npy files (little-endian float32, C order, version 1-3).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::encoder::testing {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

absl::StatusOr<NpyArray> ReadNpyF32(const std::string& path);

}  // namespace tartan::encoder::testing
