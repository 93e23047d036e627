// Arithmetic precision of the backbone's matrix products.
#pragma once

namespace tartan::encoder {

// kFloat32: OpenBLAS sgemm. kBFloat16: oneDNN matmul with bf16 weights and activations and
// float32 accumulation (needs AVX512-BF16 or AMX to be fast).
enum class Precision { kFloat32, kBFloat16 };

}  // namespace tartan::encoder
