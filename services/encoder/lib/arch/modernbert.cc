// ModernBERT (transformers modeling_modernbert.py, eager attention semantics):
// tok_embeddings -> LayerNorm; per layer (pre-norm): x += Wo(attn(rope(Wqkv(attn_norm(x)))));
// x += mlp.Wo(act(in) * gate), (in | gate) = mlp.Wi(mlp_norm(x)); then final_norm.
// Layer 0's attn_norm is the identity. Local layers see |i - j| <= local_attention / 2.
#include <cmath>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/encoder/lib/arch/registry.h"
#include "services/encoder/lib/arch/weights.h"
#include "services/encoder/lib/layers/attention.h"
#include "services/encoder/lib/layers/linear.h"
#include "services/encoder/lib/layers/ops.h"
#include "services/encoder/lib/layers/rope.h"
#include "services/encoder/lib/layers/scratch.h"

namespace tartan::encoder {
namespace {

struct Norm {
  std::vector<float> gamma;
  std::vector<float> beta;  // empty without norm_bias
  const float* beta_or_null() const { return beta.empty() ? nullptr : beta.data(); }
};

struct ModernBertLayer {
  std::optional<Norm> attn_norm;  // absent on layer 0 (identity)
  Linear wqkv;                    // [3H, H]
  Linear wo;                      // [H, H]
  Norm mlp_norm;
  Linear wi;      // [2I, H]
  Linear mlp_wo;  // [H, I]
  bool global = true;
};

class ModernBert final : public Backbone {
 public:
  explicit ModernBert(int num_threads) : Backbone(num_threads) {}
  int hidden_size() const override { return config_.hidden_size; }
  int vocab_size() const override { return config_.vocab_size; }
  int max_position_embeddings() const override { return config_.max_position_embeddings; }
  std::string architecture() const override { return "modernbert"; }
  Precision precision() const override { return precision_; }

  static absl::StatusOr<std::unique_ptr<Backbone>> Create(const ModelConfig& config,
                                                          const SafetensorsFile& file,
                                                          MatmulBackend backend, int num_threads);

