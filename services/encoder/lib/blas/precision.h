// Arithmetic precision of the backbone's matrix products.
#pragma once

namespace tartan::encoder {

// kFloat32: oneDNN f32 matmul. kBFloat16: oneDNN matmul with bf16 weights and activations and
// float32 accumulation (needs AVX512-BF16 or AMX to be fast). kInt8: the projections and the
// Dense head as dynamic int8 products (blas/int8_matmul.h: per-token u8 activations, per-channel
// s8 weights quantised at load, int32 accumulation); the attention products stay bf16 where the
// CPU has native bf16, else float32; opt-in only (lossy), never picked by kAuto. kAuto: a
// request only, resolved when the backbone loads: kBFloat16 where the CPU has native bf16
// (AVX512-BF16 or AMX), kFloat32 elsewhere; a loaded backbone reports the resolved precision,
// never kAuto.
enum class Precision { kFloat32, kBFloat16, kInt8, kAuto };

}  // namespace tartan::encoder
