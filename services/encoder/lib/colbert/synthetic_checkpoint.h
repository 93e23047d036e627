// Synthetic (random-weight) ColBERT checkpoints in exact PyLate folder layout: what
// `tartanctl make-test-model` writes for the demo cluster and the Helm chart's test-model
// initContainer, and what the encoder tests and benchmarks load.
//
// Written files: config.json + model.safetensors (WriteSyntheticBackbone), tokenizer.json /
// tokenizer_config.json / special_tokens_map.json (+ vocab.txt) copied from a real tokenizer
// with the prefix tokens PyLate adds (ModernBERT: "[Q] " = 50368, "[D] " = 50369), modules.json,
// config_sentence_transformers.json, sentence_bert_config.json, 1_Dense/{config.json,
// model.safetensors}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/encoder/lib/arch/synthetic_backbone.h"

namespace tartan::encoder {

struct SyntheticCheckpointSpec {
  SyntheticBackboneShape shape;  // vocab_size is taken from the tokenizer
  int dim = 32;                  // Dense out_features
  int query_length = 32;
  int document_length = 180;
  std::string query_prefix;     // default: "[Q] " (modernbert) / "[unused0]" (bert)
  std::string document_prefix;  // default: "[D] " (modernbert) / "[unused1]" (bert)
  uint64_t seed = 0;
  // Zero attention / MLP output projections: each token's vector depends on the token alone,
  // so MaxSim becomes term matching (the demo cluster's default model). For ModernBERT the
  // spellings of one word that differ only by a leading space ("Ġ") or ASCII case share one
  // embedding row, so "Paris" at the start of a query matches " paris" inside a document.
  bool lexical = false;
  std::string vocab_from;  // folder with tokenizer.json (+ tokenizer_config.json, ...)
};

// Named shapes: "tiny", "modernbert-base", "ettin-32m", "ettin-17m" (modernbert), "bert-small",
// "tiny" (bert). Sets shape, dim and lengths; `arch` is "modernbert" or "bert".
absl::StatusOr<SyntheticCheckpointSpec> SyntheticCheckpointPreset(std::string_view arch,
                                                                  std::string_view shape);

absl::Status WriteSyntheticCheckpoint(const std::string& out_dir,
                                      const SyntheticCheckpointSpec& spec);

}  // namespace tartan::encoder