 private:
  absl::StatusOr<std::vector<float>> ForwardOnThreads(const PackedBatch& batch,
                                                      int num_threads) const override;
  ModelConfig config_;
  Precision precision_ = Precision::kFloat32;
  AttentionProducts products_ = AttentionProducts::kFloat32;
  std::vector<float> tok_embeddings_;  // [vocab, H]
  Norm emb_norm_;
  std::vector<ModernBertLayer> layers_;
  Norm final_norm_;
  RopeTable rope_global_;
  RopeTable rope_local_;
};

absl::StatusOr<Norm> LoadNorm(const WeightReader& w, const std::string& base, int dim, bool bias) {
  Norm n;
  ASSIGN_OR_RETURN(n.gamma, w.Load(base + ".weight", {dim}));
  if (bias) {
    ASSIGN_OR_RETURN(n.beta, w.Load(base + ".bias", {dim}));
  }
  return n;
}

absl::StatusOr<std::unique_ptr<Backbone>> ModernBert::Create(const ModelConfig& config,
                                                             const SafetensorsFile& file,
                                                             MatmulBackend backend,
                                                             int num_threads) {
  auto m = std::make_unique<ModernBert>(num_threads);
  m->config_ = config;
  m->precision_ = PrecisionOf(backend);
  m->products_ = AttentionProductsFor(backend);
  const int h = config.hidden_size;
  const int inter = config.intermediate_size;
  ASSIGN_OR_RETURN(WeightReader w, WeightReader::Create(&file, "embeddings.tok_embeddings.weight"));
  ASSIGN_OR_RETURN(m->tok_embeddings_,
                   w.Load("embeddings.tok_embeddings.weight", {config.vocab_size, h}));
  ASSIGN_OR_RETURN(m->emb_norm_, LoadNorm(w, "embeddings.norm", h, config.norm_bias));
  for (int i = 0; i < config.num_layers; ++i) {
    const std::string p = absl::StrCat("layers.", i, ".");
    ModernBertLayer layer;
    layer.global = config.layer_is_global[i];
    if (i != 0) {
      ASSIGN_OR_RETURN(layer.attn_norm, LoadNorm(w, p + "attn_norm", h, config.norm_bias));
    }
    ASSIGN_OR_RETURN(layer.wqkv, w.LoadLinear(p + "attn.Wqkv", 3 * h, h, config.attention_bias));
    ASSIGN_OR_RETURN(layer.wo, w.LoadLinear(p + "attn.Wo", h, h, config.attention_bias));
    ASSIGN_OR_RETURN(layer.mlp_norm, LoadNorm(w, p + "mlp_norm", h, config.norm_bias));
    ASSIGN_OR_RETURN(layer.wi, w.LoadLinear(p + "mlp.Wi", 2 * inter, h, config.mlp_bias));
    ASSIGN_OR_RETURN(layer.mlp_wo, w.LoadLinear(p + "mlp.Wo", h, inter, config.mlp_bias));
    for (Linear* lin : {&layer.wqkv, &layer.wo, &layer.wi, &layer.mlp_wo}) {
      RETURN_IF_ERROR(lin->SetBackend(backend));
    }
    m->layers_.push_back(std::move(layer));
  }
  ASSIGN_OR_RETURN(m->final_norm_, LoadNorm(w, "final_norm", h, config.norm_bias));
  m->rope_global_ =
      RopeTable(config.head_dim(), config.global_rope_theta, config.max_position_embeddings);
  m->rope_local_ =
      RopeTable(config.head_dim(), config.local_rope_theta, config.max_position_embeddings);
  return std::unique_ptr<Backbone>(std::move(m));
}

absl::StatusOr<std::vector<float>> ModernBert::ForwardOnThreads(const PackedBatch& batch,
                                                                int threads) const {
  const int64_t t = static_cast<int64_t>(batch.ids.size());
  const int h = config_.hidden_size;
  const int inter = config_.intermediate_size;
  std::vector<float> x(t * h);  // residual stream [T, H]
  if (t == 0) return x;
  // Intermediates: normed [T, H], qkv [T, 3H], ctx [T, H], mlp_in [T, 2I], mlp_act [T, I].
  thread_local std::vector<float> scratch;
  ScratchLease<float> lease(scratch, t * (5 * h + 3 * inter));
  float* const normed = lease.data();
  float* const qkv = normed + t * h;
  float* const ctx = qkv + t * 3 * h;
  float* const mlp_in = ctx + t * h;
  float* const mlp_act = mlp_in + t * 2 * inter;

  GatherRows(tok_embeddings_.data(), h, batch.ids.data(), t, x.data());
  LayerNormRows(x.data(), t, h, emb_norm_.gamma.data(), emb_norm_.beta_or_null(), config_.norm_eps,
                x.data());

  AttentionParams ap;
  ap.num_heads = config_.num_heads;
  ap.head_dim = config_.head_dim();
  ap.scale = 1.0f / std::sqrt(static_cast<float>(ap.head_dim));
  ap.num_threads = threads;
  ap.products = products_;
  for (const ModernBertLayer& layer : layers_) {
    const float* attn_in = x.data();
    if (layer.attn_norm.has_value()) {
      LayerNormRows(x.data(), t, h, layer.attn_norm->gamma.data(), layer.attn_norm->beta_or_null(),
                    config_.norm_eps, normed);
      attn_in = normed;
    }
    layer.wqkv.Forward(attn_in, t, qkv, threads);
    (layer.global ? rope_global_ : rope_local_)
        .ApplyToQK(qkv, 3 * h, config_.num_heads, batch.offsets);
    ap.half_window = layer.global ? -1 : config_.local_attention / 2;
    PackedSelfAttention(qkv, batch.offsets, batch.key_mask.data(), ap, ctx);
    layer.wo.ForwardAccumulate(ctx, t, x.data(), threads);

    LayerNormRows(x.data(), t, h, layer.mlp_norm.gamma.data(), layer.mlp_norm.beta_or_null(),
                  config_.norm_eps, normed);
    layer.wi.Forward(normed, t, mlp_in, threads);
    GatedActivation(mlp_in, t, inter, config_.activation, mlp_act);
    layer.mlp_wo.ForwardAccumulate(mlp_act, t, x.data(), threads);
  }
  LayerNormRows(x.data(), t, h, final_norm_.gamma.data(), final_norm_.beta_or_null(),
                config_.norm_eps, x.data());
  return x;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backbone>> CreateModernBert(const ModelConfig& config,
                                                           const SafetensorsFile& weights,
                                                           MatmulBackend backend, int num_threads) {
  return ModernBert::Create(config, weights, backend, num_threads);
}

}  // namespace tartan::encoder
