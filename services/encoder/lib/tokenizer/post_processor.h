// Post-processors of a Hugging Face tokenizer.json ("post_processor" key), single-sequence
// form only: TemplateProcessing ("single" template), BertProcessing, RobertaProcessing,
// ByteLevel (no effect on ids) and Sequence. Reduced to a list of items: fixed special ids
// or the sequence itself.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"

namespace tartan::encoder {

class PostProcessor {
 public:
  // Builds from JSON; a null value gives an identity processor.
  static absl::StatusOr<PostProcessor> FromJson(const nlohmann::json& j);

  // Wraps the content ids with the template's special tokens.
  std::vector<int32_t> Apply(const std::vector<int32_t>& content) const;
  // Number of ids Apply adds (2 for "[CLS] $A [SEP]").
  int num_special_tokens() const;

 private:
  struct Item {
    bool is_sequence = false;
    std::vector<int32_t> ids;  // special token ids when !is_sequence
  };
  // Always contains exactly one sequence item.
  std::vector<Item> items_{Item{true, {}}};
};

}  // namespace tartan::encoder
