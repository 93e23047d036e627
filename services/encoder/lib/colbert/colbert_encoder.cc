#include "services/encoder/lib/colbert/colbert_encoder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/encoder/lib/blas/kernel_info.h"
#include "services/encoder/lib/blas/packed_matmul.h"
#include "services/encoder/lib/colbert/dense_io.h"
#include "services/encoder/lib/model_config.h"
#include "services/encoder/lib/tokenizer/text_util.h"

namespace tartan::encoder {
namespace {

// The content of a special token in special_tokens_map.json / tokenizer_config.json, which
// stores either a string or an object {"content": ...}.
std::optional<std::string> ReadSpecialToken(const std::string& dir, const char* key) {
  for (const char* file : {"special_tokens_map.json", "tokenizer_config.json"}) {
    const std::string path = JoinPath(dir, file);
    if (!FileExists(path)) continue;
    auto text = ReadTextFile(path);
    if (!text.ok()) continue;
    try {
      nlohmann::json j = nlohmann::json::parse(*text);
      if (!j.is_object() || !j.contains(key)) continue;
      const nlohmann::json& v = j[key];
      if (v.is_string()) return v.get<std::string>();
      if (v.is_object() && v.contains("content") && v["content"].is_string()) {
        return v["content"].get<std::string>();
      }
    } catch (const nlohmann::json::exception&) {
      continue;  // optional metadata; tokenizer.json is authoritative
    }
  }
  return std::nullopt;
}

// PyLate pads (and expands queries) with [MASK] when the tokenizer has one, else EOS, else the
// tokenizer's own pad token.
absl::StatusOr<int32_t> ResolvePadId(const Tokenizer& tokenizer, const std::string& dir) {
  if (auto mask = tokenizer.mask_id()) return *mask;
  for (const char* key : {"mask_token", "eos_token", "pad_token"}) {
    if (auto token = ReadSpecialToken(dir, key)) {
      if (auto id = tokenizer.TokenToId(*token)) return *id;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      dir, ": the tokenizer has no [MASK], EOS or pad token to use for query expansion"));
}

// L2 normalisation as torch.nn.functional.normalize: x / max(||x||, 1e-12).
void NormalizeRows(float* rows, int64_t n, int dim) {
  for (int64_t r = 0; r < n; ++r) {
    float* row = rows + r * dim;
    double sum = 0.0;
    for (int d = 0; d < dim; ++d) sum += static_cast<double>(row[d]) * row[d];
    const float norm = std::max(static_cast<float>(std::sqrt(sum)), 1e-12f);
    for (int d = 0; d < dim; ++d) row[d] /= norm;
  }
}

std::string Basename(const std::string& dir) {
  std::filesystem::path p(dir);
  if (!p.has_filename()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

absl::StatusOr<Precision> ParsePrecision(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(std::string(name));
  if (lower == "fp32" || lower == "float32" || lower == "f32") return Precision::kFloat32;
  if (lower == "bf16" || lower == "bfloat16") return Precision::kBFloat16;
  if (lower == "int8") return Precision::kInt8;
  if (lower == "auto") return Precision::kAuto;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown precision \"", lower, "\" (expected auto, fp32, bf16 or int8)"));
}

std::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFloat32:
      return "fp32";
    case Precision::kBFloat16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
    case Precision::kAuto:
      return "auto";
  }
  return "?";
}

ColbertEncoder::~ColbertEncoder() = default;

