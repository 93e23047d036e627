// Internal to arch/: the architecture factories and helpers they share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "services/encoder/lib/arch/backbone.h"
#include "services/encoder/lib/layers/attention.h"
#include "services/encoder/lib/layers/linear.h"
#include "services/encoder/lib/model_config.h"
#include "services/encoder/lib/safetensors.h"

namespace tartan::encoder {

using BackboneFactory = absl::StatusOr<std::unique_ptr<Backbone>> (*)(
    const ModelConfig& config, const SafetensorsFile& weights, MatmulBackend backend,
    int num_threads);

absl::StatusOr<std::unique_ptr<Backbone>> CreateModernBert(const ModelConfig& config,
                                                           const SafetensorsFile& weights,
                                                           MatmulBackend backend, int num_threads);
absl::StatusOr<std::unique_ptr<Backbone>> CreateBert(const ModelConfig& config,
                                                     const SafetensorsFile& weights,
                                                     MatmulBackend backend, int num_threads);

// The attention products that go with the projections' backend (bf16 operands with bf16;
// with int8, bf16 where the CPU has native bf16, else float32).
AttentionProducts AttentionProductsFor(MatmulBackend backend);
// The precision a backbone whose projections run on `backend` reports.
Precision PrecisionOf(MatmulBackend backend);

// Checks offsets (start at 0, non-decreasing, end at ids.size()), key_mask size, ids in
// [0, vocab_size) and every sequence length <= max_positions.
absl::Status ValidatePackedBatch(const PackedBatch& batch, int vocab_size, int max_positions);

// Splits a valid batch's sequences (offsets: sequences + 1 entries) into at most `groups` runs
// of consecutive sequences with about equal token counts, for Backbone::Forward's one run per
// thread. Returns each run's first sequence, then the sequence count; empty (no split) when
// groups < 2, there are fewer than two sequences, the batch holds under groups × min_tokens
// tokens, or a run would hold under min_tokens tokens.
std::vector<size_t> SplitSequencesByTokens(const std::vector<int32_t>& offsets, int groups,
                                           int64_t min_tokens);

}  // namespace tartan::encoder
