// Checkpoint access for the architecture files: resolves the optional key prefix ("", "model.",
// "bert.") once and loads tensors with shape checks.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/encoder/lib/layers/linear.h"
#include "services/encoder/lib/safetensors.h"

namespace tartan::encoder {

class WeightReader {
 public:
  // Picks the first prefix among "", "model.", "bert." under which `probe` exists.
  static absl::StatusOr<WeightReader> Create(const SafetensorsFile* file, const std::string& probe);

  bool Has(const std::string& name) const;
  absl::StatusOr<std::vector<float>> Load(const std::string& name,
                                          const std::vector<int64_t>& shape) const;
  // Loads <base>.weight [out, in] and, when with_bias, <base>.bias [out].
  absl::StatusOr<Linear> LoadLinear(const std::string& base, int out, int in, bool with_bias) const;
  const std::string& prefix() const { return prefix_; }

 private:
  const SafetensorsFile* file_ = nullptr;
  std::string prefix_;
};

}  // namespace tartan::encoder
