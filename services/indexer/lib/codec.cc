#include "services/indexer/lib/codec.h"

#include <cblas.h>
#include <immintrin.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/compute/blas_threads.h"
#include "common/compute/cpu_features.h"
#include "common/compute/parallel_for.h"
#include "common/compute/target_clones.h"

namespace tartan::index {
namespace {

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

// Index of the largest row[c] - bias[c] (first one on ties). Eight running maxima the
// compiler keeps in one vector register, then a scan for the winner.
TARTAN_TARGET_CLONES_AVX2 int ArgMax(const float* row, const float* bias, int nc) {
  float lane[8];
  int c = 0;
  for (int j = 0; j < 8; ++j) lane[j] = -3.0e38f;
  for (; c + 8 <= nc; c += 8)
    for (int j = 0; j < 8; ++j) lane[j] = std::max(lane[j], row[c + j] - bias[c + j]);
  float best = lane[0];
  for (int j = 1; j < 8; ++j) best = std::max(best, lane[j]);
  for (; c < nc; ++c) best = std::max(best, row[c] - bias[c]);
  for (c = 0; c < nc; ++c)
    if (row[c] - bias[c] == best) return c;
  return 0;  // NaN scores
}

// Threads for `nchunks` work items totalling `flops`: at most `threads` (0: all cores) and
// one per chunk, and only as many as the work is worth (about 64 MFLOP each, at least one).
int WorkersFor(size_t nchunks, double flops, int threads) {
  const double worth = std::max(1.0, flops / double(1 << 26));
  return int(std::min<double>(compute::ParallelWorkers(int64_t(nchunks), threads), worth));
}

// Runs work(chunk, worker) for every chunk in [0, nchunks) on `workers` threads. With more
// than one, OpenBLAS's own threads are switched off meanwhile, so each of ours runs
// single-threaded GEMMs without competing with BLAS workers. Every chunk writes its own rows,
// so the result does not depend on the thread count.
template <typename Work>
void RunChunks(size_t nchunks, int workers, Work&& work) {
  if (workers <= 1) {
    for (size_t c = 0; c < nchunks; ++c) work(c, 0);
    return;
  }
  compute::ScopedBlasThreads single_threaded_blas(1);
  compute::ParallelFor(int64_t(nchunks), workers, [&](int64_t c, int w) { work(size_t(c), w); });
}

// Exact: codes[r] = argmax_c (x_r . c - bias_c); bias = |c|^2/2 for L2, 0 for dot product.
// Each chunk of rows is a GEMM then the argmax on its worker's scratch (a few MB, so the
// scores stay in cache).
void AssignExact(const float* x, size_t n, int dim, const float* centroids, int nc,
                 const float* bias, uint32_t* codes, int threads) {
  const size_t chunk = std::clamp<size_t>((size_t(1) << 20) / size_t(nc), 16, 4096);
  const size_t nchunks = (n + chunk - 1) / chunk;
  const int workers = WorkersFor(nchunks, 2.0 * double(n) * nc * dim, threads);
  std::vector<std::vector<float>> scores(workers);
  RunChunks(nchunks, workers, [&](size_t c, int w) {
    std::vector<float>& s = scores[w];
    s.resize(chunk * size_t(nc));
    const size_t b = c * chunk, rows = std::min(chunk, n - b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), nc, dim, 1.f, x + b * dim, dim,
                centroids, dim, 0.f, s.data(), nc);
    for (size_t r = 0; r < rows; ++r) codes[b + r] = uint32_t(ArgMax(s.data() + r * nc, bias, nc));
  });
}

// Centroids grouped for the two-level search: a small k-means over the centroids themselves.
struct CentroidGroups {
  int count = 0;
  std::vector<float> means, mean_bias;  // [count, dim], [count]: |mean|^2 / 2
  std::vector<uint32_t> begin;          // [count + 1] into members
  std::vector<uint32_t> members;        // centroid ids, grouped
  std::vector<float> member_vectors;    // [nc, dim], in `members` order
  std::vector<float> member_bias;       // [nc], in `members` order
};

CentroidGroups GroupCentroids(const float* centroids, int nc, int dim, const float* bias,
                              int groups, int threads) {
  CentroidGroups g;
  g.count = groups;
  g.means.resize(size_t(groups) * dim);
  for (int j = 0; j < groups; ++j)  // evenly spaced initial means (deterministic)
    std::copy_n(centroids + size_t(j) * (nc / groups) * dim, dim, g.means.data() + size_t(j) * dim);
  std::vector<uint32_t> of(nc);
  std::vector<double> sums;
  std::vector<uint32_t> counts;
  for (int it = 0; it < 5; ++it) {
    g.mean_bias.assign(groups, 0.f);
    for (int j = 0; j < groups; ++j) {
      const float norm = Norm(g.means.data() + size_t(j) * dim, dim);
      g.mean_bias[j] = 0.5f * norm * norm;
    }
    AssignExact(centroids, size_t(nc), dim, g.means.data(), groups, g.mean_bias.data(), of.data(),
                threads);
    if (it == 4) break;
    sums.assign(size_t(groups) * dim, 0.0);
    counts.assign(groups, 0);
    for (int c = 0; c < nc; ++c) {
      ++counts[of[c]];
      for (int d = 0; d < dim; ++d) sums[size_t(of[c]) * dim + d] += centroids[size_t(c) * dim + d];
    }
    for (int j = 0; j < groups; ++j) {
      if (counts[j] > 0) {
        for (int d = 0; d < dim; ++d)
          g.means[size_t(j) * dim + d] = float(sums[size_t(j) * dim + d] / counts[j]);
      }
    }
  }
  g.begin.assign(groups + 1, 0);
  for (int c = 0; c < nc; ++c) ++g.begin[of[c] + 1];
  for (int j = 0; j < groups; ++j) g.begin[j + 1] += g.begin[j];
  g.members.resize(nc);
  std::vector<uint32_t> fill(g.begin.begin(), g.begin.end() - 1);
  for (int c = 0; c < nc; ++c) g.members[fill[of[c]]++] = uint32_t(c);
  g.member_vectors.resize(size_t(nc) * dim);
  g.member_bias.resize(nc);
  for (int i = 0; i < nc; ++i) {
    std::copy_n(centroids + size_t(g.members[i]) * dim, dim,
                g.member_vectors.data() + size_t(i) * dim);
    g.member_bias[i] = bias[g.members[i]];
  }
  return g;
}

// Two-level nearest-centroid search for large centroid counts (what IVF-based k-means does
// in faiss): each row is compared with the ~sqrt(nc) group means, then exactly with the
// members of its kProbeGroups best groups — about 8/sqrt(nc) of the work of AssignExact.
// A row whose nearest centroid lies outside those groups gets the best one inside them: its
// residual is a little larger, which the residual code absorbs.
constexpr int kProbeGroups = 8;
constexpr size_t kTwoLevelChunk = 8192;  // rows per chunk: each group GEMM then gets ~256 rows

// One worker's buffers for AssignTwoLevel, sized on first use.
struct TwoLevelScratch {
  std::vector<float> coarse, fine, gathered, best;
  std::vector<uint32_t> rows_of, start, slot;
  std::vector<std::pair<float, int>> order;
  std::vector<int> picked;

