// Pre-tokenizers of a Hugging Face tokenizer.json ("pre_tokenizer" key): ByteLevel (GPT-2
// split regex, hand-written, plus the byte-to-unicode mapping), BertPreTokenizer, Whitespace,
// WhitespaceSplit, Punctuation and Sequence. Each splits one normalized piece into words that
// the model tokenizes independently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"

namespace tartan::encoder {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Appends the words of `piece` (valid UTF-8) to `words`; empty words are never appended.
  virtual void PreTokenize(std::string_view piece, std::vector<std::string>* words) const = 0;

  // Builds a pre-tokenizer from its JSON object. A null JSON value gives nullptr (the whole
  // piece is one word).
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(const nlohmann::json& j);
};

// Splits `text` like the GPT-2 regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and returns the [begin, end) byte ranges of the matches (they cover the whole text).
std::vector<std::pair<size_t, size_t>> SplitGpt2(std::string_view text);

// The GPT-2 byte-to-unicode table: UTF-8 of the printable code point standing for each byte.
const std::vector<std::string>& ByteToUnicodeTable();

}  // namespace tartan::encoder
