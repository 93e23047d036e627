#include "common/compute/dnnl_matmul.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_map.h"

extern "C" void omp_set_num_threads(int);

namespace tartan::compute {

dnnl::engine& CpuEngine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

void SetOneDnnThreads(int num_threads) { omp_set_num_threads(std::max(1, num_threads)); }

void MatmulABt(const float* a, int m, const float* b, int n, int k, float* c) {
  if (m <= 0 || n <= 0) return;
  struct Cached {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
  };
  // Shapes are (centroids of a codec, query length, dim): few per process; the cap bounds a
  // server that sees every query length.
  constexpr size_t kMaxCachedShapes = 256;
  thread_local absl::flat_hash_map<std::tuple<int, int, int>, Cached> cache;
  auto it = cache.find({m, n, k});
  if (it == cache.end()) {
    if (cache.size() >= kMaxCachedShapes) cache.clear();
    using dt = dnnl::memory::data_type;
    using dims = dnnl::memory::dims;
    const dnnl::memory::desc a_md({m, k}, dt::f32, dims{k, 1});
    const dnnl::memory::desc b_md({k, n}, dt::f32, dims{1, k});  // b^T, read in place
    const dnnl::memory::desc c_md({m, n}, dt::f32, dims{n, 1});
    Cached fresh;
    fresh.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), CpuEngine());
    fresh.prim = dnnl::matmul(fresh.pd);
    it = cache.emplace(std::tuple<int, int, int>{m, n, k}, std::move(fresh)).first;
  }
  SetOneDnnThreads(1);
  const Cached& p = it->second;
  dnnl::memory a_mem(p.pd.src_desc(), CpuEngine(), const_cast<float*>(a));
  dnnl::memory b_mem(p.pd.weights_desc(), CpuEngine(), const_cast<float*>(b));
  dnnl::memory c_mem(p.pd.dst_desc(), CpuEngine(), c);
  thread_local dnnl::stream s(CpuEngine());
  p.prim.execute(s, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  s.wait();
}

}  // namespace tartan::compute
