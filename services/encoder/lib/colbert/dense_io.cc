#include "services/encoder/lib/colbert/dense_io.h"

#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/encoder/lib/colbert/model_folder.h"
#include "services/encoder/lib/safetensors.h"

namespace tartan::encoder {
namespace {

// Prefixes an error with the file it concerns, unless the message already names it.
absl::Status Annotate(const absl::Status& status, const std::string& path) {
  if (status.ok()) return status;
  const std::string message(status.message());
  if (message.find(path) != std::string::npos) return status;
  return absl::Status(status.code(), absl::StrCat(path, ": ", message));
}

}  // namespace

absl::StatusOr<DenseLayer> LoadDenseLayer(const std::string& dir) {
  const std::string config_path = JoinPath(dir, "config.json");
  if (!FileExists(config_path)) {
    return absl::NotFoundError(absl::StrCat(config_path, ": Dense config.json not found"));
  }
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(config_path));
  ASSIGN_OR_RETURN(DenseConfig config, ParseDenseConfig(text, config_path));

  const std::string weights_path = JoinPath(dir, "model.safetensors");
  if (!FileExists(weights_path)) {
    if (FileExists(JoinPath(dir, "pytorch_model.bin"))) {
      return absl::UnimplementedError(absl::StrCat(
          dir, ": Dense weights are in pytorch_model.bin; only model.safetensors is supported"));
    }
    return absl::NotFoundError(absl::StrCat(weights_path, ": Dense weights not found"));
  }
  auto file = SafetensorsFile::Open(weights_path);
  if (!file.ok()) return Annotate(file.status(), weights_path);
  const int64_t out = config.out_features;
  const int64_t in = config.in_features;
  auto weight = (*file)->LoadF32("linear.weight", {out, in});
  if (!weight.ok()) return Annotate(weight.status(), weights_path);
  std::vector<float> bias;
  if (config.bias) {
    auto b = (*file)->LoadF32("linear.bias", {out});
    if (!b.ok()) return Annotate(b.status(), weights_path);
    bias = std::move(*b);
  }
  std::vector<float> residual;
  if (config.use_residual && in != out) {
    auto r = (*file)->LoadF32("residual.weight", {out, in});
    if (!r.ok()) return Annotate(r.status(), weights_path);
    residual = std::move(*r);
  }
  auto layer = DenseLayer::Create(config, std::move(*weight), std::move(bias), std::move(residual));
  if (!layer.ok()) return Annotate(layer.status(), dir);
  return layer;
}

absl::StatusOr<DenseLayer> LoadStanfordProjection(const std::string& safetensors_path,
                                                  int expected_in) {
  auto file = SafetensorsFile::Open(safetensors_path);
  if (!file.ok()) return Annotate(file.status(), safetensors_path);
  if (!(*file)->Has("linear.weight")) {
    return absl::NotFoundError(absl::StrCat(
        safetensors_path, ": HF_ColBERT checkpoint has no \"linear.weight\" projection"));
  }
  auto info = (*file)->Info("linear.weight");
  if (!info.ok()) return Annotate(info.status(), safetensors_path);
  if (info->shape.size() != 2 || info->shape[1] != expected_in) {
    return absl::InvalidArgumentError(absl::StrCat(
        safetensors_path, ": \"linear.weight\" must be [dim, ", expected_in, "] (hidden size)"));
  }
  DenseConfig config;
  config.in_features = expected_in;
  config.out_features = static_cast<int>(info->shape[0]);
  config.bias = false;
  config.activation = DenseActivation::kIdentity;
  auto weight = (*file)->LoadF32("linear.weight", info->shape);
  if (!weight.ok()) return Annotate(weight.status(), safetensors_path);
  return DenseLayer::Create(config, std::move(*weight), {}, {});
}

absl::Status WriteDenseLayer(const std::string& dir, const DenseConfig& config,
                             const std::vector<float>& weight, const std::vector<float>& bias) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create: ", ec.message()));
  nlohmann::ordered_json j;
  j["in_features"] = config.in_features;
  j["out_features"] = config.out_features;
  j["bias"] = !bias.empty();
  j["activation_function"] = std::string(DenseActivationName(config.activation));
  j["use_residual"] = false;
  const std::string config_path = JoinPath(dir, "config.json");
  {
    std::ofstream out(config_path);
    out << j.dump(2) << "\n";
    if (!out) return absl::InternalError(absl::StrCat(config_path, ": write failed"));
  }
  std::vector<NamedTensor> tensors;
  tensors.push_back({"linear.weight", {config.out_features, config.in_features}, weight});
  if (!bias.empty()) tensors.push_back({"linear.bias", {config.out_features}, bias});
  return WriteSafetensorsF32(JoinPath(dir, "model.safetensors"), tensors);
}

}  // namespace tartan::encoder