absl::StatusOr<std::unique_ptr<ColbertEncoder>> ColbertEncoder::Load(
    const std::string& model_dir, const EncoderOptions& options) {
  ASSIGN_OR_RETURN(ModelFolder folder, ReadModelFolder(model_dir));
  std::unique_ptr<ColbertEncoder> encoder(new ColbertEncoder());
  encoder->options_ = options;
  ModelInfo& info = encoder->info_;
  const ColbertSettings& s = folder.settings;

  const std::string tokenizer_path = JoinPath(folder.backbone_dir, "tokenizer.json");
  if (!FileExists(tokenizer_path)) {
    return absl::NotFoundError(absl::StrCat(tokenizer_path, ": tokenizer.json not found"));
  }
  ASSIGN_OR_RETURN(encoder->tokenizer_, Tokenizer::FromFile(tokenizer_path));
  Tokenizer& tokenizer = *encoder->tokenizer_;

  const std::string config_path = JoinPath(folder.backbone_dir, "config.json");
  ASSIGN_OR_RETURN(ModelConfig model_config, LoadModelConfig(config_path));

  // The prefix is inserted by id (PyLate's insert_prefix_token), never matched in user text
  // by us: text is split exactly as tokenizer.json's added_tokens say. A prefix already in the
  // vocabulary (a Stanford checkpoint's [unused0]/[unused1] = 1/2) is only looked up, so a
  // literal "[unused0]" in the text stays "[", "unused", "##0", "]" unless tokenizer.json lists
  // it as an added token (a folder PyLate saved does). Only a prefix absent from both is
  // registered as PyLate's tokenizer.add_tokens would; one that would need a new embedding row
  // cannot be served.
  auto prefix_id = [&](const std::string& prefix) -> absl::StatusOr<std::optional<int32_t>> {
    if (prefix.empty()) return std::optional<int32_t>();
    const std::optional<int32_t> known = tokenizer.TokenToId(prefix);
    const int32_t id = known ? *known : tokenizer.AddToken(prefix, /*special=*/false);
    if (id < 0 || id >= model_config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          tokenizer_path, ": prefix \"", prefix, "\" is not in the vocabulary (PyLate would add ",
          "it with a randomly initialised embedding; ", config_path, " has vocab_size ",
          model_config.vocab_size, ")"));
    }
    return std::optional<int32_t>(id);
  };
  ASSIGN_OR_RETURN(info.query_prefix_id, prefix_id(s.query_prefix));
  ASSIGN_OR_RETURN(info.document_prefix_id, prefix_id(s.document_prefix));
  ASSIGN_OR_RETURN(info.pad_id, ResolvePadId(tokenizer, folder.backbone_dir));

  // Skiplist words are looked up as whole tokens; unknown words map to [UNK] (PyLate's
  // convert_tokens_to_ids), so [UNK] is then skipped in documents too.
  for (const std::string& word : s.skiplist_words) {
    if (auto id = tokenizer.TokenToId(word)) {
      info.skiplist_ids.push_back(*id);
    } else if (auto unk = tokenizer.unk_id()) {
      info.skiplist_ids.push_back(*unk);
    }
  }
  std::sort(info.skiplist_ids.begin(), info.skiplist_ids.end());
  info.skiplist_ids.erase(std::unique(info.skiplist_ids.begin(), info.skiplist_ids.end()),
                          info.skiplist_ids.end());

  BackboneOptions backbone_options;
  backbone_options.num_threads = std::max(1, options.num_threads);
  backbone_options.precision = options.precision;
  backbone_options.emulate_bf16_if_unsupported = options.emulate_bf16_if_unsupported;
  ASSIGN_OR_RETURN(encoder->backbone_, LoadBackbone(folder.backbone_dir, backbone_options));
  const int hidden = encoder->backbone_->hidden_size();

  if (folder.stanford_projection) {
    ASSIGN_OR_RETURN(
        DenseLayer projection,
        LoadStanfordProjection(JoinPath(folder.backbone_dir, "model.safetensors"), hidden));
    encoder->dense_.push_back(std::move(projection));
  }
  for (const std::string& dense_dir : folder.dense_dirs) {
    ASSIGN_OR_RETURN(DenseLayer layer, LoadDenseLayer(dense_dir));
    const int expected_in =
        encoder->dense_.empty() ? hidden : encoder->dense_.back().out_features();
    if (layer.in_features() != expected_in) {
      return absl::InvalidArgumentError(
          absl::StrCat(JoinPath(dense_dir, "config.json"), ": in_features ", layer.in_features(),
                       " does not match the previous module's output size ", expected_in));
    }
    encoder->dense_.push_back(std::move(layer));
  }

  // The head multiplies like the backbone (same precision, weights packed once).
  MatmulBackend head_backend = MatmulBackend::kFloat32;
  switch (encoder->backbone_->precision()) {
    case Precision::kBFloat16:
      head_backend = CpuHasNativeBf16() ? MatmulBackend::kBf16OneDnn : MatmulBackend::kBf16Emulated;
      break;
    case Precision::kInt8:
      head_backend = MatmulBackend::kInt8OneDnn;
      break;
    case Precision::kFloat32:
    case Precision::kAuto:  // never reported by a loaded backbone
      break;
  }
  for (DenseLayer& layer : encoder->dense_) RETURN_IF_ERROR(layer.SetBackend(head_backend));

  info.name = Basename(model_dir);
  info.architecture = encoder->backbone_->architecture();
  info.hidden_size = hidden;
  info.dim = encoder->dense_.empty() ? hidden : encoder->dense_.back().out_features();
  info.query_length = s.query_length;
  info.document_length = s.document_length;
  info.query_prefix = s.query_prefix;
  info.document_prefix = s.document_prefix;
  info.prompts = s.prompts;
  info.default_prompt_name = s.default_prompt_name;
  info.skiplist_words = s.skiplist_words;
  info.do_query_expansion = s.do_query_expansion;
  info.attend_to_expansion_tokens = s.attend_to_expansion_tokens;
  info.do_lower_case = s.do_lower_case;
  info.precision = encoder->backbone_->precision();
  info.requested_precision = options.precision;
  // The kernels the products run on: oneDNN (OpenBLAS only under the bf16 emulation, whose
  // attention products are oneDNN f32).
  const MatmulReport matmul = InspectMatmulKernels(
      head_backend == MatmulBackend::kBf16Emulated ? Precision::kFloat32 : info.precision);
  info.onednn_isa = matmul.isa;
  info.matmul_impl = head_backend == MatmulBackend::kBf16Emulated ? "emulated" : matmul.projection;
  info.attention_impl = matmul.attention;
  info.matmul_verdict = matmul.verdict == MatmulVerdict::kOk ? "ok" : "fallback";
  const KernelReport kernels = InspectBlasKernels();
  info.blas_core = kernels.blas_core;
  info.blas_core_verdict = std::string(BlasCoreVerdictName(kernels.verdict));
  info.kernel_warning = matmul.warning;
  if (!kernels.warning.empty() && head_backend == MatmulBackend::kBf16Emulated) {
    info.kernel_warning += (info.kernel_warning.empty() ? "" : "; ") + kernels.warning;
  }

  const int max_positions = encoder->backbone_->max_position_embeddings();
  if (std::max(info.query_length, info.document_length) > max_positions) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_dir, ": query_length/document_length (", info.query_length, "/",
                     info.document_length, ") exceed max_position_embeddings ", max_positions));
  }
  return encoder;
}

