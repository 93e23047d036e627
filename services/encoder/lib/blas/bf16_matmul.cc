#include "services/encoder/lib/blas/bf16_matmul.h"

#include <cpuid.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/encoder/lib/blas/gemm.h"

#ifdef TARTAN_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
extern "C" void omp_set_num_threads(int);  // oneDNN's threading runtime (libgomp) is per-caller
#endif

namespace tartan::encoder {

bool CpuHasNativeBf16() {
  unsigned eax, ebx, ecx, edx;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool amx_bf16 = (edx >> 22) & 1u;
  __cpuid_count(7, 1, eax, ebx, ecx, edx);
  const bool avx512_bf16 = (eax >> 5) & 1u;
  return amx_bf16 || avx512_bf16;
}

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
    Sgemm(false, true, static_cast<int>(rows), out_, in_, 1.0f, xr.data(), in_, weight_.data(),
          in_, accumulate ? 1.0f : 0.0f, y, out_, num_threads);
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

#ifdef TARTAN_HAVE_DNNL

bool HaveBf16Backend() { return true; }

namespace {

dnnl::engine& CpuEngine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

class DnnlBf16Matmul final : public Bf16Matmul {
 public:
  absl::Status Init(const float* weight, int out, int in) {
    out_ = out;
    in_ = in;
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    try {
      const dnnl::memory::dims src_dims = {DNNL_RUNTIME_DIM_VAL, in};
      const dnnl::memory::dims wei_dims = {in, out};
      const dnnl::memory::dims dst_dims = {DNNL_RUNTIME_DIM_VAL, out};
      dnnl::memory::desc src_md(src_dims, dt::bf16, tag::ab);
      dnnl::memory::desc wei_any(wei_dims, dt::bf16, tag::any);
      dnnl::memory::desc dst_md(dst_dims, dt::f32, tag::ab);
      for (int acc = 0; acc < 2; ++acc) {
        dnnl::primitive_attr attr;
        if (acc) {
          dnnl::post_ops ops;
          ops.append_sum(1.0f);
          attr.set_post_ops(ops);
        }
        dnnl::matmul::desc desc(src_md, wei_any, dst_md);
        pd_[acc] = dnnl::matmul::primitive_desc(desc, attr, CpuEngine());
        prim_[acc] = dnnl::matmul(pd_[acc]);
      }
      // W [out, in] row-major is W^T [in, out] in "ba" layout; reorder once into the layout the
      // primitive prefers (blocked for AMX/AVX512).
      std::vector<uint16_t> wbf(static_cast<size_t>(out) * in);
      for (size_t i = 0; i < wbf.size(); ++i) wbf[i] = ToBf16(weight[i]);
      dnnl::memory::desc wei_plain(wei_dims, dt::bf16, tag::ba);
      dnnl::memory plain(wei_plain, CpuEngine(), wbf.data());
      weights_ = dnnl::memory(pd_[0].weights_desc(), CpuEngine());
      if (pd_[1].weights_desc() != pd_[0].weights_desc()) {
        return absl::InternalError("oneDNN chose different weight layouts for matmul variants");
      }
      dnnl::stream s(CpuEngine());
      dnnl::reorder(plain, weights_).execute(s, plain, weights_);
      s.wait();
      impl_ = pd_[0].impl_info_str();
    } catch (const dnnl::error& e) {
      return absl::InternalError(absl::StrCat("oneDNN bf16 matmul [", out, "x", in,
                                              "] setup failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  void Run(const float* x, int64_t rows, float* y, bool accumulate,
           int num_threads) const override {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    std::vector<uint16_t> xb(static_cast<size_t>(rows) * in_);
    for (size_t i = 0; i < xb.size(); ++i) xb[i] = ToBf16(x[i]);
    omp_set_num_threads(num_threads < 1 ? 1 : num_threads);
    dnnl::memory src({{rows, in_}, dt::bf16, tag::ab}, CpuEngine(), xb.data());
    dnnl::memory dst({{rows, out_}, dt::f32, tag::ab}, CpuEngine(), y);
    dnnl::stream s(CpuEngine());
    prim_[accumulate ? 1 : 0].execute(
        s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}});
    s.wait();
  }
  std::string backend() const override { return "onednn:" + impl_; }

 private:
  int out_ = 0;
  int in_ = 0;
  dnnl::matmul::primitive_desc pd_[2];
  dnnl::matmul prim_[2];
  dnnl::memory weights_;
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

#else  // !TARTAN_HAVE_DNNL

bool HaveBf16Backend() { return false; }

absl::StatusOr<std::unique_ptr<Bf16Matmul>> Bf16Matmul::Create(const float*, int, int) {
  return absl::UnimplementedError("bf16 matmul needs oneDNN; this build has none (libdnnl-dev)");
}

#endif

}  // namespace tartan::encoder