  void Size(int groups) {
    if (!coarse.empty()) return;
    coarse.resize(kTwoLevelChunk * size_t(groups));
    best.resize(kTwoLevelChunk);
    rows_of.resize(kTwoLevelChunk * kProbeGroups);
    start.resize(groups + 1);
    slot.resize(groups);
    order.resize(groups);
    picked.resize(kTwoLevelChunk * kProbeGroups);
  }
};

void AssignTwoLevel(const float* x, size_t n, int dim, const float* centroids, int nc,
                    const float* bias, uint32_t* codes, int threads) {
  const int groups = 1 << int(std::lround(std::log2(std::sqrt(double(nc)))));
  const CentroidGroups g = GroupCentroids(centroids, nc, dim, bias, groups, threads);
  constexpr size_t kChunk = kTwoLevelChunk;
  const size_t nchunks = (n + kChunk - 1) / kChunk;
  const double flops = 2.0 * double(n) * dim * (groups + kProbeGroups * double(nc) / groups);
  const int workers = WorkersFor(nchunks, flops, threads);
  std::vector<TwoLevelScratch> scratch(workers);
  RunChunks(nchunks, workers, [&](size_t ci, int w) {
    TwoLevelScratch& sc = scratch[w];
    sc.Size(groups);
    auto& [coarse, fine, gathered, best, rows_of, start, slot, order, picked] = sc;
    const size_t b = ci * kChunk, rows = std::min(kChunk, n - b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), groups, dim, 1.f, x + b * dim,
                dim, g.means.data(), dim, 0.f, coarse.data(), groups);
    // Each row's best groups, then the rows bucketed by group (counting sort).
    std::fill(start.begin(), start.end(), 0);
    for (size_t r = 0; r < rows; ++r) {
      for (int j = 0; j < groups; ++j) order[j] = {coarse[r * groups + j] - g.mean_bias[j], j};
      std::partial_sort(order.begin(), order.begin() + kProbeGroups, order.end(),
                        [](const auto& a, const auto& c) { return a.first > c.first; });
      for (int p = 0; p < kProbeGroups; ++p) {
        picked[r * kProbeGroups + p] = order[p].second;
        ++start[order[p].second + 1];
      }
    }
    for (int j = 0; j < groups; ++j) start[j + 1] += start[j];
    std::copy(start.begin(), start.end() - 1, slot.begin());
    for (size_t r = 0; r < rows; ++r) {
      for (int p = 0; p < kProbeGroups; ++p)
        rows_of[slot[picked[r * kProbeGroups + p]]++] = uint32_t(r);
    }
    std::fill(best.begin(), best.begin() + rows, -3.0e38f);
    for (int j = 0; j < groups; ++j) {
      const uint32_t nr = start[j + 1] - start[j], m = g.begin[j + 1] - g.begin[j];
      if (nr == 0 || m == 0) continue;
      gathered.resize(size_t(nr) * dim);
      for (uint32_t i = 0; i < nr; ++i)
        std::copy_n(x + (b + rows_of[start[j] + i]) * dim, dim, gathered.data() + size_t(i) * dim);
      fine.resize(size_t(nr) * m);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nr), int(m), dim, 1.f,
                  gathered.data(), dim, g.member_vectors.data() + size_t(g.begin[j]) * dim, dim,
                  0.f, fine.data(), int(m));
      for (uint32_t i = 0; i < nr; ++i) {
        const float* row = fine.data() + size_t(i) * m;
        const int a = ArgMax(row, g.member_bias.data() + g.begin[j], int(m));
        const float v = row[a] - g.member_bias[g.begin[j] + a];
        const uint32_t r = rows_of[start[j] + i];
        if (v > best[r]) best[r] = v, codes[b + r] = g.members[g.begin[j] + a];
      }
    }
  });
}

