// PyLate-exact ColBERT encoding: text -> per-token L2-normalised vectors, following
// ../shared/PYLATE_ENCODE_SPEC.md (prompt, strip, lower-case, tokenize with truncation, query
// expansion with [MASK], prefix insertion, backbone, Dense chain, selection, normalisation,
// optional hierarchical pooling of documents).
//
// Batching: the texts of one Encode call are sorted by token count and packed (no padding)
// into backbone batches bounded by EncoderOptions::max_batch_tokens. Padded keys get exactly
// zero attention weight in PyLate, so packing gives the same vectors as one text at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/encoder/lib/arch/backbone.h"
#include "services/encoder/lib/colbert/dense.h"
#include "services/encoder/lib/colbert/model_folder.h"
#include "services/encoder/lib/colbert/token_pooling.h"
#include "services/encoder/lib/tokenizer/tokenizer.h"

namespace tartan::encoder {

struct EncoderOptions {
  int num_threads = 1;  // threads per backbone forward (BLAS and attention)
  Precision precision = Precision::kFloat32;
  bool emulate_bf16_if_unsupported = false;  // see BackboneOptions
  // Upper bound on the tokens of one backbone forward (a single longer text still runs alone).
  int max_batch_tokens = 8192;
  int max_batch_size = 64;  // texts per backbone forward
};

// "fp32" / "bf16" / "int8" / "auto" (also "float32", "f32", "bfloat16"), any case. "auto" gives
// Precision::kAuto, resolved at load (bf16 where the CPU has native bf16, else fp32; never
// int8, which is lossy and opt-in).
absl::StatusOr<Precision> ParsePrecision(std::string_view name);
std::string_view PrecisionName(Precision precision);

struct ModelInfo {
  std::string name;          // folder basename
  std::string architecture;  // backbone: "modernbert" | "bert"
  int hidden_size = 0;
  int dim = 0;  // output vector size (last Dense out_features)
  int query_length = 0;
  int document_length = 0;
  std::string query_prefix;     // "" = none
  std::string document_prefix;  // "" = none
  std::optional<int32_t> query_prefix_id;
  std::optional<int32_t> document_prefix_id;
  int32_t pad_id = 0;  // [MASK] when the tokenizer has one: query expansion token
  std::map<std::string, std::string> prompts;
  std::optional<std::string> default_prompt_name;
  std::vector<std::string> skiplist_words;
  std::vector<int32_t> skiplist_ids;  // sorted, unique
  bool do_query_expansion = true;
  bool attend_to_expansion_tokens = false;
  bool do_lower_case = false;
  // In use (bf16 may fall back to fp32; int8 is never a fallback); never kAuto.
  Precision precision = Precision::kFloat32;
  Precision requested_precision = Precision::kFloat32;  // EncoderOptions::precision (may be kAuto)
  // Kernels (blas/kernel_info.h). The products: oneDNN's ISA, the projections' implementation
  // ("onednn:brg:avx512_core_bf16"; int8: "onednn:brg:avx512_core_vnni"), the attention
  // products' ("gemm:jit"; int8 runs them in bf16 where native, else f32), and the verdict
  // against the CPU ("ok" | "fallback"). OpenBLAS (bf16 emulation only): openblas_get_corename()
  // and its verdict ("ok", "fallback", "below_cpu"). What to do about either ("" when all ok).
  std::string onednn_isa;
  std::string matmul_impl;
  std::string attention_impl;
  std::string matmul_verdict;
  std::string blas_core;
  std::string blas_core_verdict;
  std::string kernel_warning;
};

struct EncodedText {
  std::vector<int32_t> ids;  // model input ids (after prefix insertion and [MASK] padding)
  int dim = 0;
  std::vector<float> vectors;  // [num_tokens, dim] row-major
  int num_tokens = 0;
};

struct EncodeParams {
  bool is_query = false;
  // Selects prompts[name]; unknown names are InvalidArgument. Unset: the model's
  // default_prompt_name, if any (applied to queries and documents alike, as PyLate does).
  std::optional<std::string> prompt_name;
  // Explicit prompt text; wins over prompt_name (PyLate's `prompt` argument).
  std::optional<std::string> prompt;
  int pool_factor = 1;  // documents only; <= 1 disables pooling
  int protected_tokens = 1;
  PoolingVersion pooling_version = PoolingVersion::kMain;
  // Polled before each backbone batch; a non-OK status ends the call with it (work whose
  // callers have all gone stops; not part of batch compatibility).
  std::function<absl::Status()> interrupt;
};

class ColbertEncoder {
 public:
  static absl::StatusOr<std::unique_ptr<ColbertEncoder>> Load(const std::string& model_dir,
                                                              const EncoderOptions& options);
  ~ColbertEncoder();

  // Thread-safe. Results are in input order.
  absl::StatusOr<std::vector<EncodedText>> Encode(const std::vector<std::string>& texts,
                                                  const EncodeParams& params) const;
  absl::StatusOr<std::vector<EncodedText>> Encode(const std::vector<std::string>& texts,
                                                  bool is_query,
                                                  std::optional<std::string> prompt_name,
                                                  int pool_factor) const;

  // The model input ids of one text (prompt, strip, tokenize, expansion, prefix); exposed for
  // tests and tools. `attention` (optional) receives PyLate's attention mask.
  absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text, const EncodeParams& params,
                                                std::vector<uint8_t>* attention = nullptr) const;

  const ModelInfo& info() const { return info_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  ColbertEncoder() = default;
  absl::StatusOr<std::string> ResolvePrompt(const EncodeParams& params) const;
  std::vector<int32_t> TokenizeWithPrompt(std::string_view text, const std::string& prompt,
                                          bool is_query, std::vector<uint8_t>* attention) const;

  EncoderOptions options_;
  ModelInfo info_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Backbone> backbone_;
  std::vector<DenseLayer> dense_;
};

}  // namespace tartan::encoder
