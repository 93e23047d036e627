#include "services/indexer/lib/codec.h"

#include <cblas.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "services/indexer/lib/kernels.h"

namespace tartan::index {
namespace {

constexpr size_t kAssignChunk = 4096;  // rows per GEMM when assigning codes

float Norm(const float* x, int dim) {
  float s = 0;
  for (int k = 0; k < dim; ++k) s += x[k] * x[k];
  return std::sqrt(s);
}

void Normalize(float* x, int dim) {
  float n = Norm(x, dim);
  if (n > 0)
    for (int k = 0; k < dim; ++k) x[k] /= n;
}

// codes[r] = argmax_c (x_r . c - bias_c); bias = |c|^2/2 for L2, 0 for dot product.
void AssignWith(const float* x, size_t n, int dim, const float* centroids, int nc,
                const std::vector<float>& bias, uint32_t* codes) {
  std::vector<float> s;
  for (size_t b = 0; b < n; b += kAssignChunk) {
    const size_t rows = std::min(kAssignChunk, n - b);
    s.resize(rows * nc);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), nc, dim, 1.f,
                x + b * dim, dim, centroids, dim, 0.f, s.data(), nc);
    for (size_t r = 0; r < rows; ++r) {
      const float* row = s.data() + r * nc;
      int best = 0;
      float best_s = row[0] - bias[0];
      for (int c = 1; c < nc; ++c) {
        float v = row[c] - bias[c];
        if (v > best_s) best_s = v, best = c;
      }
      codes[b + r] = uint32_t(best);
    }
  }
}

std::vector<float> Bias(const Codec& codec) {
  std::vector<float> bias(codec.num_centroids, 0.f);
  if (!codec.normalize)
    for (int c = 0; c < codec.num_centroids; ++c) {
      float n = Norm(codec.centroids.data() + size_t(c) * codec.dim, codec.dim);
      bias[c] = 0.5f * n * n;
    }
  return bias;
}

int Bucketize(const float* cutoffs, int nopts, float v) {
  // Number of cutoffs strictly below v (torch.bucketize, right=False).
  int b = 0;
  while (b < nopts - 1 && cutoffs[b] < v) ++b;
  return b;
}

}  // namespace

int UnpackBucket(const uint8_t* packed, int dimension, int nbits) {
  int v = 0;
  for (int bit = 0; bit < nbits; ++bit) {
    const int pos = dimension * nbits + bit;  // position in the bit stream
    const int value = (packed[pos >> 3] >> (7 - (pos & 7))) & 1;
    v |= value << bit;
  }
  return v;
}

void PackBuckets(const uint8_t* buckets, int dim, int nbits, uint8_t* packed) {
  std::fill(packed, packed + dim * nbits / 8, 0);
  for (int d = 0; d < dim; ++d)
    for (int bit = 0; bit < nbits; ++bit) {
      const int pos = d * nbits + bit;
      if ((buckets[d] >> bit) & 1) packed[pos >> 3] |= uint8_t(1u << (7 - (pos & 7)));
    }
}

void Codec::Finalize() {
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  int32_t header[4] = {dim, nbits, num_centroids, normalize ? 1 : 0};
  XXH64_update(st, header, sizeof(header));
  XXH64_update(st, centroids.data(), centroids.size() * sizeof(float));
  XXH64_update(st, bucket_cutoffs.data(), bucket_cutoffs.size() * sizeof(float));
  XXH64_update(st, bucket_weights.data(), bucket_weights.size() * sizeof(float));
  id = XXH64_digest(st);
  XXH64_freeState(st);

  const int per_byte = 8 / nbits, nopts = 1 << nbits;
  lut.assign(size_t(packed_bytes()) * 256 * per_byte, 0.f);
  for (int p = 0; p < packed_bytes(); ++p)
    for (int b = 0; b < 256; ++b) {
      const uint8_t byte = uint8_t(b);
      for (int j = 0; j < per_byte; ++j) {
        const int d = p * per_byte + j;
        // The byte holds dimensions p*per_byte .. +per_byte-1 (dim*nbits is a multiple of 8).
        int v = 0;
        for (int bit = 0; bit < nbits; ++bit) {
          const int pos = j * nbits + bit;
          v |= ((byte >> (7 - pos)) & 1) << bit;
        }
        lut[(size_t(p) * 256 + b) * per_byte + j] = bucket_weights[size_t(d) * nopts + v];
      }
    }
}