// From this many centroids on, assignment of many rows goes through the two-level search.
constexpr int kTwoLevelMinCentroids = 4096;

void AssignWith(const float* x, size_t n, int dim, const float* centroids, int nc,
                const std::vector<float>& bias, uint32_t* codes, int threads) {
  if (nc >= kTwoLevelMinCentroids && n >= size_t(nc)) {
    AssignTwoLevel(x, n, dim, centroids, nc, bias.data(), codes, threads);
  } else {
    AssignExact(x, n, dim, centroids, nc, bias.data(), codes, threads);
  }
}

std::vector<float> Bias(const Codec& codec) {
  std::vector<float> bias(codec.num_centroids, 0.f);
  if (!codec.normalize) {
    for (int c = 0; c < codec.num_centroids; ++c) {
      float n = Norm(codec.centroids.data() + size_t(c) * codec.dim, codec.dim);
      bias[c] = 0.5f * n * n;
    }
  }
  return bias;
}

// Fits a scalar quantiser with `nopts` levels to sorted values: starts from equal-mass
// buckets (cutoffs at quantiles j/nopts, ColBERTv2's choice) with bucket means as weights,
// then runs Lloyd-Max iterations (cutoffs at midpoints of neighbouring weights, weights at
// bucket means), which lowers the mean squared error for the same bits. Bucket b holds
// values in (cut[b-1], cut[b]].
void FitScalarQuantizer(const std::vector<float>& sorted, int nopts, int iterations, float* cut,
                        float* w) {
  const size_t n = sorted.size();
  std::vector<double> prefix(n + 1, 0.0);
  for (size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + sorted[i];
  for (int j = 1; j < nopts; ++j) cut[j - 1] = sorted[std::min(n - 1, n * j / nopts)];
  auto fit_weights = [&] {
    size_t lo = 0;
    for (int b = 0; b < nopts; ++b) {
      const size_t hi = b == nopts - 1
                            ? n
                            : size_t(std::upper_bound(sorted.begin() + lo, sorted.end(), cut[b]) -
                                     sorted.begin());
      if (hi > lo) {
        w[b] = float((prefix[hi] - prefix[lo]) / double(hi - lo));
      } else if (iterations == 0 || b == 0) {  // empty bucket (ties): the cutoff itself
        w[b] = b == 0 ? cut[0] : cut[b - 1];
      }  // else: an empty bucket keeps its previous weight
      lo = hi;
    }
  };
  fit_weights();
  for (int it = 0; it < iterations; ++it) {
    for (int j = 0; j + 1 < nopts; ++j) cut[j] = 0.5f * (w[j] + w[j + 1]);
    fit_weights();
  }
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
  for (int d = 0; d < dim; ++d) {
    for (int bit = 0; bit < nbits; ++bit) {
      const int pos = d * nbits + bit;
      if ((buckets[d] >> bit) & 1) packed[pos >> 3] |= uint8_t(1u << (7 - (pos & 7)));
    }
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
  lut_by_dim.assign(lut.size(), 0.f);
  for (int p = 0; p < packed_bytes(); ++p) {
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
        lut_by_dim[(size_t(p) * per_byte + j) * 256 + b] = bucket_weights[size_t(d) * nopts + v];
      }
    }
  }
}

