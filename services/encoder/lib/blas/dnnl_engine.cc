#include "services/encoder/lib/blas/dnnl_engine.h"

#include <algorithm>

extern "C" void omp_set_num_threads(int);

namespace tartan::encoder {

dnnl::engine& CpuEngine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

void SetOneDnnThreads(int num_threads) { omp_set_num_threads(std::max(1, num_threads)); }

}  // namespace tartan::encoder
