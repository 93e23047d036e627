// WordPiece model (Hugging Face "WordPiece"): greedy longest-match-first sub-words, the
// continuation prefix ("##") on non-initial pieces, and the unk token for a word that cannot
// be covered or that has more than max_input_chars_per_word code points.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "services/encoder/lib/tokenizer/model.h"

namespace tartan::encoder {

class WordPieceModel : public Model {
 public:
  static absl::StatusOr<std::unique_ptr<WordPieceModel>> FromJson(const nlohmann::json& j);

  void Tokenize(std::string_view word, std::vector<int32_t>* ids) const override;
  std::optional<int32_t> unk_id() const override { return unk_id_; }

 private:
  std::optional<int32_t> unk_id_;
  std::string prefix_ = "##";
  size_t max_input_chars_per_word_ = 100;
};

}  // namespace tartan::encoder
