// Hierarchical token pooling of document vectors, as PyLate's
// ColBERT.pool_embeddings_hierarchical does it: Ward clustering of the token vectors (SciPy
// `linkage(method="ward")` + `fcluster(criterion="maxclust")`), each cluster replaced by the
// mean of its members. The SciPy building blocks are reproduced step for step (nearest-
// neighbour chain, stable sort by distance, union-find relabelling, bisection over the
// cluster-distance thresholds) because the tie rules decide which tokens merge.
#pragma once

#include <cstdint>
#include <vector>

namespace tartan::encoder {

enum class PoolingVersion {
  // PyLate main (06305e3): condensed 1 - cosine distances, "k >= n" shortcut, protected
  // vectors first, then cluster means in label order.
  kMain,
  // PyLate 1.4.0: SciPy receives the full square 1 - cosine matrix, which it treats as
  // observation rows (Euclidean Ward on the rows); protected vectors appended last.
  kV140,
};

// One row of a SciPy linkage matrix: clusters `a` < `b` (ids < n are observations, n + i is
// the cluster formed at row i) merged at `distance`, giving a cluster of `size` observations.
struct LinkageRow {
  int a = 0;
  int b = 0;
  double distance = 0.0;
  int size = 0;
};

// Ward linkage of n observations from condensed pairwise distances (size n*(n-1)/2, row-major
// upper triangle, as scipy.spatial.distance.squareform). Returns n-1 rows sorted by distance,
// exactly as scipy.cluster.hierarchy.linkage(condensed, method="ward").
std::vector<LinkageRow> WardLinkage(const std::vector<double>& condensed, int n);

// scipy.cluster.hierarchy.fcluster(Z, t=max_clusters, criterion="maxclust"): flat cluster
// labels 1..m (m <= max_clusters) for the n observations.
std::vector<int> FclusterMaxclust(const std::vector<LinkageRow>& linkage, int n, int max_clusters);

// Pools one document. vectors: [n, dim] row-major, L2-normalised. The first
// `protected_tokens` rows are kept unchanged. Returns the pooled rows [m, dim]; `pool_factor`
// <= 1 returns the input.
std::vector<float> PoolTokensHierarchical(const float* vectors, int n, int dim, int pool_factor,
                                          int protected_tokens, PoolingVersion version,
                                          int* out_rows);

}  // namespace tartan::encoder
