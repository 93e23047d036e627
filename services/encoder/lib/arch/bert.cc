// BERT (transformers modeling_bert.py): (word + token_type[0]) + position embeddings ->
// LayerNorm; per layer (post-LN): x = LN(x + dense(attn(qkv(x)))); x = LN(x + W2 act(W1 x)).
// Stanford HF_ColBERT checkpoints prefix every key with "bert.".
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/encoder/lib/arch/registry.h"
#include "services/encoder/lib/arch/weights.h"
#include "services/encoder/lib/layers/attention.h"
#include "services/encoder/lib/layers/linear.h"
#include "services/encoder/lib/layers/ops.h"
#include "services/encoder/lib/layers/scratch.h"

namespace tartan::encoder {
namespace {

struct LayerNormWeights {
  std::vector<float> gamma;
  std::vector<float> beta;
};

struct BertLayer {
  Linear qkv;  // query, key, value weights stacked: [3H, H] + bias [3H]
  Linear attn_out;
  LayerNormWeights attn_ln;
  Linear inter;  // [I, H]
  Linear out;    // [H, I]
  LayerNormWeights out_ln;
};

class Bert final : public Backbone {
 public:
  explicit Bert(int num_threads) : Backbone(num_threads) {}
  int hidden_size() const override { return config_.hidden_size; }
  int vocab_size() const override { return config_.vocab_size; }
  int max_position_embeddings() const override { return config_.max_position_embeddings; }
  std::string architecture() const override { return "bert"; }
  Precision precision() const override { return precision_; }
  absl::StatusOr<std::vector<float>> ForwardOnThreads(const PackedBatch& batch,
                                                      int num_threads) const override;

