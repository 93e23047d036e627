// Tokenization models of a Hugging Face tokenizer.json ("model" key): the common interface,
// the token<->id vocabulary they share, and the JSON factory (BPE or WordPiece; the older
// WordPiece files have no "type" key and are recognised by "continuing_subword_prefix"
// without "merges").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace tartan::encoder {

// token string <-> id. Ids may have gaps; id_to_token_ has "" for unused ids.
class Vocab {
 public:
  absl::Status LoadJsonObject(const nlohmann::json& vocab);  // {"token": id, ...}
  std::optional<int32_t> Find(std::string_view token) const;
  std::optional<std::string> Token(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  size_t size() const { return token_to_id_.size(); }

 private:
  absl::flat_hash_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> present_;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one pre-tokenized word (non-empty, valid UTF-8).
  virtual void Tokenize(std::string_view word, std::vector<int32_t>* ids) const = 0;
  virtual std::optional<int32_t> unk_id() const = 0;

  std::optional<int32_t> TokenToId(std::string_view token) const { return vocab_.Find(token); }
  std::optional<std::string> IdToToken(int32_t id) const { return vocab_.Token(id); }
  int32_t max_id() const { return vocab_.max_id(); }

  static absl::StatusOr<std::unique_ptr<Model>> FromJson(const nlohmann::json& j);

 protected:
  Vocab vocab_;
};

}  // namespace tartan::encoder
