// oneDNN for the products outside the encoder's model: the process-wide CPU engine, the
// per-call thread count of its OpenMP runtime, and a plain f32 C = A . B^T. oneDNN picks its
// kernels by CPUID (brg:avx512_core here); Debian's OpenBLAS 0.3.21 ran the indexer's
// query-centroid product 3x slower on the same core (bench/RESULTS.md, issue 11).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace tartan::compute {

dnnl::engine& CpuEngine();

// oneDNN's threading runtime (libgomp) keeps the thread count per calling thread: each product
// sets it for the thread that issues it.
void SetOneDnnThreads(int num_threads);

// c[i * n + j] = a[i] . b[j] for row-major a [m, k] and b [n, k] (every row contiguous), on the
// calling thread. Primitives are cached per shape on each calling thread.
void MatmulABt(const float* a, int m, const float* b, int n, int k, float* c);

}  // namespace tartan::compute
