#include "services/encoder/lib/blas/int8_matmul.h"

#include <immintrin.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/compute/cpu_features.h"
#include "services/encoder/lib/blas/dnnl_engine.h"
#include "services/encoder/lib/blas/gemm.h"

namespace tartan::encoder {

bool CpuHasInt8Dot() {
  static const bool has = [] {
    switch (dnnl_get_effective_cpu_isa()) {
      case dnnl_cpu_isa_avx2_vnni:
      case dnnl_cpu_isa_avx512_core_vnni:
      case dnnl_cpu_isa_avx512_core_bf16:
      case dnnl_cpu_isa_avx512_core_amx:
        return true;
      default:
        return false;
    }
  }();
  return has;
}

int Int8ActivationLevels() { return CpuHasInt8Dot() ? 255 : 127; }

namespace {

// The row's range widened to include 0 (so 0 stays exact), spread over [0, levels].
RowQuantization RangeToQuantization(float lo, float hi, int levels) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  RowQuantization r;
  if (!(hi > lo)) return r;  // all zeros
  r.scale = (hi - lo) / static_cast<float>(levels);
  r.zero_point = std::clamp(static_cast<int32_t>(std::nearbyint(-lo / r.scale)), 0, levels);
  return r;
}

void QuantizeScalar(const float* x, int64_t n, float inv, int32_t zp, int levels, uint8_t* q) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = static_cast<int32_t>(std::nearbyint(x[i] * inv)) + zp;
    q[i] = static_cast<uint8_t>(std::clamp(v, 0, levels));
  }
}

// GCC 12.2's AVX-512 intrinsics start from _mm512_undefined_*() and warn about it at -O2
// (GCC PR 105593, fixed in 12.3): not a real uninitialised read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

__attribute__((target("avx512f"))) RowQuantization QuantizeRowAvx512(const float* x, int64_t n,
                                                                     int levels, uint8_t* q) {
  __m512 vmin = _mm512_setzero_ps(), vmax = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    vmin = _mm512_min_ps(vmin, v);
    vmax = _mm512_max_ps(vmax, v);
  }
  float lo = _mm512_reduce_min_ps(vmin), hi = _mm512_reduce_max_ps(vmax);
  for (int64_t j = i; j < n; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  const RowQuantization r = RangeToQuantization(lo, hi, levels);
  const float inv = 1.0f / r.scale;
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512i vzp = _mm512_set1_epi32(r.zero_point);
  const __m512i vzero = _mm512_setzero_si512(), vlevels = _mm512_set1_epi32(levels);
  for (i = 0; i + 16 <= n; i += 16) {
    // cvtps_epi32 rounds to nearest even under the default MXCSR, as nearbyint does.
    __m512i v =
        _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), vinv)), vzp);
    v = _mm512_min_epi32(_mm512_max_epi32(v, vzero), vlevels);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(v));
  }
  QuantizeScalar(x + i, n - i, inv, r.zero_point, levels, q + i);
  return r;
}

// y[r, :] (+)= row_scale * col_scale[:] * (acc[r, :] - zero_point * col_sum[:]).
void DequantizeRowScalar(const int32_t* acc, int n, float row_scale, int32_t zero_point,
                         const float* col_scale, const int32_t* col_sum, bool accumulate,
                         float* y) {
  for (int j = 0; j < n; ++j) {
    const float v = static_cast<float>(acc[j] - zero_point * col_sum[j]);
    const float s = row_scale * col_scale[j];
    y[j] = accumulate ? s * v + y[j] : s * v;
  }
}

__attribute__((target("avx512f"))) void DequantizeRowAvx512(const int32_t* acc, int n,
                                                            float row_scale, int32_t zero_point,
                                                            const float* col_scale,
                                                            const int32_t* col_sum, bool accumulate,
                                                            float* y) {
  const __m512 vrow = _mm512_set1_ps(row_scale);
  const __m512i vzp = _mm512_set1_epi32(zero_point);
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512i a = _mm512_loadu_si512(acc + j);
    const __m512i c = _mm512_loadu_si512(col_sum + j);
    const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(a, _mm512_mullo_epi32(vzp, c)));
    const __m512 s = _mm512_mul_ps(vrow, _mm512_loadu_ps(col_scale + j));
    _mm512_storeu_ps(
        y + j, accumulate ? _mm512_fmadd_ps(s, v, _mm512_loadu_ps(y + j)) : _mm512_mul_ps(s, v));
  }
  DequantizeRowScalar(acc + j, n - j, row_scale, zero_point, col_scale + j, col_sum + j, accumulate,
                      y + j);
}

