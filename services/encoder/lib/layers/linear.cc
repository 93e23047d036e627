#include "services/encoder/lib/layers/linear.h"

#include "services/encoder/lib/blas/gemm.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/blas/packed_matmul.h"

namespace tartan::encoder {

Linear::Linear() = default;
Linear::Linear(int out, int in, std::vector<float> weight, std::vector<float> bias)
    : out_(out), in_(in), weight_(std::move(weight)), bias_(std::move(bias)) {}
Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;
Linear::~Linear() = default;

absl::Status Linear::SetBackend(MatmulBackend backend) {
  if (matmul_ != nullptr) return absl::FailedPreconditionError("Linear: weights already packed");
  switch (backend) {
    case MatmulBackend::kBf16Emulated:
      matmul_ = PackedMatmul::CreateEmulatedBf16(weight_.data(), out_, in_);
      break;
    case MatmulBackend::kFloat32:
    case MatmulBackend::kBf16OneDnn: {
      auto m = PackedMatmul::Create(weight_.data(), out_, in_,
                                    backend == MatmulBackend::kFloat32 ? MatmulDataType::kFloat32
                                                                       : MatmulDataType::kBFloat16);
      if (!m.ok()) return m.status();
      matmul_ = std::move(*m);
      break;
    }
    case MatmulBackend::kInt8OneDnn: {
      auto m = CreateInt8Matmul(weight_.data(), out_, in_, Int8ActivationLevels());
      if (!m.ok()) return m.status();
      matmul_ = std::move(*m);
      break;
    }
    default:
      return absl::InvalidArgumentError("unknown matmul backend");
  }
  weight_.clear();
  weight_.shrink_to_fit();
  return absl::OkStatus();
}

std::string Linear::backend() const { return matmul_ != nullptr ? matmul_->backend() : "openblas"; }

void Linear::Run(const float* x, int64_t rows, float* y, bool accumulate, int num_threads) const {
  if (rows <= 0) return;
  if (matmul_ != nullptr) {
    matmul_->Run(x, rows, y, accumulate, num_threads);
  } else {
    Sgemm(false, true, static_cast<int>(rows), out_, in_, 1.0f, x, in_, weight_.data(), in_,
          accumulate ? 1.0f : 0.0f, y, out_, num_threads);
  }
  if (!bias_.empty()) {
    for (int64_t r = 0; r < rows; ++r) {
      float* yr = y + r * out_;
      for (int o = 0; o < out_; ++o) yr[o] += bias_[o];
    }
  }
}

void Linear::Forward(const float* x, int64_t rows, float* y, int num_threads) const {
  Run(x, rows, y, false, num_threads);
}

void Linear::ForwardAccumulate(const float* x, int64_t rows, float* y, int num_threads) const {
  Run(x, rows, y, true, num_threads);
}

}  // namespace tartan::encoder
