// Added tokens (tokenizer.json "added_tokens", plus tokens added at run time) and the Hugging
// Face AddedVocabulary splitting rules: added tokens are cut out of the text BEFORE
// normalization and pre-tokenization. Tokens with normalized=false match the raw text; those
// with normalized=true match the normalized text (their own content normalized the same way).
// Matching is leftmost-longest and non-overlapping (Aho-Corasick LeftmostLongest semantics);
// single_word requires non-word characters (or text edges) on both sides; lstrip / rstrip
// absorb adjacent Unicode whitespace into the match.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tartan::encoder {

class Normalizer;

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class AddedVocabulary {
 public:
  // A split of the text: [begin, end) bytes, and the added-token id or -1 for plain text.
  struct Piece {
    size_t begin;
    size_t end;
    int32_t id;
  };

  // Adds a token (replacing one with the same content). Call Rebuild() before splitting.
  void Add(AddedToken token);
  // Rebuilds both matchers; `normalizer` (may be null) normalizes normalized=true contents.
  void Rebuild(const Normalizer* normalizer);

  std::optional<int32_t> Find(std::string_view content) const;
  const AddedToken* ById(int32_t id) const;
  int32_t max_id() const;  // -1 when empty

  // Splits `text` on the raw-text tokens (normalized_set=false) or on the normalized-text
  // tokens (true). The pieces cover the text in order; empty pieces are omitted.
  std::vector<Piece> Split(std::string_view text, bool normalized_set) const;

 private:
  // Byte trie over token patterns; a node's `token` is the index into tokens_ or -1.
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;
    int32_t token = -1;
  };
  struct Matcher {
    std::vector<Node> nodes;
    bool first_byte[256] = {};
    void Insert(std::string_view pattern, int32_t token_index);
    // Longest pattern starting at `pos`: returns its length and sets *token_index, or 0.
    size_t LongestAt(std::string_view text, size_t pos, int32_t* token_index) const;
  };

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<std::string, size_t> by_content_;
  absl::flat_hash_map<int32_t, size_t> by_id_;
  Matcher raw_;
  Matcher normalized_;
};

}  // namespace tartan::encoder
