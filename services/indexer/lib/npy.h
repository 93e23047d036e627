// Minimal reader for NumPy .npy files (format 1.x/2.x/3.x, C order, little endian) as
// written by numpy and by ndarray-npy (fast-plaid / pylate-rs PLAID indexes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::index {

struct NpyArray {
  std::string dtype;  // numpy descr, e.g. "<f4", "<f2", "<i8", "|u1"
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // raw little-endian elements
  int64_t size() const;
  // Converts to float (from f2/f4/f8) or int64 (from any integer type); errors otherwise.
  absl::StatusOr<std::vector<float>> AsFloat() const;
  absl::StatusOr<std::vector<int64_t>> AsInt64() const;
};

absl::StatusOr<NpyArray> ReadNpy(const std::string& path);

}  // namespace tartan::index
