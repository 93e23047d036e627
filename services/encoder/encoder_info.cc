#include "services/encoder/encoder_info.h"

#include <string>

#include "common/server/rpc_metrics.h"

namespace tartan::encoder {

void FillKernelInfo(const ModelInfo& info, tartan::v1::ModelInfo* response) {
  response->set_precision(std::string(PrecisionName(info.precision)));
  response->set_requested_precision(std::string(PrecisionName(info.requested_precision)));
  response->set_blas_core(info.blas_core);
  response->set_blas_core_verdict(info.blas_core_verdict);
  response->set_kernel_warning(info.kernel_warning);
  response->set_onednn_isa(info.onednn_isa);
}

void ExportEncoderInfoMetric(prometheus::Registry& registry, const ModelInfo& info) {
  // Label values are bounded: OpenBLAS core names, oneDNN ISA and implementation names,
  // verdicts, precision names.
  SetServiceInfo(registry, "encoder", info.name, std::to_string(info.dim),
                 {{"attention_impl", info.attention_impl},
                  {"blas_core", info.blas_core},
                  {"blas_core_verdict", info.blas_core_verdict},
                  {"matmul_impl", info.matmul_impl},
                  {"matmul_verdict", info.matmul_verdict},
                  {"onednn_isa", info.onednn_isa},
                  {"precision", std::string(PrecisionName(info.precision))},
                  {"requested_precision", std::string(PrecisionName(info.requested_precision))}});
}

}  // namespace tartan::encoder
