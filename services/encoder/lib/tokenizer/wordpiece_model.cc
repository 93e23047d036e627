#include "services/encoder/lib/tokenizer/wordpiece_model.h"

#include <nlohmann/json.hpp>

#include "common/json_integer.h"
#include "common/status_macros.h"
#include "services/encoder/lib/tokenizer/unicode.h"

namespace tartan::encoder {

absl::StatusOr<std::unique_ptr<WordPieceModel>> WordPieceModel::FromJson(const nlohmann::json& j) {
  auto m = std::unique_ptr<WordPieceModel>(new WordPieceModel());
  RETURN_IF_ERROR(m->vocab_.LoadJsonObject(j.at("vocab")));
  const std::string unk = j.contains("unk_token") && j["unk_token"].is_string()
                              ? j["unk_token"].get<std::string>()
                              : std::string("[UNK]");
  m->unk_id_ = m->vocab_.Find(unk);
  if (j.contains("continuing_subword_prefix") && j["continuing_subword_prefix"].is_string()) {
    m->prefix_ = j["continuing_subword_prefix"].get<std::string>();
  }
  if (j.contains("max_input_chars_per_word") && j["max_input_chars_per_word"].is_number()) {
    m->max_input_chars_per_word_ = JsonInteger<size_t>(j["max_input_chars_per_word"]);
  }
  return m;
}

void WordPieceModel::Tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  // Byte offsets of code point boundaries: sub-words always end on one.
  std::vector<size_t> bounds;
  bounds.reserve(word.size() + 1);
  size_t pos = 0;
  while (pos < word.size()) {
    bounds.push_back(pos);
    unicode::DecodeNext(word, &pos);
  }
  bounds.push_back(word.size());
  const size_t n_chars = bounds.size() - 1;
  auto emit_unk = [&] {
    if (unk_id_) ids->push_back(*unk_id_);
  };
  if (n_chars > max_input_chars_per_word_) {
    emit_unk();
    return;
  }
  const size_t first_new = ids->size();
  std::string candidate;
  size_t start = 0;  // index into bounds
  while (start < n_chars) {
    size_t end = n_chars;
    std::optional<int32_t> found;
    while (end > start) {
      candidate.clear();
      if (start > 0) candidate = prefix_;
      candidate.append(word.substr(bounds[start], bounds[end] - bounds[start]));
      found = vocab_.Find(candidate);
      if (found) break;
      --end;
    }
    if (!found) {
      ids->resize(first_new);
      emit_unk();
      return;
    }
    ids->push_back(*found);
    start = end;
  }
}

}  // namespace tartan::encoder
