// Native implementation of Hugging Face `tokenizers` for tokenizer.json files (byte-level BPE
// as in ModernBERT/OLMo, WordPiece as in BERT), producing the same ids as the Rust library's
// `encode` for one sequence.
//
// Pipeline: repair ill-formed UTF-8 (each maximal ill-formed subsequence becomes U+FFFD) ->
// cut out raw-text added tokens -> normalize each remaining piece -> cut out normalized
// added tokens -> pre-tokenize -> model -> truncate (longest_first, single sequence) ->
// post-processor template.
//
// Encode / TokenToId / IdToToken are thread-safe. AddToken mutates the tokenizer and must not
// run concurrently with anything else (call it right after loading).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::encoder {

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(
      const std::string& tokenizer_json_path);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view json_text);
  virtual ~Tokenizer();

  // Full pipeline. add_special_tokens applies the post-processor template. max_length <= 0:
  // no truncation; otherwise the result (special tokens included) has at most
  // max(max_length, num_special_tokens_to_add()) ids, keeping the first
  // max_length - num_special_tokens_to_add() content ids. (A max_length below the number of
  // special tokens keeps no content ids but still adds every special token; Hugging Face's
  // result there is an unsigned-underflow artifact and is not reproduced.)
  std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens = true,
                              int max_length = 0) const;
  std::optional<int32_t> TokenToId(std::string_view token) const;  // vocab or added token
  std::optional<std::string> IdToToken(int32_t id) const;
  int32_t vocab_size() const;  // max id + 1 over vocab and added tokens
  std::optional<int32_t> unk_id() const;
  std::optional<int32_t> mask_id() const;  // "[MASK]" / "<mask>" if present
  int num_special_tokens_to_add() const;   // e.g. 2 for [CLS] $A [SEP]
  // Adds a new added token (e.g. a "[Q] " prefix missing from the vocab); returns its id
  // (the existing id if the content is already an added token or in the vocab). Like Hugging
  // Face's add_tokens: normalized = !special, no lstrip/rstrip/single_word.
  int32_t AddToken(const std::string& content, bool special);

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tartan::encoder
