#include "services/encoder/lib/blas/bf16_matmul.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/compute/cpu_features.h"
#include "services/encoder/lib/blas/gemm.h"

extern "C" void omp_set_num_threads(int);  // oneDNN's threading runtime (libgomp) is per-caller

namespace tartan::encoder {

bool CpuHasNativeBf16() { return compute::HasAmxBf16() || compute::HasAvx512Bf16(); }

namespace {

// Round-to-nearest-even float -> bf16 (NaN payloads are not preserved; activations never are).
inline uint16_t ToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

inline float RoundToBf16(float f) {
  const uint32_t bits = static_cast<uint32_t>(ToBf16(f)) << 16;
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

class EmulatedBf16Matmul final : public Bf16Matmul {
 public:
  EmulatedBf16Matmul(const float* weight, int out, int in) : out_(out), in_(in) {
    weight_.resize(static_cast<size_t>(out) * in);
    for (size_t i = 0; i < weight_.size(); ++i) weight_[i] = RoundToBf16(weight[i]);
  }
  void Run(const float* x, int64_t rows, float* y, bool accumulate,
           int num_threads) const override {
    std::vector<float> xr(static_cast<size_t>(rows) * in_);
    for (size_t i = 0; i < xr.size(); ++i) xr[i] = RoundToBf16(x[i]);
    Sgemm(false, true, static_cast<int>(rows), out_, in_, 1.0f, xr.data(), in_, weight_.data(), in_,
          accumulate ? 1.0f : 0.0f, y, out_, num_threads);
  }
  std::string backend() const override { return "emulated"; }

 private:
  int out_, in_;
  std::vector<float> weight_;
};

}  // namespace

std::unique_ptr<Bf16Matmul> Bf16Matmul::CreateEmulated(const float* weight, int out, int in) {
  return std::make_unique<EmulatedBf16Matmul>(weight, out, in);
}

namespace {

dnnl::engine& CpuEngine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

// oneDNN's fast bf16 kernels (brgemm, AMX) need M at primitive creation, so primitives are
// created per bucket of row counts (rows padded with zeros up to the bucket) and cached.
class DnnlBf16Matmul final : public Bf16Matmul {
 public:
  absl::Status Init(const float* weight, int out, int in) {
    out_ = out;
    in_ = in;
    // W [out, in] row-major is W^T [in, out] in "ba" layout; kept to reorder into whatever
    // layout a primitive prefers (blocked for AMX/AVX512).
    plain_.resize(static_cast<size_t>(out) * in);
    for (size_t i = 0; i < plain_.size(); ++i) plain_[i] = ToBf16(weight[i]);
    try {
      std::lock_guard<std::mutex> lock(mu_);
      const Entry* e = GetEntryLocked(64);  // fails early if oneDNN has no bf16 matmul here
      impl_ = e->pd[0].impl_info_str();
    } catch (const dnnl::error& e) {
      return absl::InternalError(
          absl::StrCat("oneDNN bf16 matmul [", out, "x", in, "] setup failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  void Run(const float* x, int64_t rows, float* y, bool accumulate,
           int num_threads) const override {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const int64_t padded = Bucket(rows);
    const Entry* e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      e = GetEntryLocked(padded);
    }
    std::vector<uint16_t> xb(static_cast<size_t>(padded) * in_, 0);
    for (size_t i = 0; i < static_cast<size_t>(rows) * in_; ++i) xb[i] = ToBf16(x[i]);
    std::vector<float> tmp;
    float* dst_ptr = y;
    if (padded != rows) {
      tmp.assign(static_cast<size_t>(padded) * out_, 0.0f);
      if (accumulate) std::memcpy(tmp.data(), y, sizeof(float) * rows * out_);
      dst_ptr = tmp.data();
    }
    omp_set_num_threads(num_threads < 1 ? 1 : num_threads);
    dnnl::memory src({{padded, in_}, dt::bf16, tag::ab}, CpuEngine(), xb.data());
    dnnl::memory dst({{padded, out_}, dt::f32, tag::ab}, CpuEngine(), dst_ptr);
    dnnl::stream s(CpuEngine());
    e->prim[accumulate ? 1 : 0].execute(
        s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, *e->weights}, {DNNL_ARG_DST, dst}});
    s.wait();
    if (padded != rows) std::memcpy(y, tmp.data(), sizeof(float) * rows * out_);
  }
  std::string backend() const override { return "onednn:" + impl_; }

