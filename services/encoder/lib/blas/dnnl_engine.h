// The process-wide oneDNN CPU engine and the per-call thread count of its OpenMP runtime.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace tartan::encoder {

dnnl::engine& CpuEngine();

// oneDNN's threading runtime (libgomp) keeps the thread count per calling thread: each product
// sets it for the thread that issues it.
void SetOneDnnThreads(int num_threads);

}  // namespace tartan::encoder