#pragma GCC diagnostic pop

bool UseAvx512() {
  static const bool avx512 = compute::HasAvx512f();
  return avx512;
}

// Rows run in chunks of kChunkRows plus a tail rounded up to a multiple of kRowStep (oneDNN's
// brgemm fixes M at primitive creation), as in packed_matmul.cc.
constexpr int64_t kChunkRows = 256;
constexpr int64_t kRowStep = 16;

class Int8Matmul final : public PackedMatmul {
 public:
  absl::Status Init(const float* weight, int out, int in, int levels) {
    if (levels != 127 && levels != 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("int8 matmul: activation levels must be 127 or 255, not ", levels));
    }
    out_ = out;
    in_ = in;
    levels_ = levels;
    col_scale_.resize(out);
    col_sum_.resize(out);
    // Wq [out, in] row-major is Wq^T [in, out] in "ba" layout.
    plain_.resize(static_cast<size_t>(out) * in);
    for (int n = 0; n < out; ++n) {
      const float* w = weight + static_cast<size_t>(n) * in;
      float amax = 0.0f;
      for (int k = 0; k < in; ++k) amax = std::max(amax, std::fabs(w[k]));
      const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
      const float inv = 1.0f / scale;
      int32_t sum = 0;
      int8_t* q = plain_.data() + static_cast<size_t>(n) * in;
      for (int k = 0; k < in; ++k) {
        q[k] = static_cast<int8_t>(std::clamp(std::nearbyint(w[k] * inv), -127.0f, 127.0f));
        sum += q[k];
      }
      col_scale_[n] = scale;
      col_sum_[n] = sum;
    }
    try {
      std::lock_guard<std::mutex> lock(mu_);
      impl_ = GetPrimitiveLocked(kChunkRows)->pd.impl_info_str();
      plain_.clear();
      plain_.shrink_to_fit();
    } catch (const dnnl::error& e) {
      return absl::InternalError(
          absl::StrCat("oneDNN int8 matmul [", out, "x", in, "] setup failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  void Run(const float* x, int64_t rows, float* y, bool accumulate,
           int num_threads) const override {
    if (rows <= 0) return;
    SetOneDnnThreads(num_threads);
    CountGemmFlops(2ull * static_cast<uint64_t>(rows) * out_ * in_);
    const int64_t padded = (rows + kRowStep - 1) / kRowStep * kRowStep;
    // Per calling thread: quantised rows (padding rows zero), their scales, the int32 products.
    thread_local std::vector<uint8_t> xq;
    thread_local std::vector<RowQuantization> rq;
    thread_local std::vector<int32_t> acc;
    thread_local std::vector<char> scratch;
    if (xq.size() < static_cast<size_t>(padded) * in_) xq.resize(static_cast<size_t>(padded) * in_);
    std::fill(xq.begin() + rows * in_, xq.begin() + padded * in_, 0);
    rq.resize(rows);
    for (int64_t r = 0; r < rows; ++r) {
      rq[r] = QuantizeRowU8(x + r * in_, in_, levels_, xq.data() + r * in_);
    }
    const bool avx512 = UseAvx512();
    thread_local dnnl::stream s(CpuEngine());
    for (int64_t r0 = 0; r0 < rows;) {
      const int64_t left = rows - r0;
      const int64_t m =
          left >= kChunkRows ? kChunkRows : (left + kRowStep - 1) / kRowStep * kRowStep;
      const int64_t valid = std::min(m, left);
      const Primitive* p;
      {
        std::lock_guard<std::mutex> lock(mu_);
        p = GetPrimitiveLocked(m);
      }
      if (acc.size() < static_cast<size_t>(m) * out_) acc.resize(static_cast<size_t>(m) * out_);
      dnnl::memory src_mem(p->pd.src_desc(), CpuEngine(), xq.data() + r0 * in_);
      dnnl::memory dst_mem(p->pd.dst_desc(), CpuEngine(), acc.data());
      const dnnl::memory::desc scratch_md = p->pd.scratchpad_desc();
      if (scratch.size() < scratch_md.get_size()) scratch.resize(scratch_md.get_size());
      dnnl::memory scratch_mem(scratch_md, CpuEngine(), scratch.data());
      p->prim.execute(s, {{DNNL_ARG_SRC, src_mem},
                          {DNNL_ARG_WEIGHTS, *weights_},
                          {DNNL_ARG_DST, dst_mem},
                          {DNNL_ARG_SCRATCHPAD, scratch_mem}});
      s.wait();
      for (int64_t r = 0; r < valid; ++r) {
        const RowQuantization& q = rq[r0 + r];
        const int32_t* a = acc.data() + r * out_;
        float* yr = y + (r0 + r) * out_;
        if (avx512) {
          DequantizeRowAvx512(a, out_, q.scale, q.zero_point, col_scale_.data(), col_sum_.data(),
                              accumulate, yr);
        } else {
          DequantizeRowScalar(a, out_, q.scale, q.zero_point, col_scale_.data(), col_sum_.data(),
                              accumulate, yr);
        }
      }
      r0 += valid;
    }
  }

  std::string backend() const override { return "onednn:" + impl_; }

 private:
  struct Primitive {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
  };

  // Requires mu_. Throws dnnl::error when oneDNN cannot build the primitive. The first one
  // picks the weights layout (tag::any) and packs the weights into it; later ones read it.
  // Keyed like packed_matmul.cc's entries: per row count and oneDNN thread count.
  const Primitive* GetPrimitiveLocked(int64_t m) const {
    const std::pair<int64_t, int> key(m, OneDnnThreads());
    auto it = primitives_.find(key);
    if (it != primitives_.end()) return it->second.get();
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc src_md({m, in_}, dt::u8, tag::ab);
    const dnnl::memory::desc dst_md({m, out_}, dt::s32, tag::ab);
    const dnnl::memory::desc wei_md =
        weights_ ? weights_->get_desc() : dnnl::memory::desc({in_, out_}, dt::s8, tag::any);
    dnnl::primitive_attr attr;
    // Concurrent callers each pass their own scratchpad (see packed_matmul.cc).
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    auto p = std::make_unique<Primitive>();
    p->pd =
        dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), attr, CpuEngine());
    p->prim = dnnl::matmul(p->pd);
    if (!weights_) weights_ = PackWeights(plain_.data(), in_, out_, dt::s8, p->pd.weights_desc());
    const Primitive* raw = p.get();
    primitives_.emplace(key, std::move(p));
    return raw;
  }