void Codec::Assign(const float* x, size_t n, uint32_t* codes, int threads) const {
  AssignWith(x, n, dim, centroids.data(), num_centroids, Bias(*this), codes, threads);
}

void Codec::AssignExactly(const float* x, size_t n, uint32_t* codes, int threads) const {
  AssignExact(x, n, dim, centroids.data(), num_centroids, Bias(*this).data(), codes, threads);
}

void Codec::Encode(const float* x, size_t n, uint32_t* codes, uint8_t* packed, int threads) const {
  Assign(x, n, codes, threads);
  EncodeResiduals(x, n, codes, packed, threads);
}

void Codec::EncodeResiduals(const float* x, size_t n, const uint32_t* codes, uint8_t* packed,
                            int threads) const {
  const int nopts = 1 << nbits;
  constexpr size_t kChunk = 4096;  // rows per work item
  const size_t nchunks = (n + kChunk - 1) / kChunk;
  const int workers = WorkersFor(nchunks, double(n) * dim * nopts, threads);
  std::vector<std::vector<uint8_t>> buckets(workers, std::vector<uint8_t>(dim));
  RunChunks(nchunks, workers, [&](size_t ci, int w) {
    uint8_t* bucket = buckets[w].data();
    for (size_t r = ci * kChunk; r < std::min(n, (ci + 1) * kChunk); ++r) {
      const float* c = centroids.data() + size_t(codes[r]) * dim;
      for (int d = 0; d < dim; ++d) {
        bucket[d] = uint8_t(Bucketize(bucket_cutoffs.data() + size_t(d) * (nopts - 1), nopts,
                                      x[r * dim + d] - c[d]));
      }
      PackBuckets(bucket, dim, nbits, packed + r * packed_bytes());
    }
  });
}

