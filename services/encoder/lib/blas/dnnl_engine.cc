#include "services/encoder/lib/blas/dnnl_engine.h"

#include <algorithm>

extern "C" void omp_set_num_threads(int);

namespace tartan::encoder {

dnnl::engine& CpuEngine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

void SetOneDnnThreads(int num_threads) { omp_set_num_threads(std::max(1, num_threads)); }

std::unique_ptr<dnnl::memory> PackWeights(const void* plain, int64_t in, int64_t out,
                                          dnnl::memory::data_type type,
                                          const dnnl::memory::desc& packed) {
  const dnnl::memory::desc plain_md({in, out}, type, dnnl::memory::format_tag::ba);
  dnnl::memory src(plain_md, CpuEngine(), const_cast<void*>(plain));
  auto dst = std::make_unique<dnnl::memory>(packed, CpuEngine());
  dnnl::stream s(CpuEngine());
  dnnl::reorder(src, *dst).execute(s, src, *dst);
  s.wait();
  return dst;
}

}  // namespace tartan::encoder
