// The process-wide oneDNN CPU engine and the per-call thread count of its OpenMP runtime.
#pragma once

#include <cstdint>
#include <memory>

#include <oneapi/dnnl/dnnl.hpp>

namespace tartan::encoder {

dnnl::engine& CpuEngine();

// oneDNN's threading runtime (libgomp) keeps the thread count per calling thread: each product
// sets it for the thread that issues it.
void SetOneDnnThreads(int num_threads);

// Copies plain row-major weights [in, out] of `type` (stored transposed: [out, in], tag::ba)
// into the layout a primitive chose (`packed`), once, at its first use.
std::unique_ptr<dnnl::memory> PackWeights(const void* plain, int64_t in, int64_t out,
                                          dnnl::memory::data_type type,
                                          const dnnl::memory::desc& packed);

}  // namespace tartan::encoder