 private:
  struct Entry {
    dnnl::matmul::primitive_desc pd[2];  // [0]: y = xW^T, [1]: y += xW^T (sum post-op)
    dnnl::matmul prim[2];
    std::shared_ptr<dnnl::memory> weights;  // in the layout pd[0] asked for
  };

  // Rows rounded up: to 16 up to 64, to 64 up to 1024, then to 256 (padding <= ~25 %).
  static int64_t Bucket(int64_t rows) {
    const int64_t step = rows <= 64 ? 16 : rows <= 1024 ? 64 : 256;
    return std::max<int64_t>(step, (rows + step - 1) / step * step);
  }

  // Requires mu_. Throws dnnl::error when oneDNN cannot build the primitive.
  const Entry* GetEntryLocked(int64_t m) const {
    auto it = entries_.find(m);
    if (it != entries_.end()) return it->second.get();
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    auto e = std::make_unique<Entry>();
    const dnnl::memory::desc src_md({m, in_}, dt::bf16, tag::ab);
    const dnnl::memory::desc wei_any({in_, out_}, dt::bf16, tag::any);
    const dnnl::memory::desc dst_md({m, out_}, dt::f32, tag::ab);
    // pd[0] overwrites the output, pd[1] accumulates into it (sum post-op).
    auto build = [&](const dnnl::memory::desc& wei_md) {
      for (int acc = 0; acc < 2; ++acc) {
        dnnl::primitive_attr attr;
        if (acc) {
          dnnl::post_ops ops;
          ops.append_sum(1.0f);
          attr.set_post_ops(ops);
        }
        dnnl::matmul::desc desc(src_md, wei_md, dst_md);
        e->pd[acc] = dnnl::matmul::primitive_desc(desc, attr, CpuEngine());
        e->prim[acc] = dnnl::matmul(e->pd[acc]);
      }
    };
    build(wei_any);
    if (e->pd[1].weights_desc() != e->pd[0].weights_desc()) {
      // Both variants must read the same packed weights; fall back to a plain layout for both.
      build(dnnl::memory::desc({in_, out_}, dt::bf16, tag::ba));
    }
    e->weights = WeightsFor(e->pd[0].weights_desc());
    const Entry* raw = e.get();
    entries_.emplace(m, std::move(e));
    return raw;
  }

  // Requires mu_. One reordered copy of the weights per distinct layout (usually one).
  std::shared_ptr<dnnl::memory> WeightsFor(const dnnl::memory::desc& md) const {
    for (const auto& [desc, mem] : layouts_) {
      if (desc == md) return mem;
    }
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc plain_md({in_, out_}, dt::bf16, tag::ba);
    dnnl::memory plain(plain_md, CpuEngine(), const_cast<uint16_t*>(plain_.data()));
    auto mem = std::make_shared<dnnl::memory>(md, CpuEngine());
    dnnl::stream s(CpuEngine());
    dnnl::reorder(plain, *mem).execute(s, plain, *mem);
    s.wait();
    layouts_.emplace_back(md, mem);
    return mem;
  }

  int out_ = 0;
  int in_ = 0;
  std::vector<uint16_t> plain_;  // bf16 weights [out, in]
  mutable std::mutex mu_;
  mutable std::map<int64_t, std::unique_ptr<Entry>> entries_;
  mutable std::vector<std::pair<dnnl::memory::desc, std::shared_ptr<dnnl::memory>>> layouts_;
  std::string impl_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Bf16Matmul>> Bf16Matmul::Create(const float* weight, int out,
                                                               int in) {
  auto m = std::make_unique<DnnlBf16Matmul>();
  absl::Status st = m->Init(weight, out, in);
  if (!st.ok()) return st;
  return std::unique_ptr<Bf16Matmul>(std::move(m));
}

}  // namespace tartan::encoder
