// Normalizers of a Hugging Face tokenizer.json ("normalizer" key): NFC/NFD/NFKC/NFKD,
// Lowercase, StripAccents, Strip, Replace (literal pattern), Prepend, BertNormalizer and
// Sequence. Input and output are valid UTF-8.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"

namespace tartan::encoder {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string Normalize(std::string_view text) const = 0;

  // Builds a normalizer from its JSON object. A null JSON value gives nullptr (no-op).
  static absl::StatusOr<std::unique_ptr<Normalizer>> FromJson(const nlohmann::json& j);
};

}  // namespace tartan::encoder