absl::StatusOr<std::string> ColbertEncoder::ResolvePrompt(const EncodeParams& params) const {
  if (params.prompt) return *params.prompt;
  if (params.prompt_name) {
    auto it = info_.prompts.find(*params.prompt_name);
    if (it == info_.prompts.end()) {
      std::vector<std::string> names;
      for (const auto& [name, text] : info_.prompts) names.push_back(name);
      return absl::InvalidArgumentError(
          absl::StrCat("prompt name \"", *params.prompt_name, "\" not found; model ", info_.name,
                       " has prompts [", absl::StrJoin(names, ", "), "]"));
    }
    return it->second;
  }
  if (info_.default_prompt_name) return info_.prompts.at(*info_.default_prompt_name);
  return std::string();
}

std::vector<int32_t> ColbertEncoder::TokenizeWithPrompt(std::string_view text,
                                                        const std::string& prompt, bool is_query,
                                                        std::vector<uint8_t>* attention) const {
  std::string full = prompt;
  full.append(text.data(), text.size());
  std::string input = PythonStrip(full);
  if (info_.do_lower_case) input = PythonLower(input);

  const int length = is_query ? info_.query_length : info_.document_length;
  const std::optional<int32_t>& prefix =
      is_query ? info_.query_prefix_id : info_.document_prefix_id;
  const int max_length = prefix ? length - 1 : length;
  std::vector<int32_t> ids = tokenizer_->Encode(input, /*add_special_tokens=*/true, max_length);
  std::vector<uint8_t> mask(ids.size(), 1);
  if (is_query && info_.do_query_expansion) {
    // Expansion: right-pad with [MASK] to the full length, attention 0 on the padding.
    while (static_cast<int>(ids.size()) < max_length) {
      ids.push_back(info_.pad_id);
      mask.push_back(0);
    }
  }
  if (prefix) {
    const size_t at = std::min<size_t>(1, ids.size());  // right after [CLS]
    ids.insert(ids.begin() + at, *prefix);
    mask.insert(mask.begin() + at, 1);
  }
  if (is_query && info_.attend_to_expansion_tokens) std::fill(mask.begin(), mask.end(), 1);
  if (attention) *attention = std::move(mask);
  return ids;
}

