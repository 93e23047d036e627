#include "services/encoder/lib/model_config.h"

#include <fstream>
#include <sstream>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/json_integer.h"
#include "nlohmann/json.hpp"

namespace tartan::encoder {
namespace {

using nlohmann::json;

// v as T; integers through JsonInteger (a float or out-of-range value is a type error).
template <typename T>
T Read(const json& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return JsonInteger<T>(v);
  } else {
    return v.get<T>();
  }
}

// Reads an optional key; a missing key or JSON null keeps `*out`.
template <typename T>
void Optional(const json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) *out = Read<T>(*it);
}

template <typename T>
absl::Status Required(const json& j, const char* key, T* out, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config ", source, ": missing required key '", key, "'"));
  }
  *out = Read<T>(*it);
  return absl::OkStatus();
}

#define CFG_RETURN_IF_ERROR(expr) \
  do {                            \
    absl::Status s_ = (expr);     \
    if (!s_.ok()) return s_;      \
  } while (0)

absl::Status ParseModernBert(const json& j, const std::string& source, ModelConfig* c) {
  c->norm_eps = 1e-5f;
  Optional(j, "norm_eps", &c->norm_eps);
  Optional(j, "norm_bias", &c->norm_bias);
  Optional(j, "attention_bias", &c->attention_bias);
  Optional(j, "mlp_bias", &c->mlp_bias);
  Optional(j, "local_attention", &c->local_attention);
  c->max_position_embeddings = 8192;
  Optional(j, "max_position_embeddings", &c->max_position_embeddings);
  std::string act = "gelu";
  Optional(j, "hidden_activation", &act);
  auto parsed = ParseActivation(act);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config ", source, ": hidden_activation: ", parsed.status().message()));
  }
  c->activation = *parsed;

  // Layer pattern: newer configs list `layer_types`; older ones give global_attn_every_n_layers.
  c->layer_is_global.assign(c->num_layers, false);
  auto lt = j.find("layer_types");
  if (lt != j.end() && !lt->is_null()) {
    const auto types = lt->get<std::vector<std::string>>();
    if (static_cast<int>(types.size()) != c->num_layers) {
      return absl::InvalidArgumentError(absl::StrCat("model config ", source, ": layer_types has ",
                                                     types.size(), " entries for ", c->num_layers,
                                                     " layers"));
    }
    for (int i = 0; i < c->num_layers; ++i) {
      if (types[i] == "full_attention") {
        c->layer_is_global[i] = true;
      } else if (types[i] != "sliding_attention") {
        return absl::InvalidArgumentError(
            absl::StrCat("model config ", source, ": unknown layer type '", types[i], "'"));
      }
    }
  } else {
    int every = 3;
    Optional(j, "global_attn_every_n_layers", &every);
    if (every <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model config ", source, ": global_attn_every_n_layers must be > 0"));
    }
    for (int i = 0; i < c->num_layers; ++i) c->layer_is_global[i] = (i % every) == 0;
  }

  // RoPE theta: old spelling global_rope_theta / local_rope_theta (local null -> global, as in
  // transformers 4.48), newer spelling rope_parameters.{full,sliding}_attention.rope_theta.
  c->global_rope_theta = 160000.0;
  Optional(j, "global_rope_theta", &c->global_rope_theta);
  c->local_rope_theta = c->global_rope_theta;
  auto local = j.find("local_rope_theta");
  if (local != j.end() && !local->is_null()) c->local_rope_theta = local->get<double>();
  auto rp = j.find("rope_parameters");
  if (rp != j.end() && rp->is_object()) {
    auto full = rp->find("full_attention");
    if (full != rp->end() && full->is_object())
      Optional(*full, "rope_theta", &c->global_rope_theta);
    auto sliding = rp->find("sliding_attention");
    if (sliding != rp->end() && sliding->is_object()) {
      Optional(*sliding, "rope_theta", &c->local_rope_theta);
    } else if (local == j.end() || local->is_null()) {
      c->local_rope_theta = 10000.0;  // newer transformers default for sliding layers
    }
  }
  if (c->local_attention <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config ", source, ": local_attention must be > 0"));
  }
  return absl::OkStatus();
}

absl::Status ParseBert(const json& j, const std::string& source, ModelConfig* c) {
  c->norm_eps = 1e-12f;
  Optional(j, "layer_norm_eps", &c->norm_eps);
  c->max_position_embeddings = 512;
  Optional(j, "max_position_embeddings", &c->max_position_embeddings);
  Optional(j, "type_vocab_size", &c->type_vocab_size);
  std::string act = "gelu";
  Optional(j, "hidden_act", &act);
  auto parsed = ParseActivation(act);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config ", source, ": hidden_act: ", parsed.status().message()));
  }
  c->activation = *parsed;
  std::string pos = "absolute";
  Optional(j, "position_embedding_type", &pos);
  if (pos != "absolute") {
    return absl::UnimplementedError(absl::StrCat("model config ", source,
                                                 ": position_embedding_type '", pos,
                                                 "' is not supported (only 'absolute')"));
  }
  c->layer_is_global.assign(c->num_layers, true);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Activation> ParseActivation(const std::string& name) {
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") {
    return Activation::kGeluTanh;
  }
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "relu") return Activation::kRelu;
  return absl::UnimplementedError(absl::StrCat("unsupported activation '", name, "'"));
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source) {
  ModelConfig c;
  try {
    const json j = json::parse(json_text);
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("model config ", source, ": not an object"));
    }
    CFG_RETURN_IF_ERROR(Required(j, "model_type", &c.model_type, source));
    CFG_RETURN_IF_ERROR(Required(j, "vocab_size", &c.vocab_size, source));
    CFG_RETURN_IF_ERROR(Required(j, "hidden_size", &c.hidden_size, source));
    CFG_RETURN_IF_ERROR(Required(j, "num_hidden_layers", &c.num_layers, source));
    CFG_RETURN_IF_ERROR(Required(j, "num_attention_heads", &c.num_heads, source));
    CFG_RETURN_IF_ERROR(Required(j, "intermediate_size", &c.intermediate_size, source));
    if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_layers <= 0 || c.num_heads <= 0 ||
        c.intermediate_size <= 0 || c.hidden_size % c.num_heads != 0 || c.head_dim() % 2 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model config ", source, ": inconsistent sizes (hidden ", c.hidden_size, ", heads ",
          c.num_heads, ", layers ", c.num_layers, ", intermediate ", c.intermediate_size, ")"));
    }
    if (c.model_type == "modernbert") {
      CFG_RETURN_IF_ERROR(ParseModernBert(j, source, &c));
    } else if (c.model_type == "bert") {
      CFG_RETURN_IF_ERROR(ParseBert(j, source, &c));
    } else {
      return absl::UnimplementedError(absl::StrCat("model config ", source, ": model_type '",
                                                   c.model_type,
                                                   "' is not supported (modernbert, bert)"));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config ", source, ": malformed JSON: ", e.what()));
  }
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("model config ", path, " not found"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseModelConfig(ss.str(), path);
}

}  // namespace tartan::encoder
