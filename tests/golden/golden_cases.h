// Reading ../shared/golden/<model>/cases.jsonl and comparing encoder outputs with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::golden {

struct GoldenCase {
  std::string id;
  std::string text;
  bool is_query = false;
  std::optional<std::string> prompt_name;
  int pool_factor = 1;
  std::string pool_version;  // "" (no pooling), "main" or "v1.4.0"
  std::vector<int32_t> ids;
  int dim = 0;
  std::vector<float> embeddings;  // [rows, dim]
  int rows = 0;
};

// $TARTAN_SHARED_DIR, else ../shared; "" when neither has golden/.
std::string SharedDir();

absl::StatusOr<std::vector<GoldenCase>> LoadCases(const std::string& cases_jsonl);

// Largest absolute difference between `got` and `expected` ([rows, dim] each) after matching
// rows one-to-one by minimum total cost (cost = max abs difference of a row pair; Hungarian
// algorithm), so pooled rows may come in any order. +inf when the row counts differ.
double MatchedMaxAbsDiff(const std::vector<float>& got, const std::vector<float>& expected,
                         int rows, int dim);

}  // namespace tartan::golden
