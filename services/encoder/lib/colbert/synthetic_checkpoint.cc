#include "services/encoder/lib/colbert/synthetic_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/encoder/lib/colbert/dense_io.h"
#include "services/encoder/lib/colbert/model_folder.h"
#include "services/encoder/lib/safetensors.h"
#include "services/encoder/lib/tokenizer/tokenizer.h"

namespace tartan::encoder {
namespace {

using OrderedJson = nlohmann::ordered_json;

struct ShapeRow {
  const char* arch;
  const char* name;
  int hidden, layers, heads, intermediate, local_attention, global_every, dim;
};

// Public architectures' sizes (config.json of each model), with the usual ColBERT head size.
constexpr ShapeRow kShapes[] = {
    {"modernbert", "tiny", 64, 4, 4, 96, 8, 3, 32},
    {"modernbert", "lexical", 256, 2, 4, 384, 128, 3, 128},
    {"modernbert", "modernbert-base", 768, 22, 12, 1152, 128, 3, 128},
    {"modernbert", "ettin-32m", 384, 10, 6, 576, 128, 3, 128},
    {"modernbert", "ettin-17m", 256, 7, 4, 384, 128, 3, 128},
    {"bert", "tiny", 64, 3, 4, 128, 0, 0, 24},
    {"bert", "lexical", 256, 2, 4, 512, 0, 0, 128},
    {"bert", "bert-small", 384, 12, 12, 1536, 0, 0, 96},
};

// Deterministic N(0, 1) values from a 64-bit seed (splitmix64 + Box-Muller), independent of
// the standard library's distribution implementation.
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : state_(seed) {}
  float Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(Bits() >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = static_cast<double>(Bits() >> 11) / 9007199254740992.0;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(2.0 * M_PI * u2));
  }

