#include "services/encoder/lib/blas/packed_matmul.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/compute/cpu_features.h"
#include "services/encoder/lib/blas/bf16.h"
#include "services/encoder/lib/blas/dnnl_engine.h"
#include "services/encoder/lib/blas/gemm.h"
#include "services/encoder/lib/layers/scratch.h"

namespace tartan::encoder {

bool CpuHasNativeBf16() {
  // oneDNN must agree: ONEDNN_MAX_CPU_ISA may cap it below the CPU (then it has no bf16 matmul).
  static const bool has = [] {
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (compute::HasAmxBf16() || compute::HasAvx512Bf16()) &&
           (isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx);
  }();
  return has;
}

namespace {

class EmulatedBf16Matmul final : public PackedMatmul {
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

// oneDNN's fast kernels (brgemm, AMX) fix M at primitive creation. Rows run in chunks of
// kChunkRows (one primitive) plus a tail rounded up to a multiple of kRowStep (one primitive
// per tail size), so at most kRowStep - 1 rows are padding and at most
// kChunkRows / kRowStep primitives exist per direction and thread count (a primitive runs with
// the oneDNN thread count it was created under: OneDnnThreads()).
constexpr int64_t kChunkRows = 256;
constexpr int64_t kRowStep = 16;

class DnnlPackedMatmul final : public PackedMatmul {
 public:
  absl::Status Init(const float* weight, int out, int in, MatmulDataType type) {
    out_ = out;
    in_ = in;
    type_ = type;
    // W [out, in] row-major is W^T [in, out] in "ba" layout; the plain copy is reordered into
    // whatever layout a primitive prefers (blocked for brgemm/AMX) and then dropped.
    const size_t n = static_cast<size_t>(out) * in;
    if (type == MatmulDataType::kBFloat16) {
      std::vector<uint16_t> plain(n);
      for (size_t i = 0; i < n; ++i) plain[i] = ToBf16(weight[i]);
      plain_bytes_.assign(reinterpret_cast<const char*>(plain.data()),
                          reinterpret_cast<const char*>(plain.data() + n));
    } else {
      plain_bytes_.assign(reinterpret_cast<const char*>(weight),
                          reinterpret_cast<const char*>(weight + n));
    }
    try {
      std::lock_guard<std::mutex> lock(mu_);
      // Every primitive reads the weights in the layout the full chunk asked for; building it
      // here fails early if oneDNN has no such matmul on this CPU.
      impl_ = GetEntryLocked(kChunkRows)->pd[0].impl_info_str();
      plain_bytes_.clear();
      plain_bytes_.shrink_to_fit();
    } catch (const dnnl::error& e) {
      return absl::InternalError(absl::StrCat("oneDNN ", DataTypeName(), " matmul [", out, "x", in,
                                              "] setup failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  void Run(const float* x, int64_t rows, float* y, bool accumulate,
           int num_threads) const override {
    if (rows <= 0) return;
    SetOneDnnThreads(num_threads);
    CountGemmFlops(2ull * static_cast<uint64_t>(rows) * out_ * in_);
    const bool bf16 = type_ == MatmulDataType::kBFloat16;
    const int64_t padded = (rows + kRowStep - 1) / kRowStep * kRowStep;
    // bf16 activations are rounded once for all chunks (tail rows zero); float32 ones are read
    // in place except for a padded tail.
    // Per calling thread, reused across calls (a fresh zeroed vector per product showed in perf).
    thread_local std::vector<uint16_t> xb_scratch;
    ScratchLease<uint16_t> xb(xb_scratch, bf16 ? static_cast<size_t>(padded) * in_ : 0);
    if (bf16) {
      ToBf16(x, static_cast<size_t>(rows) * in_, xb.data());
      std::fill(xb.data() + rows * in_, xb.data() + padded * in_, uint16_t{0});
    }
    std::vector<float> tail_x, tail_y;
    // One stream per calling thread (a stream is not shared across threads; creating one per
    // product costs more than a small attention product).
    thread_local dnnl::stream s(CpuEngine());
    for (int64_t r0 = 0; r0 < rows;) {
      const int64_t left = rows - r0;
      const int64_t m =
          left >= kChunkRows ? kChunkRows : (left + kRowStep - 1) / kRowStep * kRowStep;
      const int64_t valid = std::min(m, left);
      const void* src = bf16 ? static_cast<const void*>(xb.data() + r0 * in_)
                             : static_cast<const void*>(x + r0 * in_);
      float* dst = y + r0 * out_;
      if (valid < m) {
        if (!bf16) {
          tail_x.assign(static_cast<size_t>(m) * in_, 0.0f);
          std::memcpy(tail_x.data(), x + r0 * in_, sizeof(float) * valid * in_);
          src = tail_x.data();
        }
        tail_y.assign(static_cast<size_t>(m) * out_, 0.0f);
        if (accumulate) std::memcpy(tail_y.data(), dst, sizeof(float) * valid * out_);
        dst = tail_y.data();
      }
      const Entry* e;
      {
        std::lock_guard<std::mutex> lock(mu_);
        e = GetEntryLocked(m);
      }
      dnnl::memory src_mem(e->pd[0].src_desc(), CpuEngine(), const_cast<void*>(src));
      dnnl::memory dst_mem(e->pd[0].dst_desc(), CpuEngine(), dst);
      const int which = accumulate ? 1 : 0;
      const dnnl::memory::desc scratch_md = e->pd[which].scratchpad_desc();
      thread_local std::vector<char> scratch;
      if (scratch.size() < scratch_md.get_size()) scratch.resize(scratch_md.get_size());
      dnnl::memory scratch_mem(scratch_md, CpuEngine(), scratch.data());
      e->prim[which].execute(s, {{DNNL_ARG_SRC, src_mem},
                                 {DNNL_ARG_WEIGHTS, *weights_},
                                 {DNNL_ARG_DST, dst_mem},
                                 {DNNL_ARG_SCRATCHPAD, scratch_mem}});
      s.wait();
      if (valid < m) std::memcpy(y + r0 * out_, tail_y.data(), sizeof(float) * valid * out_);
      r0 += valid;
    }
  }
  std::string backend() const override { return "onednn:" + impl_; }

 private:
  struct Entry {
    dnnl::matmul::primitive_desc pd[2];  // [0]: y = xW^T, [1]: y += xW^T (sum post-op)
    dnnl::matmul prim[2];
  };

  const char* DataTypeName() const { return type_ == MatmulDataType::kBFloat16 ? "bf16" : "f32"; }
  dnnl::memory::data_type Dt() const {
    return type_ == MatmulDataType::kBFloat16 ? dnnl::memory::data_type::bf16
                                              : dnnl::memory::data_type::f32;
  }

  // Requires mu_. Throws dnnl::error when oneDNN cannot build the primitive. Entries are per
  // row count and per the calling thread's oneDNN thread count.
  const Entry* GetEntryLocked(int64_t m) const {
    const std::pair<int64_t, int> key(m, OneDnnThreads());
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second.get();
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    auto e = std::make_unique<Entry>();
    const dnnl::memory::desc src_md({m, in_}, Dt(), tag::ab);
    const dnnl::memory::desc dst_md({m, out_}, dt::f32, tag::ab);
    // The first entry picks the weights layout (tag::any); later ones must read the same.
    const dnnl::memory::desc wei_md =
        weights_ ? weights_->get_desc() : dnnl::memory::desc({in_, out_}, Dt(), tag::any);
    for (int acc = 0; acc < 2; ++acc) {
      dnnl::primitive_attr attr;
      // Several threads run the same primitive at once (concurrent Encode calls): each passes
      // its own scratchpad, which is what makes that safe in oneDNN.
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      if (acc) {
        dnnl::post_ops ops;
        ops.append_sum(1.0f);
        attr.set_post_ops(ops);
      }
      e->pd[acc] = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), attr,
                                                CpuEngine());
      e->prim[acc] = dnnl::matmul(e->pd[acc]);
    }
    if (!weights_) {
      if (e->pd[1].weights_desc() != e->pd[0].weights_desc()) {
        throw dnnl::error(dnnl_unimplemented, "accumulating matmul wants another weights layout");
      }
      weights_ = PackWeights(plain_bytes_.data(), in_, out_, Dt(), e->pd[0].weights_desc());
    }
    const Entry* raw = e.get();
    entries_.emplace(key, std::move(e));
    return raw;
  }

  int out_ = 0;
  int in_ = 0;
  MatmulDataType type_ = MatmulDataType::kFloat32;
  mutable std::vector<char> plain_bytes_;  // only until the weights are packed
  mutable std::mutex mu_;
  mutable std::map<std::pair<int64_t, int>, std::unique_ptr<Entry>> entries_;
  mutable std::unique_ptr<dnnl::memory> weights_;  // packed once, read by every primitive
  std::string impl_;
};

}  // namespace

std::unique_ptr<PackedMatmul> PackedMatmul::CreateEmulatedBf16(const float* weight, int out,
                                                               int in) {
  return std::make_unique<EmulatedBf16Matmul>(weight, out, in);
}

absl::StatusOr<std::unique_ptr<PackedMatmul>> PackedMatmul::Create(const float* weight, int out,
                                                                   int in, MatmulDataType type) {
  auto m = std::make_unique<DnnlPackedMatmul>();
  absl::Status st = m->Init(weight, out, in, type);
  if (!st.ok()) return st;
  return std::unique_ptr<PackedMatmul>(std::move(m));
}

}  // namespace tartan::encoder
