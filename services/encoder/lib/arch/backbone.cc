#include "services/encoder/lib/arch/backbone.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/compute/parallel_for.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "services/encoder/lib/arch/registry.h"
#include "services/encoder/lib/blas/packed_matmul.h"

namespace tartan::encoder {
namespace {

struct ArchitectureEntry {
  const char* model_type;
  BackboneFactory factory;
};

// The architecture registry: one entry (and one .cc file) per model family. An explicit table
// rather than static self-registration, which static libraries would silently drop.
constexpr ArchitectureEntry kArchitectures[] = {
    {"modernbert", &CreateModernBert},
    {"bert", &CreateBert},
};

// Runtime dispatch: the same binary picks oneDNN bf16 only where the CPU has native bf16.
absl::StatusOr<MatmulBackend> ResolveBackend(const BackboneOptions& options) {
  switch (options.precision) {
    case Precision::kFloat32:
      return MatmulBackend::kFloat32;
    case Precision::kInt8:
      return MatmulBackend::kInt8OneDnn;
    case Precision::kAuto:
      return CpuHasNativeBf16() ? MatmulBackend::kBf16OneDnn : MatmulBackend::kFloat32;
    case Precision::kBFloat16: {
      if (CpuHasNativeBf16()) return MatmulBackend::kBf16OneDnn;
      const char* why = "this CPU lacks AVX512-BF16/AMX";
      if (options.emulate_bf16_if_unsupported) {
        LOG_WARNING << "bf16 requested but " << why << "; emulating bf16 numerics in float32";
        return MatmulBackend::kBf16Emulated;
      }
      LOG_WARNING << "bf16 requested but " << why << "; using float32";
      return MatmulBackend::kFloat32;
    }
  }
  return MatmulBackend::kFloat32;
}

}  // namespace

std::vector<std::string> RegisteredArchitectures() {
  std::vector<std::string> names;
  for (const auto& e : kArchitectures) names.push_back(e.model_type);
  return names;
}

AttentionProducts AttentionProductsFor(MatmulBackend backend) {
  switch (backend) {
    case MatmulBackend::kBf16OneDnn:
      return AttentionProducts::kBFloat16;
    case MatmulBackend::kBf16Emulated:
      return AttentionProducts::kBFloat16Emulated;
    case MatmulBackend::kInt8OneDnn:
      // oneDNN has no dynamically quantised q k^T / p v: the fastest exact-enough kernel.
      return CpuHasNativeBf16() ? AttentionProducts::kBFloat16 : AttentionProducts::kFloat32;
    case MatmulBackend::kFloat32:
      break;
  }
  return AttentionProducts::kFloat32;
}

Precision PrecisionOf(MatmulBackend backend) {
  switch (backend) {
    case MatmulBackend::kBf16OneDnn:
    case MatmulBackend::kBf16Emulated:
      return Precision::kBFloat16;
    case MatmulBackend::kInt8OneDnn:
      return Precision::kInt8;
    case MatmulBackend::kFloat32:
      break;
  }
  return Precision::kFloat32;
}

absl::Status ValidatePackedBatch(const PackedBatch& batch, int vocab_size, int max_positions) {
  const auto& off = batch.offsets;
  if (off.empty() || off.front() != 0 || off.back() != static_cast<int32_t>(batch.ids.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "packed batch: offsets must start at 0 and end at the token count ", batch.ids.size()));
  }
  if (batch.key_mask.size() != batch.ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat("packed batch: key_mask has ",
                                                   batch.key_mask.size(), " entries for ",
                                                   batch.ids.size(), " tokens"));
  }
  for (size_t b = 0; b + 1 < off.size(); ++b) {
    const int32_t len = off[b + 1] - off[b];
    if (len < 0) return absl::InvalidArgumentError("packed batch: offsets decrease");
    if (len > max_positions) {
      return absl::InvalidArgumentError(absl::StrCat("packed batch: sequence ", b, " has ", len,
                                                     " tokens, more than the model's ",
                                                     max_positions, " positions"));
    }
  }
  for (size_t t = 0; t < batch.ids.size(); ++t) {
    if (batch.ids[t] < 0 || batch.ids[t] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("packed batch: token ", t, " has id ",
                                                     batch.ids[t], " outside the vocabulary [0, ",
                                                     vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<size_t> SplitSequencesByTokens(const std::vector<int32_t>& offsets, int groups,
                                           int64_t min_tokens) {
  const size_t sequences = offsets.size() - 1;
  const int64_t total = offsets.back();
  if (groups < 2 || sequences < 2 || total < groups * min_tokens) return {};
  groups = static_cast<int>(std::min<size_t>(groups, sequences));
  std::vector<size_t> starts{0};
  for (int g = 1; g < groups; ++g) {
    const int64_t target = total * g / groups;
    // The sequence boundary nearest the target, each run keeping at least one sequence.
    size_t s = starts.back() + 1;
    while (s + (groups - g) < sequences && offsets[s + 1] <= target) ++s;
    if (s + (groups - g) < sequences && target - offsets[s] > offsets[s + 1] - target) ++s;
    starts.push_back(s);
  }
  starts.push_back(sequences);
  for (size_t g = 0; g + 1 < starts.size(); ++g) {
    if (offsets[starts[g + 1]] - offsets[starts[g]] < min_tokens) return {};
  }
  return starts;
}

absl::StatusOr<std::vector<float>> Backbone::Forward(const PackedBatch& batch) const {
  RETURN_IF_ERROR(ValidatePackedBatch(batch, vocab_size(), max_position_embeddings()));
  const std::vector<size_t> starts =
      SplitSequencesByTokens(batch.offsets, num_threads_, kMinTokensPerThread);
  if (starts.empty()) return ForwardOnThreads(batch, num_threads_);
  const int groups = static_cast<int>(starts.size()) - 1;
  const int64_t h = hidden_size();
  std::vector<float> out(batch.ids.size() * h);
  std::vector<absl::Status> status(groups);
  compute::ParallelFor(groups, groups, [&](int64_t g, int) {
    const int32_t begin = batch.offsets[starts[g]];
    const int32_t end = batch.offsets[starts[g + 1]];
    PackedBatch part;
    part.ids.assign(batch.ids.begin() + begin, batch.ids.begin() + end);
    part.key_mask.assign(batch.key_mask.begin() + begin, batch.key_mask.begin() + end);
    for (size_t s = starts[g]; s <= starts[g + 1]; ++s) {
      part.offsets.push_back(batch.offsets[s] - begin);
    }
    absl::StatusOr<std::vector<float>> states = ForwardOnThreads(part, 1);
    if (!states.ok()) {
      status[g] = states.status();
      return;
    }
    std::memcpy(out.data() + begin * h, states->data(), sizeof(float) * states->size());
  });
  for (const absl::Status& st : status) RETURN_IF_ERROR(st);
  return out;
}

absl::StatusOr<std::unique_ptr<Backbone>> LoadBackbone(const std::string& model_dir,
                                                       const BackboneOptions& options) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig((dir / "config.json").string()));
  BackboneFactory factory = nullptr;
  for (const auto& e : kArchitectures) {
    if (config.model_type == e.model_type) factory = e.factory;
  }
  if (factory == nullptr) {
    return absl::UnimplementedError(absl::StrCat(
        "backbone ", model_dir, ": model_type '", config.model_type, "' not in the registry (",
        absl::StrJoin(RegisteredArchitectures(), ", "), ")"));
  }
  std::string weights_path = (dir / "model.safetensors").string();
  std::error_code ec;
  if (!fs::exists(weights_path, ec)) {
    const std::string index = (dir / "model.safetensors.index.json").string();
    if (!fs::exists(index, ec)) {
      return absl::NotFoundError(absl::StrCat("backbone ", model_dir,
                                              ": neither model.safetensors nor "
                                              "model.safetensors.index.json exists"));
    }
    weights_path = index;
  }
  ASSIGN_OR_RETURN(auto weights, SafetensorsFile::Open(weights_path));
  ASSIGN_OR_RETURN(MatmulBackend backend, ResolveBackend(options));
  return factory(config, *weights, backend, std::max(1, options.num_threads));
}

}  // namespace tartan::encoder