absl::StatusOr<std::vector<int32_t>> ColbertEncoder::Tokenize(
    std::string_view text, const EncodeParams& params, std::vector<uint8_t>* attention) const {
  ASSIGN_OR_RETURN(std::string prompt, ResolvePrompt(params));
  return TokenizeWithPrompt(text, prompt, params.is_query, attention);
}

absl::StatusOr<std::vector<EncodedText>> ColbertEncoder::Encode(
    const std::vector<std::string>& texts, bool is_query, std::optional<std::string> prompt_name,
    int pool_factor) const {
  EncodeParams params;
  params.is_query = is_query;
  params.prompt_name = std::move(prompt_name);
  params.pool_factor = pool_factor;
  return Encode(texts, params);
}

absl::StatusOr<std::vector<EncodedText>> ColbertEncoder::Encode(
    const std::vector<std::string>& texts, const EncodeParams& params) const {
  ASSIGN_OR_RETURN(std::string prompt, ResolvePrompt(params));
  const size_t count = texts.size();
  std::vector<EncodedText> results(count);
  std::vector<std::vector<uint8_t>> attention(count);
  for (size_t i = 0; i < count; ++i) {
    results[i].ids = TokenizeWithPrompt(texts[i], prompt, params.is_query, &attention[i]);
    results[i].dim = info_.dim;
  }

  // Longest first, so that batches hold texts of similar length.
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return results[a].ids.size() > results[b].ids.size();
  });

  const int hidden = info_.hidden_size;
  const int threads = std::max(1, options_.num_threads);
  size_t next = 0;
  while (next < count) {
    // Form one packed batch.
    PackedBatch batch;
    batch.offsets.push_back(0);
    std::vector<size_t> members;
    while (next < count) {
      const size_t i = order[next];
      const size_t len = results[i].ids.size();
      if (!members.empty() &&
          (static_cast<int>(members.size()) >= options_.max_batch_size ||
           batch.ids.size() + len > static_cast<size_t>(options_.max_batch_tokens))) {
        break;
      }
      batch.ids.insert(batch.ids.end(), results[i].ids.begin(), results[i].ids.end());
      batch.key_mask.insert(batch.key_mask.end(), attention[i].begin(), attention[i].end());
      batch.offsets.push_back(static_cast<int32_t>(batch.ids.size()));
      members.push_back(i);
      ++next;
    }
    if (params.interrupt) RETURN_IF_ERROR(params.interrupt());
    ASSIGN_OR_RETURN(std::vector<float> states, backbone_->Forward(batch));

    // Gather the kept positions of every member, then project them all at once.
    std::vector<float> kept;
    std::vector<int> kept_count(members.size(), 0);
    for (size_t m = 0; m < members.size(); ++m) {
      const size_t i = members[m];
      const std::vector<int32_t>& ids = results[i].ids;
      const bool expansion = params.is_query && info_.do_query_expansion;
      for (size_t t = 0; t < ids.size(); ++t) {
        bool keep;
        if (expansion) {
          keep = true;  // every position, [MASK] expansion tokens included
        } else if (params.is_query) {
          keep = attention[i][t] != 0;
        } else {
          keep = attention[i][t] != 0 &&
                 !std::binary_search(info_.skiplist_ids.begin(), info_.skiplist_ids.end(), ids[t]);
        }
        if (!keep) continue;
        const float* row = states.data() + (batch.offsets[m] + t) * static_cast<size_t>(hidden);
        kept.insert(kept.end(), row, row + hidden);
        ++kept_count[m];
      }
    }
    const int64_t kept_rows = static_cast<int64_t>(kept.size()) / hidden;
    std::vector<float> projected = RunDenseChain(dense_, kept.data(), kept_rows, hidden, threads);
    NormalizeRows(projected.data(), kept_rows, info_.dim);

    size_t row = 0;
    for (size_t m = 0; m < members.size(); ++m) {
      EncodedText& out = results[members[m]];
      const float* begin = projected.data() + row * info_.dim;
      const int n = kept_count[m];
      row += n;
      if (!params.is_query && params.pool_factor > 1) {
        int pooled_rows = 0;
        out.vectors =
            PoolTokensHierarchical(begin, n, info_.dim, params.pool_factor, params.protected_tokens,
                                   params.pooling_version, &pooled_rows);
        out.num_tokens = pooled_rows;
      } else {
        out.vectors.assign(begin, begin + static_cast<size_t>(n) * info_.dim);
        out.num_tokens = n;
      }
    }
  }
  return results;
}

}  // namespace tartan::encoder
