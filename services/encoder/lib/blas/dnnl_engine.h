// Weights packed for oneDNN primitives; the engine and thread count are the process's
// (common/compute/dnnl_matmul.h).
#pragma once

#include <cstdint>
#include <memory>

#include <oneapi/dnnl/dnnl.hpp>

#include "common/compute/dnnl_matmul.h"

namespace tartan::encoder {

using compute::CpuEngine;
using compute::OneDnnThreads;
using compute::SetOneDnnThreads;

// Copies plain row-major weights [in, out] of `type` (stored transposed: [out, in], tag::ba)
// into the layout a primitive chose (`packed`), once, at its first use.
std::unique_ptr<dnnl::memory> PackWeights(const void* plain, int64_t in, int64_t out,
                                          dnnl::memory::data_type type,
                                          const dnnl::memory::desc& packed);

}  // namespace tartan::encoder