void Codec::Assign(const float* x, size_t n, uint32_t* codes) const {
  AssignWith(x, n, dim, centroids.data(), num_centroids, Bias(*this), codes);
}

void Codec::Encode(const float* x, size_t n, uint32_t* codes, uint8_t* packed) const {
  Assign(x, n, codes);
  const int nopts = 1 << nbits;
  std::vector<uint8_t> buckets(dim);
  for (size_t r = 0; r < n; ++r) {
    const float* c = centroids.data() + size_t(codes[r]) * dim;
    for (int d = 0; d < dim; ++d)
      buckets[d] = uint8_t(
          Bucketize(bucket_cutoffs.data() + size_t(d) * (nopts - 1), nopts, x[r * dim + d] - c[d]));
    PackBuckets(buckets.data(), dim, nbits, packed + r * packed_bytes());
  }
}

void Codec::DecodeScalar(const uint32_t* codes, const uint8_t* packed, size_t n,
                         float* out) const {
  const int nopts = 1 << nbits;
  for (size_t r = 0; r < n; ++r) {
    const float* c = centroids.data() + size_t(codes[r]) * dim;
    const uint8_t* p = packed + r * packed_bytes();
    float* o = out + r * dim;
    for (int d = 0; d < dim; ++d)
      o[d] = c[d] + bucket_weights[size_t(d) * nopts + UnpackBucket(p, d, nbits)];
    if (normalize) Normalize(o, dim);
  }
}

// GCC emits AVX2 and baseline clones and picks one at load time (runtime dispatch).
TARTAN_TARGET_CLONES_AVX2 static void DecodeRows(
    const float* centroids, const float* lut, const uint32_t* codes, const uint8_t* packed,
    size_t n, int dim, int pbytes, int per_byte, bool normalize, float* out) {
  for (size_t r = 0; r < n; ++r) {
    const float* c = centroids + size_t(codes[r]) * dim;
    const uint8_t* p = packed + r * pbytes;
    float* o = out + r * dim;
    for (int b = 0; b < pbytes; ++b) {
      const float* w = lut + (size_t(b) * 256 + p[b]) * per_byte;
      for (int j = 0; j < per_byte; ++j) o[b * per_byte + j] = c[b * per_byte + j] + w[j];
    }
    if (normalize) {
      float s = 0;
      for (int d = 0; d < dim; ++d) s += o[d] * o[d];
      if (s > 0) {
        const float inv = 1.f / std::sqrt(s);
        for (int d = 0; d < dim; ++d) o[d] *= inv;
      }
    }
  }
}

void Codec::Decode(const uint32_t* codes, const uint8_t* packed, size_t n, float* out) const {
  DecodeRows(centroids.data(), lut.data(), codes, packed, n, dim, packed_bytes(), 8 / nbits,
             normalize, out);
}

