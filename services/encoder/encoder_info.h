// What the encoder runs on, exported: the GetModelInfo kernel fields and the Prometheus info
// metric tartan_encoder_info{version, model, dim, attention_impl, blas_core, blas_core_verdict,
// matmul_impl, matmul_verdict, onednn_isa, precision, requested_precision} 1.
#pragma once

#include <prometheus/registry.h>

#include "services/encoder/lib/colbert/colbert_encoder.h"
#include "tartan/v1/encoder.pb.h"

namespace tartan::encoder {

// Sets the kernel and precision fields of `response` from `info`.
void FillKernelInfo(const ModelInfo& info, tartan::v1::ModelInfo* response);

// Sets tartan_encoder_info with the labels above, value 1 (replacing the version-only series).
void ExportEncoderInfoMetric(prometheus::Registry& registry, const ModelInfo& info);

}  // namespace tartan::encoder
