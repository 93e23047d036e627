#include "services/encoder/lib/layers/linear.h"

#include "services/encoder/lib/blas/bf16_matmul.h"
#include "services/encoder/lib/blas/gemm.h"

namespace tartan::encoder {

Linear::Linear() = default;
Linear::Linear(int out, int in, std::vector<float> weight, std::vector<float> bias)
    : out_(out), in_(in), weight_(std::move(weight)), bias_(std::move(bias)) {}
Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;
Linear::~Linear() = default;

absl::Status Linear::SetBackend(MatmulBackend backend) {
  switch (backend) {
    case MatmulBackend::kFloat32:
      bf16_.reset();
      return absl::OkStatus();
    case MatmulBackend::kBf16Emulated:
      bf16_ = Bf16Matmul::CreateEmulated(weight_.data(), out_, in_);
      return absl::OkStatus();
    case MatmulBackend::kBf16OneDnn: {
      auto m = Bf16Matmul::Create(weight_.data(), out_, in_);
      if (!m.ok()) return m.status();
      bf16_ = std::move(*m);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("unknown matmul backend");
}

void Linear::Run(const float* x, int64_t rows, float* y, bool accumulate, int num_threads) const {
  if (rows <= 0) return;
  if (bf16_ != nullptr) {
    bf16_->Run(x, rows, y, accumulate, num_threads);
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
