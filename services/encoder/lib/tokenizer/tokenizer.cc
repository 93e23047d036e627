#include "services/encoder/lib/tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/json_integer.h"
#include "common/status_macros.h"
#include "services/encoder/lib/tokenizer/added_vocabulary.h"
#include "services/encoder/lib/tokenizer/model.h"
#include "services/encoder/lib/tokenizer/normalizer.h"
#include "services/encoder/lib/tokenizer/post_processor.h"
#include "services/encoder/lib/tokenizer/pre_tokenizer.h"
#include "services/encoder/lib/tokenizer/unicode.h"

namespace tartan::encoder {

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  PostProcessor post_processor;
  AddedVocabulary added;

  // Appends the ids of one normalized, added-token-free piece.
  void TokenizePiece(std::string_view piece, std::vector<int32_t>* ids) const {
    if (piece.empty()) return;
    if (!pre_tokenizer) {
      model->Tokenize(piece, ids);
      return;
    }
    std::vector<std::string> words;
    pre_tokenizer->PreTokenize(piece, &words);
    for (const auto& w : words) {
      if (!w.empty()) model->Tokenize(w, ids);
    }
  }
};

namespace {

bool BoolOr(const nlohmann::json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return dflt;
  return it->get<bool>();
}

absl::Status Annotate(const absl::Status& s, std::string_view what) {
  return absl::Status(s.code(), absl::StrCat(std::string(what), ": ", std::string(s.message())));
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open tokenizer file ", path));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading tokenizer file ", path));
  auto tok = FromJson(buf.str());
  if (!tok.ok()) return Annotate(tok.status(), absl::StrCat("tokenizer file ", path));
  return tok;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json_text) {
  auto impl = std::make_unique<Impl>();
  try {
    const nlohmann::json j = nlohmann::json::parse(json_text.begin(), json_text.end());
    if (!j.is_object()) return absl::InvalidArgumentError("tokenizer JSON is not an object");
    const nlohmann::json null_json;
    auto field = [&](const char* key) -> const nlohmann::json& {
      auto it = j.find(key);
      return it == j.end() ? null_json : *it;
    };
    {
      auto r = Normalizer::FromJson(field("normalizer"));
      if (!r.ok()) return Annotate(r.status(), "normalizer");
      impl->normalizer = std::move(*r);
    }
    {
      auto r = PreTokenizer::FromJson(field("pre_tokenizer"));
      if (!r.ok()) return Annotate(r.status(), "pre_tokenizer");
      impl->pre_tokenizer = std::move(*r);
    }
    {
      auto r = Model::FromJson(field("model"));
      if (!r.ok()) return Annotate(r.status(), "model");
      impl->model = std::move(*r);
    }
    {
      auto r = PostProcessor::FromJson(field("post_processor"));
      if (!r.ok()) return Annotate(r.status(), "post_processor");
      impl->post_processor = std::move(*r);
    }
    const auto& added = field("added_tokens");
    if (added.is_array()) {
      for (const auto& t : added) {
        AddedToken tok;
        tok.id = JsonInteger<int32_t>(t.at("id"));
        tok.content = t.at("content").get<std::string>();
        tok.special = BoolOr(t, "special", false);
        tok.single_word = BoolOr(t, "single_word", false);
        tok.lstrip = BoolOr(t, "lstrip", false);
        tok.rstrip = BoolOr(t, "rstrip", false);
        tok.normalized = BoolOr(t, "normalized", !tok.special);
        if (tok.content.empty()) continue;
        if (!unicode::IsValidUtf8(tok.content)) {
          return absl::InvalidArgumentError("added token content is not valid UTF-8");
        }
        impl->added.Add(std::move(tok));
      }
    }
    impl->added.Rebuild(impl->normalizer.get());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed tokenizer JSON: ", e.what()));
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special_tokens,
                                       int max_length) const {
  std::string repaired;
  if (!unicode::IsValidUtf8(text)) {
    repaired = unicode::SanitizeUtf8(text);
    text = repaired;
  }
  const Impl& im = *impl_;
  std::vector<int32_t> ids;
  for (const auto& raw : im.added.Split(text, /*normalized_set=*/false)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    const std::string_view piece = text.substr(raw.begin, raw.end - raw.begin);
    const std::string normalized =
        im.normalizer ? im.normalizer->Normalize(piece) : std::string(piece);
    for (const auto& np : im.added.Split(normalized, /*normalized_set=*/true)) {
      if (np.id >= 0) {
        ids.push_back(np.id);
      } else {
        im.TokenizePiece(std::string_view(normalized).substr(np.begin, np.end - np.begin), &ids);
      }
    }
  }
  const int n_special = add_special_tokens ? im.post_processor.num_special_tokens() : 0;
  if (max_length > 0) {
    const size_t budget = static_cast<size_t>(std::max(0, max_length - n_special));
    if (ids.size() > budget) ids.resize(budget);
  }
  if (!add_special_tokens) return ids;
  return im.post_processor.Apply(ids);
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (auto id = impl_->added.Find(token)) return id;
  return impl_->model->TokenToId(token);
}

std::optional<std::string> Tokenizer::IdToToken(int32_t id) const {
  if (const AddedToken* t = impl_->added.ById(id)) return t->content;
  return impl_->model->IdToToken(id);
}

int32_t Tokenizer::vocab_size() const {
  return std::max(impl_->model->max_id(), impl_->added.max_id()) + 1;
}

std::optional<int32_t> Tokenizer::unk_id() const { return impl_->model->unk_id(); }

std::optional<int32_t> Tokenizer::mask_id() const {
  if (auto id = TokenToId("[MASK]")) return id;
  return TokenToId("<mask>");
}

int Tokenizer::num_special_tokens_to_add() const {
  return impl_->post_processor.num_special_tokens();
}

int32_t Tokenizer::AddToken(const std::string& content, bool special) {
  if (auto id = impl_->added.Find(content)) return *id;
  AddedToken tok;
  tok.content = content;
  tok.special = special;
  tok.normalized = !special;
  if (auto id = impl_->model->TokenToId(content)) {
    tok.id = *id;  // already in the vocab: only marked as added, as Hugging Face does
  } else {
    tok.id = vocab_size();
  }
  const int32_t id = tok.id;
  impl_->added.Add(std::move(tok));
  impl_->added.Rebuild(impl_->normalizer.get());
  return id;
}

}  // namespace tartan::encoder