absl::StatusOr<Codec> TrainCodec(const float* x, size_t n, int dim,
                                 const CodecTrainOptions& options) {
  if (n == 0) return absl::InvalidArgumentError("TrainCodec: no vectors");
  if (options.nbits != 1 && options.nbits != 2 && options.nbits != 4)
    return absl::InvalidArgumentError(absl::StrCat("nbits must be 1, 2 or 4, got ", options.nbits));
  if (dim % 8 != 0) return absl::InvalidArgumentError(absl::StrCat("dim must be a multiple of 8, got ", dim));
  Codec codec;
  codec.dim = dim;
  codec.nbits = options.nbits;
  const uint64_t total = options.total_tokens ? options.total_tokens : n;
  codec.trained_tokens = total;
  int k = options.num_centroids;
  if (k <= 0) {
    const double target = 16.0 * std::sqrt(double(total));
    k = 1 << std::max(0, int(std::floor(std::log2(std::max(1.0, target)))));
  }
  std::mt19937_64 rng(options.seed);

  // Training sample (random rows without replacement).
  const size_t sample_n = std::min(n, size_t(k) * size_t(std::max(1, options.sample_per_centroid)));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (sample_n < n)
    for (size_t i = 0; i < sample_n; ++i) std::swap(order[i], order[i + rng() % (n - i)]);
  std::vector<float> sample(sample_n * dim);
  for (size_t i = 0; i < sample_n; ++i)
    std::copy_n(x + order[i] * dim, dim, sample.data() + i * dim);
  // At least 8 training vectors per centroid, or the centroids memorise the sample and
  // the residual buckets (fitted on near-zero residuals) do not fit later documents.
  if (options.num_centroids <= 0)
    while (k > 1 && size_t(k) * 8 > sample_n) k /= 2;
  k = int(std::min<size_t>(k, sample_n));
  codec.num_centroids = k;

  double mean_norm = 0;
  for (size_t i = 0; i < sample_n; ++i) mean_norm += Norm(sample.data() + i * dim, dim);
  mean_norm /= double(sample_n);
  codec.normalize = std::abs(mean_norm - 1.0) < 1e-3;

  // Lloyd iterations; init from k distinct sample rows (the sample is already shuffled).
  codec.centroids.assign(sample.begin(), sample.begin() + size_t(k) * dim);
  std::vector<uint32_t> assign(sample_n);
  std::vector<double> sums(size_t(k) * dim);
  std::vector<size_t> counts(k);
  for (int it = 0; it < options.iterations; ++it) {
    codec.Assign(sample.data(), sample_n, assign.data());
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < sample_n; ++i) {
      ++counts[assign[i]];
      double* s = sums.data() + size_t(assign[i]) * dim;
      const float* v = sample.data() + i * dim;
      for (int d = 0; d < dim; ++d) s[d] += v[d];
    }
    for (int c = 0; c < k; ++c) {
      float* out = codec.centroids.data() + size_t(c) * dim;
      if (counts[c] == 0) {  // empty cluster: restart at a random sample row
        std::copy_n(sample.data() + (rng() % sample_n) * dim, dim, out);
        continue;
      }
      for (int d = 0; d < dim; ++d) out[d] = float(sums[size_t(c) * dim + d] / double(counts[c]));
      if (codec.normalize) Normalize(out, dim);
    }
  }

  for (float& v : codec.centroids) v = HalfToFloat(FloatToHalf(v));  // stored as fp16
  // Residual buckets per dimension: cutoffs at quantiles j/2^nbits, weights = bucket means.
  codec.Assign(sample.data(), sample_n, assign.data());
  const int nopts = 1 << codec.nbits;
  codec.bucket_cutoffs.resize(size_t(dim) * (nopts - 1));
  codec.bucket_weights.resize(size_t(dim) * nopts);
  std::vector<float> col(sample_n);
  for (int d = 0; d < dim; ++d) {
    for (size_t i = 0; i < sample_n; ++i)
      col[i] = sample[i * dim + d] - codec.centroids[size_t(assign[i]) * dim + d];
    std::sort(col.begin(), col.end());
    float* cut = codec.bucket_cutoffs.data() + size_t(d) * (nopts - 1);
    for (int j = 1; j < nopts; ++j) cut[j - 1] = col[std::min(sample_n - 1, sample_n * j / nopts)];
    float* w = codec.bucket_weights.data() + size_t(d) * nopts;
    size_t pos = 0;
    for (int b = 0; b < nopts; ++b) {
      // Sorted values: bucket b holds those in (cut[b-1], cut[b]].
      double s = 0;
      size_t cnt = 0;
      while (pos < sample_n && (b == nopts - 1 || col[pos] <= cut[b])) s += col[pos++], ++cnt;
      if (cnt > 0) {
        w[b] = float(s / double(cnt));
      } else {  // empty bucket (ties): fall back to the cutoff itself
        w[b] = b == 0 ? cut[0] : cut[b - 1];
      }
    }
  }
  codec.Finalize();
  return codec;
}

}  // namespace tartan::index
