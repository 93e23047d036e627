#include "services/encoder/lib/layers/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tartan::encoder {

void ExpInPlace(float* x, int n) {
  for (int i = 0; i < n; ++i) x[i] = std::exp(x[i]);
}

bool MaskedSoftmaxRow(float* row, int n, int lo, int hi, const uint8_t* key_mask) {
  float mx = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (int j = lo; j < hi; ++j) {
    if (key_mask[j]) {
      mx = std::max(mx, row[j]);
      any = true;
    }
  }
  std::fill(row, row + lo, 0.0f);
  std::fill(row + hi, row + n, 0.0f);
  if (!any) {
    std::fill(row + lo, row + hi, 0.0f);
    return false;
  }
  for (int j = lo; j < hi; ++j) row[j] = key_mask[j] ? row[j] - mx : -INFINITY;
  ExpInPlace(row + lo, hi - lo);
  double sum = 0.0;
  for (int j = lo; j < hi; ++j) sum += row[j];
  const float inv = static_cast<float>(1.0 / sum);
  for (int j = lo; j < hi; ++j) row[j] *= inv;
  return true;
}

}  // namespace tartan::encoder
