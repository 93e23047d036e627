// The transformer backbone of the encoder: token ids in, last hidden state out.
// One file per architecture family (modernbert.cc, bert.cc) behind an architecture registry
// (backbone.cc) keyed by config.json's model_type.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/encoder/lib/blas/precision.h"

namespace tartan::encoder {

struct BackboneOptions {
  int num_threads = 1;  // threads per Forward call (BLAS and attention)
  Precision precision = Precision::kFloat32;
  // kBFloat16 runs on oneDNN when the CPU has native bf16 (AVX512-BF16/AMX, checked at run
  // time). Elsewhere it falls back to float32 with a warning, unless this is set: then the bf16
  // numerics are emulated through sgemm (no speed-up; for tests and accuracy checks).
  bool emulate_bf16_if_unsupported = false;
};

// A packed (unpadded) batch: sequences concatenated back to back, no padding.
struct PackedBatch {
  std::vector<int32_t> ids;       // total_tokens
  std::vector<int32_t> offsets;   // batch+1, offsets[0]=0
  std::vector<uint8_t> key_mask;  // total_tokens; 1 = may be attended to as a key; 0 = masked key
                                  // (PyLate query expansion [MASK] with
                                  // attend_to_expansion_tokens=false) but still computed as a
                                  // query row
};

class Backbone {
 public:
  virtual ~Backbone() = default;
  virtual int hidden_size() const = 0;
  virtual int vocab_size() const = 0;
  virtual int max_position_embeddings() const = 0;
  virtual std::string architecture() const = 0;  // "modernbert" | "bert"
  // The precision actually in use (kFloat32 when bf16 was requested but unavailable).
  virtual Precision precision() const = 0;
  // Last hidden state, row-major [total_tokens, hidden_size], same packing as the input.
  // Thread-safe (const); each call allocates its own scratch. Errors on malformed batches
  // (bad offsets, ids out of the vocabulary, sequences longer than max_position_embeddings).
  //
  // Threads: a batch whose sequences split into num_threads groups of at least
  // kMinTokensPerThread tokens each runs one group per thread, every product single-threaded
  // (sequences are independent, so nothing is serial and no product forks and joins). Otherwise
  // (one query) all threads share each product.
  absl::StatusOr<std::vector<float>> Forward(const PackedBatch& batch) const;

  // Fewer tokens per group than this, and the weights streamed once per group would cost more
  // than sharing each product: a product's rows then read the weights once for all threads.
  static constexpr int64_t kMinTokensPerThread = 128;

 protected:
  explicit Backbone(int num_threads) : num_threads_(num_threads) {}

  // Forward on a valid batch, every product and attention on num_threads threads.
  virtual absl::StatusOr<std::vector<float>> ForwardOnThreads(const PackedBatch& batch,
                                                              int num_threads) const = 0;

  const int num_threads_;  // BackboneOptions::num_threads, at least 1
};

// Reads <dir>/config.json (model_type dispatch through the architecture registry) and
// <dir>/model.safetensors (or the sharded model.safetensors.index.json).
absl::StatusOr<std::unique_ptr<Backbone>> LoadBackbone(const std::string& model_dir,
                                                       const BackboneOptions& options);

// Architectures LoadBackbone knows ("modernbert", "bert").
std::vector<std::string> RegisteredArchitectures();

}  // namespace tartan::encoder