void Codec::DecodeScalar(const uint32_t* codes, const uint8_t* packed, size_t n, float* out) const {
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

// One row per token: centroid + the residual's per-dimension values, looked up per packed
// byte (kPerByte dimensions each). The fixed trip count lets the byte loop vectorise.
template <int kPerByte>
[[gnu::always_inline]] inline void DecodeRowsFor(const float* centroids, const float* lut,
                                                 const uint32_t* codes, const uint8_t* packed,
                                                 size_t n, int dim, bool normalize, float* out) {
  const int pbytes = dim / kPerByte;
  for (size_t r = 0; r < n; ++r) {
    const float* c = centroids + size_t(codes[r]) * dim;
    const uint8_t* p = packed + r * pbytes;
    float* o = out + r * dim;
    for (int b = 0; b < pbytes; ++b) {
      const float* w = lut + (size_t(b) * 256 + p[b]) * kPerByte;
      for (int j = 0; j < kPerByte; ++j) o[b * kPerByte + j] = c[b * kPerByte + j] + w[j];
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

// The same with AVX2, 8 dimensions (8 / kPerByte packed bytes) per step: the looked-up
// residual values are gathered into one vector, added to the centroid's, stored, and squared
// into the norm on the way.
template <int kPerByte>
__attribute__((target("avx2,fma"))) void DecodeRowsAvx2(const float* centroids, const float* lut,
                                                        const uint32_t* codes,
                                                        const uint8_t* packed, size_t n, int dim,
                                                        bool normalize, float* out) {
  const int pbytes = dim / kPerByte;
  for (size_t r = 0; r < n; ++r) {
    const float* c = centroids + size_t(codes[r]) * dim;
    const uint8_t* p = packed + r * pbytes;
    float* o = out + r * dim;
    __m256 norm = _mm256_setzero_ps();
    for (int d = 0; d < dim; d += 8) {
      const int b = d / kPerByte;
      auto w = [&](int i) { return lut + (size_t(b + i) * 256 + p[b + i]) * kPerByte; };
      __m256 residual;
      if constexpr (kPerByte == 2) {
        const __m128 lo =
            _mm_castpd_ps(_mm_loadh_pd(_mm_load_sd(reinterpret_cast<const double*>(w(0))),
                                       reinterpret_cast<const double*>(w(1))));
        const __m128 hi =
            _mm_castpd_ps(_mm_loadh_pd(_mm_load_sd(reinterpret_cast<const double*>(w(2))),
                                       reinterpret_cast<const double*>(w(3))));
        residual = _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
      } else if constexpr (kPerByte == 4) {
        residual =
            _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(w(0))), _mm_loadu_ps(w(1)), 1);
      } else {
        residual = _mm256_loadu_ps(w(0));
      }
      const __m256 v = _mm256_add_ps(_mm256_loadu_ps(c + d), residual);
      _mm256_storeu_ps(o + d, v);
      norm = _mm256_fmadd_ps(v, v, norm);
    }
    if (!normalize) continue;
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(norm), _mm256_extractf128_ps(norm, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    const float s = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
    if (s <= 0) continue;
    const __m256 inv = _mm256_set1_ps(1.f / std::sqrt(s));
    for (int d = 0; d < dim; d += 8)
      _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(o + d), inv));
  }
}

// AVX2 where the CPU has it (dim is a multiple of 8: TrainCodec requires it), else scalar.
static void DecodeRows(const float* centroids, const float* lut, const uint32_t* codes,
                       const uint8_t* packed, size_t n, int dim, int per_byte, bool normalize,
                       float* out) {
  static const bool avx2 = compute::HasAvx2();
  switch (per_byte) {
    case 2:  // nbits 4
      return avx2 ? DecodeRowsAvx2<2>(centroids, lut, codes, packed, n, dim, normalize, out)
                  : DecodeRowsFor<2>(centroids, lut, codes, packed, n, dim, normalize, out);
    case 4:  // nbits 2
      return avx2 ? DecodeRowsAvx2<4>(centroids, lut, codes, packed, n, dim, normalize, out)
                  : DecodeRowsFor<4>(centroids, lut, codes, packed, n, dim, normalize, out);
    default:  // nbits 1
      return avx2 ? DecodeRowsAvx2<8>(centroids, lut, codes, packed, n, dim, normalize, out)
                  : DecodeRowsFor<8>(centroids, lut, codes, packed, n, dim, normalize, out);
  }
}

void Codec::Decode(const uint32_t* codes, const uint8_t* packed, size_t n, float* out) const {
  DecodeRows(centroids.data(), lut.data(), codes, packed, n, dim, 8 / nbits, normalize, out);
}

int DefaultNumCentroids(uint64_t total_tokens) {
  const double target = 16.0 * std::sqrt(double(total_tokens));
  return 1 << std::max(0, int(std::floor(std::log2(std::max(1.0, target)))));
}

absl::StatusOr<Codec> TrainCodec(const float* x, size_t n, int dim,
                                 const CodecTrainOptions& options) {
  if (n == 0) return absl::InvalidArgumentError("TrainCodec: no vectors");
  if (options.nbits != 1 && options.nbits != 2 && options.nbits != 4)
    return absl::InvalidArgumentError(absl::StrCat("nbits must be 1, 2 or 4, got ", options.nbits));
  if (dim % 8 != 0)
    return absl::InvalidArgumentError(absl::StrCat("dim must be a multiple of 8, got ", dim));
  Codec codec;
  codec.dim = dim;
  codec.nbits = options.nbits;
  const uint64_t total = options.total_tokens ? options.total_tokens : n;
  codec.trained_tokens = total;
  int k = options.num_centroids > 0 ? options.num_centroids : DefaultNumCentroids(total);
  std::mt19937_64 rng(options.seed);

  // Training sample (random rows without replacement).
  const size_t sample_n = std::min(n, size_t(k) * size_t(std::max(1, options.sample_per_centroid)));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Shuffled even when every row is taken: the centroids start from the first k, and rows
  // in input order (a document's consecutive tokens) would start them in a few documents.
  for (size_t i = 0; i < std::min(sample_n, n - 1); ++i)
    std::swap(order[i], order[i + rng() % (n - i)]);
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
    if (options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed))
      return absl::CancelledError("codec training cancelled");
    codec.Assign(sample.data(), sample_n, assign.data(), options.threads);
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
  // Residual buckets per dimension: a scalar quantiser fitted to that dimension's residuals.
  codec.Assign(sample.data(), sample_n, assign.data(), options.threads);
  const int nopts = 1 << codec.nbits;
  codec.bucket_cutoffs.resize(size_t(dim) * (nopts - 1));
  codec.bucket_weights.resize(size_t(dim) * nopts);
  std::vector<float> col(sample_n);
  for (int d = 0; d < dim; ++d) {
    for (size_t i = 0; i < sample_n; ++i)
      col[i] = sample[i * dim + d] - codec.centroids[size_t(assign[i]) * dim + d];
    std::sort(col.begin(), col.end());
    FitScalarQuantizer(col, nopts, options.lloyd_iterations,
                       codec.bucket_cutoffs.data() + size_t(d) * (nopts - 1),
                       codec.bucket_weights.data() + size_t(d) * nopts);
  }
  codec.Finalize();
  return codec;
}

}  // namespace tartan::index
