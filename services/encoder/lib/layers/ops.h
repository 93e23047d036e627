// Row-wise elementwise blocks shared by the architectures. Matrices are row-major
// [rows, dim] float32; every function may run in place (x == out).
#pragma once

#include <cstdint>

#include "services/encoder/lib/model_config.h"

namespace tartan::encoder {

// out = (x - mean) / sqrt(var + eps) * gamma (+ beta when non-null), per row (biased variance,
// as torch.nn.LayerNorm).
void LayerNormRows(const float* x, int64_t rows, int dim, const float* gamma, const float* beta,
                   float eps, float* out);

// x = act(x), elementwise over n values.
void ActivateInPlace(float* x, int64_t n, Activation act);

// GeGLU-style gate: in [rows, 2*inter] holds (input | gate) halves per row;
// out[rows, inter] = act(input) * gate.
void GatedActivation(const float* in, int64_t rows, int inter, Activation act, float* out);

// x += y over n values.
void AddInPlace(float* x, const float* y, int64_t n);

// y = x with rows gathered from an embedding table: out[t] = table[ids[t]] (dim floats each).
// Caller validates ids.
void GatherRows(const float* table, int dim, const int32_t* ids, int64_t n, float* out);

}  // namespace tartan::encoder
