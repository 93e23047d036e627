// Dynamic int8 products for the encoder's projections: y[M, N] (+)= x[M, K] * W[N, K]^T with
//   - weights quantised once, at load, symmetric per output channel:
//       W[n, k] ~ sw[n] * Wq[n, k], Wq in [-127, 127], sw[n] = max_k |W[n, k]| / 127;
//   - activations quantised at every call, asymmetric per row (token):
//       x[m, k] ~ sa[m] * (Xq[m, k] - zp[m]), Xq in [0, levels], the row's [min, max] (widened
//       to include 0) spread over the levels;
//   - oneDNN's u8 x s8 -> s32 matmul (brgemm with VNNI where present, weights packed once in the
//     layout it asks for), then y = sa[m] * sw[n] * (acc[m, n] - zp[m] * sum_k Wq[n, k]) in one
//     vectorised pass (oneDNN 2.6's matmul scales are per tensor or per column only).
// Lossy: see CpuHasInt8Dot for the activation levels and README ("Precision") for the accuracy.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "services/encoder/lib/blas/packed_matmul.h"

namespace tartan::encoder {

// True when oneDNN runs u8 x s8 dot products with VNNI (AVX512-VNNI, AVX-VNNI or AMX): the
// 4-way products accumulate straight into int32. Without VNNI oneDNN pairs them in int16
// (vpmaddubsw), which saturates for 8-bit activations, so activations then use 7 bits.
bool CpuHasInt8Dot();
// 255 where CpuHasInt8Dot(), else 127: the largest quantised activation value.
int Int8ActivationLevels();

// One row's activation quantisation: x ~ scale * (q - zero_point).
struct RowQuantization {
  float scale = 1.0f;
  int32_t zero_point = 0;
};
// Quantises x[0, n) to q[0, n) in [0, levels]; |x - scale * (q - zero_point)| <= scale / 2 for
// finite x (up to float rounding). A row of zeros gives scale 1, zero point 0, q = 0.
// AVX-512 where present; the same rounding (nearest even) and result as the scalar code.
RowQuantization QuantizeRowU8(const float* x, int64_t n, int levels, uint8_t* q);

// weight: [out, in] float32, quantised and packed here (the caller's buffer is not kept).
// levels: Int8ActivationLevels() (tests pass 127 to exercise the 7-bit path on any CPU).
// backend() is "onednn:<implementation>" ("onednn:brg:avx512_core_vnni"). Fails when oneDNN
// cannot build the product.
absl::StatusOr<std::unique_ptr<PackedMatmul>> CreateInt8Matmul(const float* weight, int out, int in,
                                                               int levels);

}  // namespace tartan::encoder
