#include "services/encoder/lib/tokenizer/model.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/encoder/lib/tokenizer/bpe_model.h"
#include "services/encoder/lib/tokenizer/wordpiece_model.h"

namespace tartan::encoder {

absl::Status Vocab::LoadJsonObject(const nlohmann::json& vocab) {
  if (!vocab.is_object()) return absl::InvalidArgumentError("model.vocab is not an object");
  token_to_id_.reserve(vocab.size());
  // Ids index a dense table: a vocabulary's ids run 0..n-1 (a few gaps at most), so one far
  // beyond its size is a broken file, and would allocate gigabytes (fuzz_tokenizer_json).
  const int64_t max_id = std::min<int64_t>(int64_t{1} << 30, 2 * int64_t(vocab.size()) + 1024);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    // An integer, checked first: converting a float outside int64's range is undefined.
    if (!it.value().is_number_integer()) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocab id of \"", it.key(), "\" is not an integer"));
    }
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > max_id) {
      return absl::InvalidArgumentError(absl::StrCat("vocab id out of range: ", id, " (\"",
                                                     it.key(), "\"; the vocabulary has ",
                                                     vocab.size(), " entries)"));
    }
    token_to_id_[it.key()] = static_cast<int32_t>(id);
    if (static_cast<size_t>(id) >= id_to_token_.size()) {
      id_to_token_.resize(id + 1);
      present_.resize(id + 1, false);
    }
    id_to_token_[id] = it.key();
    present_[id] = true;
  }
  return absl::OkStatus();
}

std::optional<int32_t> Vocab::Find(std::string_view token) const {
  auto it = token_to_id_.find(absl::string_view(token.data(), token.size()));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Vocab::Token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !present_[id]) {
    return std::nullopt;
  }
  return id_to_token_[id];
}

absl::StatusOr<std::unique_ptr<Model>> Model::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("'model' is missing or not an object");
  std::string type = j.value("type", "");
  if (type.empty()) {
    // Files written by tokenizers < 0.10 omit the type; infer it from the keys.
    if (j.contains("merges")) {
      type = "BPE";
    } else if (j.contains("continuing_subword_prefix") || j.contains("max_input_chars_per_word")) {
      type = "WordPiece";
    }
  }
  if (type == "BPE") {
    auto m = BpeModel::FromJson(j);
    if (!m.ok()) return m.status();
    return std::unique_ptr<Model>(std::move(*m));
  }
  if (type == "WordPiece") {
    auto m = WordPieceModel::FromJson(j);
    if (!m.ok()) return m.status();
    return std::unique_ptr<Model>(std::move(*m));
  }
  return absl::UnimplementedError(absl::StrCat("unsupported model type '", type, "'"));
}

}  // namespace tartan::encoder
