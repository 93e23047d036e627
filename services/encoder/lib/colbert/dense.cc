#include "services/encoder/lib/colbert/dense.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tartan::encoder {
namespace {

float ApplyActivation(DenseActivation activation, float x) {
  switch (activation) {
    case DenseActivation::kIdentity:
      return x;
    case DenseActivation::kTanh:
      return std::tanh(x);
    case DenseActivation::kReLU:
      return x > 0.0f ? x : 0.0f;
    case DenseActivation::kGELU:  // torch.nn.GELU(approximate="none"): exact erf form
      return 0.5f * x * (1.0f + std::erf(x * static_cast<float>(M_SQRT1_2)));
    case DenseActivation::kGELUTanh: {
      const float k = 0.7978845608028654f;  // sqrt(2/pi)
      return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
    }
    case DenseActivation::kSigmoid:
      return 1.0f / (1.0f + std::exp(-x));
    case DenseActivation::kSiLU:
      return x / (1.0f + std::exp(-x));
  }
  return x;
}

}  // namespace

absl::StatusOr<DenseActivation> ParseDenseActivation(std::string_view class_path) {
  std::string_view name = class_path;
  if (size_t dot = name.rfind('.'); dot != std::string_view::npos) name = name.substr(dot + 1);
  if (name == "Identity") return DenseActivation::kIdentity;
  if (name == "Tanh") return DenseActivation::kTanh;
  if (name == "ReLU") return DenseActivation::kReLU;
  if (name == "GELU") return DenseActivation::kGELU;
  if (name == "GELUTanh" || name == "NewGELUActivation" || name == "GELUTanhActivation") {
    return DenseActivation::kGELUTanh;
  }
  if (name == "Sigmoid") return DenseActivation::kSigmoid;
  if (name == "SiLU") return DenseActivation::kSiLU;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported Dense activation_function \"", std::string(class_path),
                   "\" (supported: Identity, Tanh, ReLU, GELU, Sigmoid, SiLU)"));
}

std::string_view DenseActivationName(DenseActivation activation) {
  switch (activation) {
    case DenseActivation::kIdentity:
      return "torch.nn.modules.linear.Identity";
    case DenseActivation::kTanh:
      return "torch.nn.modules.activation.Tanh";
    case DenseActivation::kReLU:
      return "torch.nn.modules.activation.ReLU";
    case DenseActivation::kGELU:
      return "torch.nn.modules.activation.GELU";
    case DenseActivation::kGELUTanh:
      return "transformers.activations.NewGELUActivation";
    case DenseActivation::kSigmoid:
      return "torch.nn.modules.activation.Sigmoid";
    case DenseActivation::kSiLU:
      return "torch.nn.modules.activation.SiLU";
  }
  return "?";
}

absl::StatusOr<DenseConfig> ParseDenseConfig(const std::string& json_text,
                                             const std::string& source) {
  DenseConfig config;
  try {
    nlohmann::json j = nlohmann::json::parse(json_text);
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
    }
    for (const char* key : {"in_features", "out_features"}) {
      if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": \"", key, "\" must be a positive integer"));
      }
    }
    config.in_features = j["in_features"].get<int>();
    config.out_features = j["out_features"].get<int>();
    if (j.contains("bias") && !j["bias"].is_null()) config.bias = j["bias"].get<bool>();
    if (j.contains("use_residual") && !j["use_residual"].is_null()) {
      config.use_residual = j["use_residual"].get<bool>();
    }
    if (j.contains("activation_function") && !j["activation_function"].is_null()) {
      auto activation = ParseDenseActivation(j["activation_function"].get<std::string>());
      if (!activation.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": ", activation.status().message()));
      }
      config.activation = *activation;
    } else {
      // sentence-transformers' Dense defaults to Tanh when no activation is given.
      config.activation = DenseActivation::kTanh;
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
  return config;
}

absl::StatusOr<DenseLayer> DenseLayer::Create(const DenseConfig& config, std::vector<float> weight,
                                              std::vector<float> bias,
                                              std::vector<float> residual_weight) {
  const size_t matrix = static_cast<size_t>(config.in_features) * config.out_features;
  if (config.in_features <= 0 || config.out_features <= 0) {
    return absl::InvalidArgumentError("Dense: in_features and out_features must be positive");
  }
  if (weight.size() != matrix) {
    return absl::InvalidArgumentError(absl::StrCat("Dense: weight has ", weight.size(),
                                                   " values, expected ", config.out_features, "x",
                                                   config.in_features));
  }
  if (config.bias ? bias.size() != static_cast<size_t>(config.out_features) : !bias.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("Dense: bias has ", bias.size(),
                                                   " values, expected ",
                                                   config.bias ? config.out_features : 0));
  }
  const bool needs_residual = config.use_residual && config.in_features != config.out_features;
  if (needs_residual ? residual_weight.size() != matrix : !residual_weight.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("Dense: residual weight has ",
                                                   residual_weight.size(), " values, expected ",
                                                   needs_residual ? matrix : 0));
  }
  DenseLayer layer;
  layer.config_ = config;
  layer.linear_ =
      Linear(config.out_features, config.in_features, std::move(weight), std::move(bias));
  if (needs_residual) {
    layer.residual_ =
        Linear(config.out_features, config.in_features, std::move(residual_weight), {});
  }
  return layer;
}

absl::Status DenseLayer::SetBackend(MatmulBackend backend) {
  if (absl::Status st = linear_.SetBackend(backend); !st.ok()) return st;
  return residual_.out() > 0 ? residual_.SetBackend(backend) : absl::OkStatus();
}

void DenseLayer::Forward(const float* in, int64_t n, float* out, int num_threads) const {
  if (n <= 0) return;
  const int in_dim = config_.in_features;
  const int out_dim = config_.out_features;
  // out[n, out] = in[n, in] · W[out, in]ᵀ + b
  linear_.Forward(in, n, out, num_threads);
  if (config_.activation != DenseActivation::kIdentity) {
    for (int64_t i = 0; i < n * out_dim; ++i) out[i] = ApplyActivation(config_.activation, out[i]);
  }
  if (!config_.use_residual) return;
  if (in_dim == out_dim) {
    for (int64_t i = 0; i < n * out_dim; ++i) out[i] += in[i];
  } else {
    residual_.ForwardAccumulate(in, n, out, num_threads);
  }
}

std::vector<float> RunDenseChain(const std::vector<DenseLayer>& chain, const float* in, int64_t n,
                                 int in_dim, int num_threads) {
  std::vector<float> current(in, in + n * in_dim);
  for (const DenseLayer& layer : chain) {
    std::vector<float> next(static_cast<size_t>(n) * layer.out_features());
    layer.Forward(current.data(), n, next.data(), num_threads);
    current = std::move(next);
  }
  return current;
}

}  // namespace tartan::encoder