 private:
  uint64_t Bits() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

// Small files keep their key order (OrderedJson); tokenizer.json is read as a plain (sorted)
// json because ordered_json's linear key lookup makes parsing a 50k-entry vocab take seconds.
template <typename J = OrderedJson>
absl::StatusOr<J> ReadJson(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  try {
    return J::parse(text);
  } catch (const typename J::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid JSON: ", e.what()));
  }
}

template <typename J>
absl::Status WriteJson(const std::string& path, const J& j) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write"));
  try {
    out << j.dump(2) << "\n";
  } catch (const typename J::exception& e) {
    return absl::InternalError(absl::StrCat(path, ": ", e.what()));
  }
  if (!out) return absl::InternalError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

std::optional<std::string> TokenContent(const OrderedJson& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return std::nullopt;
  const OrderedJson& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

OrderedJson AddedTokenEntry(const std::string& content, int64_t id, bool with_id) {
  OrderedJson t;
  if (with_id) t["id"] = id;
  t["content"] = content;
  t["single_word"] = false;
  t["lstrip"] = false;
  t["rstrip"] = false;
  t["normalized"] = true;
  t["special"] = false;
  return t;
}

// Copies the tokenizer files into out_dir, registering each prefix as an added token the way
// PyLate's tokenizer.add_tokens + save_pretrained leave them, and padding with [MASK].
absl::Status WriteTokenizerFiles(const std::string& from, const std::string& out_dir,
                                 const std::vector<std::string>& prefixes) {
  const std::string tokenizer_path = JoinPath(from, "tokenizer.json");
  ASSIGN_OR_RETURN(nlohmann::json tok, ReadJson<nlohmann::json>(tokenizer_path));
  std::vector<std::pair<std::string, int64_t>> new_tokens;  // newly registered added tokens
  try {
    if (!tok.is_object() || !tok.contains("model")) {
      return absl::InvalidArgumentError(absl::StrCat(tokenizer_path, ": no \"model\""));
    }
    if (!tok.contains("added_tokens") || tok["added_tokens"].is_null()) {
      tok["added_tokens"] = nlohmann::json::array();
    }
    nlohmann::json& added = tok["added_tokens"];
    const nlohmann::json vocab =
        tok["model"].contains("vocab") ? tok["model"]["vocab"] : nlohmann::json();
    int64_t max_id = -1;
    if (vocab.is_object()) {
      for (const auto& [token, id] : vocab.items()) max_id = std::max(max_id, id.get<int64_t>());
    }
    for (const auto& t : added) max_id = std::max(max_id, t["id"].get<int64_t>());
    for (const std::string& prefix : prefixes) {
      bool present = false;
      for (const auto& t : added) present |= t["content"].get<std::string>() == prefix;
      if (present) continue;
      int64_t id;
      if (vocab.is_object() && vocab.contains(prefix)) {
        id = vocab[prefix].get<int64_t>();
      } else {
        id = ++max_id;
      }
      added.push_back(nlohmann::json::parse(AddedTokenEntry(prefix, id, true).dump()));
      new_tokens.emplace_back(prefix, id);
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(tokenizer_path, ": ", e.what()));
  }
  RETURN_IF_ERROR(WriteJson(JoinPath(out_dir, "tokenizer.json"), tok));

  std::optional<std::string> mask;
  const std::string map_path = JoinPath(from, "special_tokens_map.json");
  if (FileExists(map_path)) {
    ASSIGN_OR_RETURN(OrderedJson map, ReadJson(map_path));
    mask = TokenContent(map, "mask_token");
    if (mask && map.is_object()) map["pad_token"] = map["mask_token"];
    RETURN_IF_ERROR(WriteJson(JoinPath(out_dir, "special_tokens_map.json"), map));
  }
  const std::string config_path = JoinPath(from, "tokenizer_config.json");
  if (FileExists(config_path)) {
    ASSIGN_OR_RETURN(OrderedJson config, ReadJson(config_path));
    if (config.is_object()) {
      if (!config.contains("added_tokens_decoder") || !config["added_tokens_decoder"].is_object()) {
        config["added_tokens_decoder"] = OrderedJson::object();
      }
      for (const auto& [content, id] : new_tokens) {
        config["added_tokens_decoder"][std::to_string(id)] =
            AddedTokenEntry(content, id, /*with_id=*/false);
      }
      if (!mask) mask = TokenContent(config, "mask_token");
      if (mask) config["pad_token"] = *mask;
    }
    RETURN_IF_ERROR(WriteJson(JoinPath(out_dir, "tokenizer_config.json"), config));
  }
  const std::string vocab_txt = JoinPath(from, "vocab.txt");
  if (FileExists(vocab_txt)) {
    std::error_code ec;
    std::filesystem::copy_file(vocab_txt, JoinPath(out_dir, "vocab.txt"),
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(absl::StrCat(vocab_txt, ": copy failed: ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status WriteSentenceTransformersFiles(const std::string& out_dir,
                                            const SyntheticCheckpointSpec& spec) {
  OrderedJson modules = OrderedJson::array();
  OrderedJson transformer;
  transformer["idx"] = 0;
  transformer["name"] = "0";
  transformer["path"] = "";
  transformer["type"] = "sentence_transformers.models.Transformer";
  OrderedJson dense;
  dense["idx"] = 1;
  dense["name"] = "1";
  dense["path"] = "1_Dense";
  dense["type"] = "pylate.models.Dense.Dense";
  modules.push_back(transformer);
  modules.push_back(dense);
  RETURN_IF_ERROR(WriteJson(JoinPath(out_dir, "modules.json"), modules));

  OrderedJson st;
  st["__version__"] = {
      {"sentence_transformers", "4.0.2"}, {"transformers", "4.48.2"}, {"pytorch", "2.6.0"}};
  st["prompts"] = OrderedJson::object();
  st["default_prompt_name"] = nullptr;
  st["similarity_fn_name"] = "MaxSim";
  st["query_prefix"] = spec.query_prefix;
  st["document_prefix"] = spec.document_prefix;
  st["query_length"] = spec.query_length;
  st["document_length"] = spec.document_length;
  st["attend_to_expansion_tokens"] = false;
  st["skiplist_words"] = DefaultSkiplistWords();
  st["do_query_expansion"] = true;
  RETURN_IF_ERROR(WriteJson(JoinPath(out_dir, "config_sentence_transformers.json"), st));

  OrderedJson sbert;
  sbert["max_seq_length"] = spec.document_length - 1;
  sbert["do_lower_case"] = false;
  return WriteJson(JoinPath(out_dir, "sentence_bert_config.json"), sbert);
}

// Ties embedding rows of a lexical model so that MaxSim scores only term overlap:
// * Marker tokens: the query's [MASK] expansion rows copy [CLS] and the query prefix copies
//   the document prefix. Every document keeps its [CLS] and prefix, so these query tokens
//   each score exactly 1 against any document instead of a length-dependent max over noise.
// * Byte-level BPE (ModernBERT) spells one word as several tokens ("paris" at the start of a
//   text, "Ġparis" after a space, "Paris", "ĠParis"); all of them get the row of the first
//   such token, so words match regardless of position and ASCII case. Only model-vocabulary
//   tokens are tied this way (added/special tokens keep their rows).
absl::Status TieLexicalVariants(const std::string& out_dir, const Tokenizer& tokenizer,
                                const SyntheticCheckpointSpec& spec) {
  const std::string tokenizer_path = JoinPath(out_dir, "tokenizer.json");
  ASSIGN_OR_RETURN(nlohmann::json tok, ReadJson<nlohmann::json>(tokenizer_path));
  std::vector<std::pair<int64_t, std::string>> by_id;  // (id, canonical word)
  const bool tie_words = spec.shape.arch == "modernbert";
  try {
    const nlohmann::json& vocab = tok.at("model").at("vocab");
    for (const auto& [token, id] : vocab.items()) {
      if (!tie_words || !vocab.is_object()) break;
      std::string word = token;
      if (word.rfind("\xC4\xA0", 0) == 0) word = word.substr(2);  // "Ġ": a leading space
      if (word.empty()) continue;
      for (char& c : word) c = absl::ascii_tolower(static_cast<unsigned char>(c));
      by_id.emplace_back(id.get<int64_t>(), std::move(word));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(tokenizer_path, ": ", e.what()));
  }
  std::sort(by_id.begin(), by_id.end());

  const std::string weights_path = JoinPath(out_dir, "model.safetensors");
  std::vector<NamedTensor> tensors;
  {
    ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(weights_path));
    for (const std::string& name : file->Names()) {
      ASSIGN_OR_RETURN(TensorInfo info, file->Info(name));
      ASSIGN_OR_RETURN(std::vector<float> data, file->LoadF32(name, info.shape));
      tensors.push_back({name, info.shape, std::move(data)});
    }
  }  // unmapped before the file is rewritten
  NamedTensor* embeddings = nullptr;
  for (NamedTensor& t : tensors) {
    if (t.name == "embeddings.tok_embeddings.weight") embeddings = &t;
  }
  for (NamedTensor& t : tensors) {
    if (t.name == "embeddings.word_embeddings.weight") embeddings = &t;  // BERT
  }
  if (embeddings == nullptr || embeddings->shape.size() != 2) {
    return absl::InternalError(absl::StrCat(weights_path, ": no token embedding matrix"));
  }
  const int64_t rows = embeddings->shape[0];
  const int64_t hidden = embeddings->shape[1];
  auto copy_row = [&](std::optional<int32_t> from, std::optional<int32_t> to) {
    if (!from || !to || *from < 0 || *to < 0 || *from >= rows || *to >= rows) return;
    std::copy_n(embeddings->data.begin() + static_cast<int64_t>(*from) * hidden, hidden,
                embeddings->data.begin() + static_cast<int64_t>(*to) * hidden);
  };
  copy_row(tokenizer.TokenToId("[CLS]"), tokenizer.mask_id());
  if (!spec.query_prefix.empty() && !spec.document_prefix.empty()) {
    copy_row(tokenizer.TokenToId(spec.document_prefix), tokenizer.TokenToId(spec.query_prefix));
  }
  absl::flat_hash_map<std::string, int64_t> first_row;
  for (const auto& [id, word] : by_id) {
    if (id < 0 || id >= rows) continue;
    auto [it, inserted] = first_row.try_emplace(word, id);
    if (inserted) continue;
    std::copy_n(embeddings->data.begin() + it->second * hidden, hidden,
                embeddings->data.begin() + id * hidden);
  }
  return WriteSafetensorsF32(weights_path, tensors);
}

}  // namespace

absl::StatusOr<SyntheticCheckpointSpec> SyntheticCheckpointPreset(std::string_view arch,
                                                                  std::string_view shape) {
  for (const ShapeRow& row : kShapes) {
    if (arch != row.arch || shape != row.name) continue;
    SyntheticCheckpointSpec spec;
    spec.shape.arch = row.arch;
    spec.shape.hidden = row.hidden;
    spec.shape.layers = row.layers;
    spec.shape.heads = row.heads;
    spec.shape.intermediate = row.intermediate;
    if (arch == "modernbert") {
      spec.shape.local_attention = row.local_attention;
      spec.shape.global_every = row.global_every;
      spec.shape.max_position = 8192;
      spec.query_prefix = "[Q] ";
      spec.document_prefix = "[D] ";
    } else {
      spec.shape.max_position = 512;
      spec.query_prefix = "[unused0]";
      spec.document_prefix = "[unused1]";
    }
    spec.dim = row.dim;
    if (shape == "lexical") {
      spec.lexical = true;
      spec.document_length = 300;
    }
    return spec;
  }
  std::string known;
  for (const ShapeRow& row : kShapes) {
    if (arch == row.arch) absl::StrAppend(&known, known.empty() ? "" : ", ", row.name);
  }
  if (known.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown arch \"", std::string(arch), "\" (modernbert, bert)"));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown shape \"", std::string(shape), "\" for ",
                                                 std::string(arch), " (", known, ")"));
}

absl::Status WriteSyntheticCheckpoint(const std::string& out_dir,
                                      const SyntheticCheckpointSpec& spec) {
  if (spec.vocab_from.empty()) {
    return absl::InvalidArgumentError("make-test-model: no tokenizer folder (vocab_from)");
  }
  if (spec.dim <= 0 || spec.query_length < 3 || spec.document_length < 3) {
    return absl::InvalidArgumentError(
        "make-test-model: dim must be positive and lengths at least 3");
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(out_dir, ": cannot create: ", ec.message()));

  std::vector<std::string> prefixes;
  for (const std::string* p : {&spec.query_prefix, &spec.document_prefix}) {
    if (!p->empty()) prefixes.push_back(*p);
  }
  RETURN_IF_ERROR(WriteTokenizerFiles(spec.vocab_from, out_dir, prefixes));
  ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::FromFile(JoinPath(out_dir, "tokenizer.json")));

  SyntheticBackboneShape shape = spec.shape;
  shape.vocab_size = tokenizer->vocab_size();
  RETURN_IF_ERROR(WriteSyntheticBackbone(out_dir, shape, spec.seed, spec.lexical));
  if (spec.lexical) RETURN_IF_ERROR(TieLexicalVariants(out_dir, *tokenizer, spec));

  // Dense: Gaussian projection with variance 1/hidden, which keeps distinct (near-orthogonal)
  // token states near-orthogonal after projection (Johnson-Lindenstrauss).
  Gaussian gaussian(spec.seed ^ 0xD1B54A32D192ED03ull);
  std::vector<float> weight(static_cast<size_t>(spec.dim) * shape.hidden);
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.hidden));
  for (float& w : weight) w = gaussian.Next() * scale;
  DenseConfig dense;
  dense.in_features = shape.hidden;
  dense.out_features = spec.dim;
  dense.bias = false;
  dense.activation = DenseActivation::kIdentity;
  RETURN_IF_ERROR(WriteDenseLayer(JoinPath(out_dir, "1_Dense"), dense, weight, {}));

  return WriteSentenceTransformersFiles(out_dir, spec);
}

}  // namespace tartan::encoder
