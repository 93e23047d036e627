// Reading and writing Dense module folders (config.json + model.safetensors) and the Stanford
// HF_ColBERT projection stored as `linear.weight` inside the backbone checkpoint.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/encoder/lib/colbert/dense.h"

namespace tartan::encoder {

// <dir>/config.json and <dir>/model.safetensors (`linear.weight` [out, in], `linear.bias` [out]
// when bias, `residual.weight` [out, in] when use_residual with in != out). Errors name the file.
absl::StatusOr<DenseLayer> LoadDenseLayer(const std::string& dir);

// `linear.weight` [out, in] from a Stanford checkpoint's model.safetensors; no bias, Identity.
// `expected_in` is the backbone's hidden size.
absl::StatusOr<DenseLayer> LoadStanfordProjection(const std::string& safetensors_path,
                                                  int expected_in);

// Writes a PyLate Dense folder (bias-free unless `bias` is non-empty).
absl::Status WriteDenseLayer(const std::string& dir, const DenseConfig& config,
                             const std::vector<float>& weight, const std::vector<float>& bias);

}  // namespace tartan::encoder
