#include "services/encoder/lib/arch/synthetic_backbone.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/encoder/lib/safetensors.h"

namespace tartan::encoder {
namespace {

class TensorMaker {
 public:
  explicit TensorMaker(uint64_t seed) : rng_(seed) {}
  // Normal(mean, stddev) values.
  void Add(const std::string& name, std::vector<int64_t> shape, float mean, float stddev) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> data(n);
    std::normal_distribution<float> dist(mean, stddev);
    for (float& v : data) v = stddev == 0.0f ? mean : dist(rng_);
    tensors_.push_back({name, std::move(shape), std::move(data)});
  }
  std::vector<NamedTensor>& tensors() { return tensors_; }

 private:
  std::mt19937_64 rng_;
  std::vector<NamedTensor> tensors_;
};

// Weight scale ~ 1/sqrt(fan_in) keeps activations O(1) through many layers.
float Scale(int fan_in) { return 1.0f / std::sqrt(static_cast<float>(fan_in)); }

}  // namespace

absl::Status WriteSyntheticBackbone(const std::string& dir, const SyntheticBackboneShape& s,
                                    uint64_t seed, bool lexical) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("WriteSyntheticBackbone: cannot create ", dir));
  if (s.hidden % s.heads != 0 || (s.hidden / s.heads) % 2 != 0) {
    return absl::InvalidArgumentError(
        "WriteSyntheticBackbone: hidden/heads must be an even integer");
  }
  const int h = s.hidden;
  const int inter = s.intermediate;
  const float out_scale = lexical ? 0.0f : 1.0f;
  TensorMaker m(seed);
  nlohmann::json config;
  config["hidden_size"] = h;
  config["num_hidden_layers"] = s.layers;
  config["num_attention_heads"] = s.heads;
  config["intermediate_size"] = inter;
  config["vocab_size"] = s.vocab_size;
  config["torch_dtype"] = "float32";
  if (s.arch == "modernbert") {
    config["model_type"] = "modernbert";
    config["architectures"] = {"ModernBertModel"};
    config["hidden_activation"] = "gelu";
    config["max_position_embeddings"] = s.max_position;
    config["local_attention"] = s.local_attention;
    config["global_attn_every_n_layers"] = s.global_every;
    config["global_rope_theta"] = 160000.0;
    config["local_rope_theta"] = 10000.0;
    config["norm_eps"] = 1e-5;
    config["norm_bias"] = false;
    config["attention_bias"] = false;
    config["mlp_bias"] = false;
    m.Add("embeddings.tok_embeddings.weight", {s.vocab_size, h}, 0.0f, 1.0f);
    m.Add("embeddings.norm.weight", {h}, 1.0f, 0.1f);
    for (int i = 0; i < s.layers; ++i) {
      const std::string p = absl::StrCat("layers.", i, ".");
      if (i != 0) m.Add(p + "attn_norm.weight", {h}, 1.0f, 0.1f);
      m.Add(p + "attn.Wqkv.weight", {3 * h, h}, 0.0f, Scale(h));
      m.Add(p + "attn.Wo.weight", {h, h}, 0.0f, out_scale * Scale(h));
      m.Add(p + "mlp_norm.weight", {h}, 1.0f, 0.1f);
      m.Add(p + "mlp.Wi.weight", {2 * inter, h}, 0.0f, Scale(h));
      m.Add(p + "mlp.Wo.weight", {h, inter}, 0.0f, out_scale * Scale(inter));
    }
    m.Add("final_norm.weight", {h}, 1.0f, 0.1f);
  } else if (s.arch == "bert") {
    const int max_pos = s.max_position == 8192 ? 512 : s.max_position;
    config["model_type"] = "bert";
    config["architectures"] = {"BertModel"};
    config["hidden_act"] = "gelu";
    config["max_position_embeddings"] = max_pos;
    config["type_vocab_size"] = s.type_vocab_size;
    config["layer_norm_eps"] = 1e-12;
    config["position_embedding_type"] = "absolute";
    m.Add("embeddings.word_embeddings.weight", {s.vocab_size, h}, 0.0f, 1.0f);
    m.Add("embeddings.position_embeddings.weight", {max_pos, h}, 0.0f, lexical ? 0.0f : 0.5f);
    m.Add("embeddings.token_type_embeddings.weight", {s.type_vocab_size, h}, 0.0f,
          lexical ? 0.0f : 0.5f);
    m.Add("embeddings.LayerNorm.weight", {h}, 1.0f, 0.1f);
    m.Add("embeddings.LayerNorm.bias", {h}, 0.0f, 0.1f);
    for (int i = 0; i < s.layers; ++i) {
      const std::string p = absl::StrCat("encoder.layer.", i, ".");
      for (const char* part : {"query", "key", "value"}) {
        m.Add(p + "attention.self." + part + ".weight", {h, h}, 0.0f, Scale(h));
        m.Add(p + "attention.self." + part + ".bias", {h}, 0.0f, 0.02f);
      }
      m.Add(p + "attention.output.dense.weight", {h, h}, 0.0f, out_scale * Scale(h));
      m.Add(p + "attention.output.dense.bias", {h}, 0.0f, out_scale * 0.02f);
      m.Add(p + "attention.output.LayerNorm.weight", {h}, 1.0f, lexical ? 0.0f : 0.1f);
      m.Add(p + "attention.output.LayerNorm.bias", {h}, 0.0f, lexical ? 0.0f : 0.1f);
      m.Add(p + "intermediate.dense.weight", {inter, h}, 0.0f, Scale(h));
      m.Add(p + "intermediate.dense.bias", {inter}, 0.0f, 0.02f);
      m.Add(p + "output.dense.weight", {h, inter}, 0.0f, out_scale * Scale(inter));
      m.Add(p + "output.dense.bias", {h}, 0.0f, out_scale * 0.02f);
      m.Add(p + "output.LayerNorm.weight", {h}, 1.0f, lexical ? 0.0f : 0.1f);
      m.Add(p + "output.LayerNorm.bias", {h}, 0.0f, lexical ? 0.0f : 0.1f);
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("WriteSyntheticBackbone: unknown arch '", s.arch, "' (modernbert, bert)"));
  }
  const std::string config_path = (std::filesystem::path(dir) / "config.json").string();
  {
    std::ofstream out(config_path, std::ios::trunc);
    if (!out) {
      return absl::InternalError(
          absl::StrCat("WriteSyntheticBackbone: cannot write ", config_path));
    }
    out << config.dump(2) << "\n";
  }
  return WriteSafetensorsF32((std::filesystem::path(dir) / "model.safetensors").string(),
                             m.tensors());
}

}  // namespace tartan::encoder