  int out_ = 0;
  int in_ = 0;
  int levels_ = 255;
  std::vector<float> col_scale_;       // sw[n]
  std::vector<int32_t> col_sum_;       // sum_k Wq[n, k]
  mutable std::vector<int8_t> plain_;  // Wq, only until the weights are packed
  mutable std::mutex mu_;
  mutable std::map<std::pair<int64_t, int>, std::unique_ptr<Primitive>> primitives_;
  mutable std::unique_ptr<dnnl::memory> weights_;  // packed once, read by every primitive
  std::string impl_;
};

}  // namespace

RowQuantization QuantizeRowU8(const float* x, int64_t n, int levels, uint8_t* q) {
  if (UseAvx512()) return QuantizeRowAvx512(x, n, levels, q);
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const RowQuantization r = RangeToQuantization(lo, hi, levels);
  QuantizeScalar(x, n, 1.0f / r.scale, r.zero_point, levels, q);
  return r;
}

absl::StatusOr<std::unique_ptr<PackedMatmul>> CreateInt8Matmul(const float* weight, int out, int in,
                                                               int levels) {
  auto m = std::make_unique<Int8Matmul>();
  absl::Status st = m->Init(weight, out, in, levels);
  if (!st.ok()) return st;
  return std::unique_ptr<PackedMatmul>(std::move(m));
}

}  // namespace tartan::encoder