  ModelConfig config_;
  Precision precision_ = Precision::kFloat32;
  AttentionProducts products_ = AttentionProducts::kFloat32;
  std::vector<float> word_;      // [vocab, H]
  std::vector<float> position_;  // [max_pos, H]
  std::vector<float> type0_;     // [H] token-type 0 row
  LayerNormWeights emb_ln_;
  std::vector<BertLayer> layers_;
};

absl::StatusOr<LayerNormWeights> LoadLayerNorm(const WeightReader& w, const std::string& base,
                                               int dim) {
  LayerNormWeights n;
  ASSIGN_OR_RETURN(n.gamma, w.Load(base + ".weight", {dim}));
  ASSIGN_OR_RETURN(n.beta, w.Load(base + ".bias", {dim}));
  return n;
}

absl::StatusOr<std::vector<float>> Bert::ForwardOnThreads(const PackedBatch& batch,
                                                          int threads) const {
  const int64_t t = static_cast<int64_t>(batch.ids.size());
  const int h = config_.hidden_size;
  const int inter_size = config_.intermediate_size;
  std::vector<float> x(t * h);
  if (t == 0) return x;
  // Intermediates: qkv [T, 3H], ctx [T, H], inter [T, I] (layers/scratch.h).
  thread_local std::vector<float> scratch;
  ScratchLease<float> lease(scratch, t * (4 * h + inter_size));
  float* const qkv = lease.data();
  float* const ctx = qkv + t * 3 * h;
  float* const inter = ctx + t * h;

  GatherRows(word_.data(), h, batch.ids.data(), t, x.data());
  for (size_t b = 0; b + 1 < batch.offsets.size(); ++b) {
    for (int32_t i = batch.offsets[b]; i < batch.offsets[b + 1]; ++i) {
      float* xr = x.data() + static_cast<int64_t>(i) * h;
      const float* pr = position_.data() + static_cast<int64_t>(i - batch.offsets[b]) * h;
      for (int d = 0; d < h; ++d) xr[d] = (xr[d] + type0_[d]) + pr[d];
    }
  }
  LayerNormRows(x.data(), t, h, emb_ln_.gamma.data(), emb_ln_.beta.data(), config_.norm_eps,
                x.data());

  AttentionParams ap;
  ap.num_heads = config_.num_heads;
  ap.head_dim = config_.head_dim();
  ap.scale = 1.0f / std::sqrt(static_cast<float>(ap.head_dim));
  ap.num_threads = threads;
  ap.products = products_;
  ap.half_window = -1;
  for (const BertLayer& layer : layers_) {
    layer.qkv.Forward(x.data(), t, qkv, threads);
    PackedSelfAttention(qkv, batch.offsets, batch.key_mask.data(), ap, ctx);
    layer.attn_out.ForwardAccumulate(ctx, t, x.data(), threads);
    LayerNormRows(x.data(), t, h, layer.attn_ln.gamma.data(), layer.attn_ln.beta.data(),
                  config_.norm_eps, x.data());
    layer.inter.Forward(x.data(), t, inter, threads);
    ActivateInPlace(inter, t * inter_size, config_.activation);
    layer.out.ForwardAccumulate(inter, t, x.data(), threads);
    LayerNormRows(x.data(), t, h, layer.out_ln.gamma.data(), layer.out_ln.beta.data(),
                  config_.norm_eps, x.data());
  }
  return x;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backbone>> CreateBert(const ModelConfig& config,
                                                     const SafetensorsFile& file,
                                                     MatmulBackend backend, int num_threads) {
  auto m = std::make_unique<Bert>(num_threads);
  m->config_ = config;
  m->precision_ = PrecisionOf(backend);
  m->products_ = AttentionProductsFor(backend);
  const int h = config.hidden_size;
  const int inter = config.intermediate_size;
  ASSIGN_OR_RETURN(WeightReader w,
                   WeightReader::Create(&file, "embeddings.word_embeddings.weight"));
  ASSIGN_OR_RETURN(m->word_, w.Load("embeddings.word_embeddings.weight", {config.vocab_size, h}));
  ASSIGN_OR_RETURN(m->position_, w.Load("embeddings.position_embeddings.weight",
                                        {config.max_position_embeddings, h}));
  ASSIGN_OR_RETURN(std::vector<float> types,
                   w.Load("embeddings.token_type_embeddings.weight", {config.type_vocab_size, h}));
  m->type0_.assign(types.begin(), types.begin() + h);
  ASSIGN_OR_RETURN(m->emb_ln_, LoadLayerNorm(w, "embeddings.LayerNorm", h));
  for (int i = 0; i < config.num_layers; ++i) {
    const std::string p = absl::StrCat("encoder.layer.", i, ".");
    BertLayer layer;
    // Stack q, k, v into one [3H, H] product so attention reads the same packed layout as
    // ModernBERT's fused Wqkv.
    std::vector<float> wqkv, bqkv;
    for (const char* part : {"query", "key", "value"}) {
      ASSIGN_OR_RETURN(Linear l, w.LoadLinear(p + "attention.self." + part, h, h, true));
      wqkv.insert(wqkv.end(), l.weight().begin(), l.weight().end());
      bqkv.insert(bqkv.end(), l.bias().begin(), l.bias().end());
    }
    layer.qkv = Linear(3 * h, h, std::move(wqkv), std::move(bqkv));
    ASSIGN_OR_RETURN(layer.attn_out, w.LoadLinear(p + "attention.output.dense", h, h, true));
    ASSIGN_OR_RETURN(layer.attn_ln, LoadLayerNorm(w, p + "attention.output.LayerNorm", h));
    ASSIGN_OR_RETURN(layer.inter, w.LoadLinear(p + "intermediate.dense", inter, h, true));
    ASSIGN_OR_RETURN(layer.out, w.LoadLinear(p + "output.dense", h, inter, true));
    ASSIGN_OR_RETURN(layer.out_ln, LoadLayerNorm(w, p + "output.LayerNorm", h));
    for (Linear* lin : {&layer.qkv, &layer.attn_out, &layer.inter, &layer.out}) {
      RETURN_IF_ERROR(lin->SetBackend(backend));
    }
    m->layers_.push_back(std::move(layer));
  }
  return std::unique_ptr<Backbone>(std::move(m));
}

}  // namespace tartan::encoder
