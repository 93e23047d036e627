// Residual codec (ColBERTv2 style): token x -> nearest centroid c (code) plus, per
// dimension, the bucket of the residual x - c among 2^nbits buckets. Improvement over
// ColBERTv2 at the same bytes: cutoffs and reconstruction weights are per dimension and are
// a Lloyd-Max quantiser of that dimension's residuals (ColBERTv2: one set of quantile
// cutoffs for all dimensions), and unit-norm inputs are renormalised on decode.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/half.h"

namespace tartan::index {

struct Codec {
  int dim = 0;
  int nbits = 0;
  int num_centroids = 0;
  bool normalize = false;             // inputs were unit-norm: decode renormalises
  uint64_t trained_tokens = 0;        // how many tokens the index held when trained
  std::vector<float> centroids;       // [num_centroids, dim]
  std::vector<float> bucket_cutoffs;  // [dim, 2^nbits - 1], ascending per dimension
  std::vector<float> bucket_weights;  // [dim, 2^nbits]
  uint64_t id = 0;                    // xxh64 of the fields above; equal ids share codes

  int packed_bytes() const { return dim * nbits / 8; }  // residual bytes per token
  // Call after filling the fields (also done by TrainCodec): computes id and the decode LUT.
  void Finalize();

  // threads: at most this many threads (0: all cores; fewer when the work is small). Results do
  // not depend on it.
  // x: [n, dim] -> codes [n], packed [n, packed_bytes()].
  void Encode(const float* x, size_t n, uint32_t* codes, uint8_t* packed, int threads = 0) const;
  // The residual half of Encode, for rows whose codes are already known (compaction assigns
  // codes first and packs residuals later, a chunk at a time): packed [n, packed_bytes()].
  void EncodeResiduals(const float* x, size_t n, const uint32_t* codes, uint8_t* packed,
                       int threads = 0) const;
  // Nearest centroid of each row (max dot product when normalize, else min L2). With many
  // centroids and rows this is a two-level search (group means, then the members of the
  // best groups), which may return a near-nearest centroid; AssignExactly never does.
  void Assign(const float* x, size_t n, uint32_t* codes, int threads = 0) const;
  void AssignExactly(const float* x, size_t n, uint32_t* codes, int threads = 0) const;
  // codes [n], packed [n, packed_bytes()] -> out [n, dim]. LUT kernel.
  void Decode(const uint32_t* codes, const uint8_t* packed, size_t n, float* out) const;
  // Reference decode, bit by bit; tested against Decode.
  void DecodeScalar(const uint32_t* codes, const uint8_t* packed, size_t n, float* out) const;

  // Per packed byte position p and byte value b: the 8/nbits dequantised residuals.
  // [packed_bytes, 256, 8/nbits]
  std::vector<float> lut;
  // The same values by dimension within a byte: [packed_bytes, 8/nbits, 256], so a query's
  // lookup tables (residual_lut.h) are built with contiguous, vectorisable loops.
  std::vector<float> lut_by_dim;
};

struct CodecTrainOptions {
  int nbits = 4;
  int num_centroids = 0;  // 0: DefaultNumCentroids(total_tokens)
  int sample_per_centroid = 32;
  int iterations = 8;
  int lloyd_iterations = 16;  // Lloyd-Max refinement of the residual buckets (0: quantiles only)
  uint64_t seed = 1234;
  uint64_t total_tokens = 0;  // tokens in the index (sizes the centroid count); 0: n
  int threads = 0;            // at most this many threads (0: all cores); same result for any
  // When set and true, training stops between k-means rounds with CANCELLED (a shard closing).
  const std::atomic<bool>* cancel = nullptr;
};

// The centroid count for an index of total_tokens: 2^floor(log2(16 sqrt(total_tokens))).
int DefaultNumCentroids(uint64_t total_tokens);

// Trains centroids (k-means on a sample, GEMMs through BLAS) and residual buckets on x: [n, dim].
// Centroids are stored as fp16 (common/half.h; half the bytes): TrainCodec rounds them before
// computing residuals, so encoding sees what decoding uses.
absl::StatusOr<Codec> TrainCodec(const float* x, size_t n, int dim,
                                 const CodecTrainOptions& options);

// Bit layout of a packed residual (same as ColBERTv2/fast-plaid): each dimension's bucket
// index contributes nbits bits, least significant first, into a bit stream packed
// most-significant-bit first (numpy.packbits).
int UnpackBucket(const uint8_t* packed, int dimension, int nbits);
// The inverse: buckets [dim] (each < 2^nbits) -> packed [dim * nbits / 8].
void PackBuckets(const uint8_t* buckets, int dim, int nbits, uint8_t* packed);

}  // namespace tartan::index
