// Arithmetic precision of the backbone's matrix products.
#pragma once

namespace tartan::encoder {

// kFloat32: OpenBLAS sgemm. kBFloat16: oneDNN matmul with bf16 weights and activations and
// float32 accumulation (needs AVX512-BF16 or AMX to be fast). kAuto: a request only, resolved
// when the backbone loads: kBFloat16 where the CPU has native bf16 (AVX512-BF16 or AMX),
// kFloat32 elsewhere; a loaded backbone reports the resolved precision, never kAuto.
enum class Precision { kFloat32, kBFloat16, kAuto };

}  // namespace tartan::encoder
