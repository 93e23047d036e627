#include "common/compute/dnnl_matmul.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "absl/container/flat_hash_map.h"

extern "C" void omp_set_num_threads(int);
extern "C" int omp_get_max_threads();

namespace tartan::compute {
namespace {

using Key = std::tuple<int, bool, int, int, int, uint32_t, int64_t, int64_t, int64_t, int, int64_t,
                       int64_t, int64_t, int>;

struct Cached {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

// Shapes repeat across heads, layers, calls and queries (tiles of the same sequence lengths,
// a codec's centroids against each query length); the cap bounds the cache on a long-running
// server that sees every length.
constexpr size_t kMaxCachedShapes = 4096;

const Cached& GetPrimitive(MatmulDataType type, bool trans_b, int m, int n, int k, float alpha,
                           int64_t lda, int64_t ldb, int64_t ldc, const MatmulBatch& batch) {
  thread_local absl::flat_hash_map<Key, Cached> cache;
  uint32_t alpha_bits;
  std::memcpy(&alpha_bits, &alpha, 4);
  const Key key{static_cast<int>(type),
                trans_b,
                m,
                n,
                k,
                alpha_bits,
                lda,
                ldb,
                ldc,
                batch.count,
                batch.stride_a,
                batch.stride_b,
                batch.stride_c,
                OneDnnThreads()};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= kMaxCachedShapes) cache.clear();
  using dt = dnnl::memory::data_type;
  const dt ab = type == MatmulDataType::kBFloat16 ? dt::bf16 : dt::f32;
  using dims = dnnl::memory::dims;
  const dims b_strides = trans_b ? dims{1, ldb} : dims{ldb, 1};
  dnnl::memory::desc a_md({m, k}, ab, dims{lda, 1});
  dnnl::memory::desc b_md({k, n}, ab, b_strides);
  dnnl::memory::desc c_md({m, n}, dt::f32, dims{ldc, 1});
  if (batch.count > 1) {
    a_md = dnnl::memory::desc({batch.count, m, k}, ab, dims{batch.stride_a, lda, 1});
    b_md = dnnl::memory::desc({batch.count, k, n}, ab,
                              dims{batch.stride_b, b_strides[0], b_strides[1]});
    c_md = dnnl::memory::desc({batch.count, m, n}, dt::f32, dims{batch.stride_c, ldc, 1});
  }
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  Cached c;
  c.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), attr, CpuEngine());
  c.prim = dnnl::matmul(c.pd);
  return cache.emplace(key, std::move(c)).first->second;
}

}  // namespace

dnnl::engine& CpuEngine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

void SetOneDnnThreads(int num_threads) { omp_set_num_threads(std::max(1, num_threads)); }

int OneDnnThreads() { return omp_get_max_threads(); }

void StridedMatmul(MatmulDataType type, bool trans_b, int m, int n, int k, float alpha,
                   const void* a, int64_t lda, const void* b, int64_t ldb, float* c, int64_t ldc,
                   int num_threads, const MatmulBatch& batch) {
  if (m <= 0 || n <= 0 || batch.count <= 0) return;
  SetOneDnnThreads(num_threads);
  const Cached& p = GetPrimitive(type, trans_b, m, n, k, alpha, lda, ldb, ldc, batch);
  dnnl::memory a_mem(p.pd.src_desc(), CpuEngine(), const_cast<void*>(a));
  dnnl::memory b_mem(p.pd.weights_desc(), CpuEngine(), const_cast<void*>(b));
  dnnl::memory c_mem(p.pd.dst_desc(), CpuEngine(), c);
  // One stream per calling thread (a stream is not shared across threads; creating one per
  // product costs more than a small attention product).
  thread_local dnnl::stream s(CpuEngine());
  p.prim.execute(s, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  s.wait();
}

std::string StridedMatmulImpl(MatmulDataType type, bool trans_b, int m, int n, int k, float alpha,
                              int64_t lda, int64_t ldb, int64_t ldc) {
  return GetPrimitive(type, trans_b, m, n, k, alpha, lda, ldb, ldc, MatmulBatch{})
      .pd.impl_info_str();
}

}  // namespace tartan::compute
