#include "services/encoder/lib/blas/dnnl_engine.h"

namespace tartan::encoder {

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
