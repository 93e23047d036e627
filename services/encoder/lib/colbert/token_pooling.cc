#include "services/encoder/lib/colbert/token_pooling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

namespace tartan::encoder {
namespace {

// Index of (i, j), i != j, in a condensed n x n distance matrix.
inline int64_t CondensedIndex(int64_t n, int64_t i, int64_t j) {
  if (i > j) std::swap(i, j);
  return n * i - (i * (i + 1)) / 2 + (j - i - 1);
}

// Lance-Williams update for Ward, in SciPy's operation order (_hierarchy_distance_update.pxi),
// so that ties break the same way.
inline double WardUpdate(double d_xi, double d_yi, double d_xy, int size_x, int size_y,
                         int size_i) {
  const double t = 1.0 / (size_x + size_y + size_i);
  return std::sqrt((size_i + size_x) * t * d_xi * d_xi + (size_i + size_y) * t * d_yi * d_yi -
                   size_i * t * d_xy * d_xy);
}

// Union-find used to turn the slot indices of the nearest-neighbour chain into SciPy cluster
// ids after sorting (scipy _hierarchy.LinkageUnionFind).
class LinkageUnionFind {
 public:
  explicit LinkageUnionFind(int n) : parent_(2 * n - 1), size_(2 * n - 1, 1), next_label_(n) {
    std::iota(parent_.begin(), parent_.end(), 0);
  }
  int Find(int x) {
    int root = x;
    while (parent_[root] != root) root = parent_[root];
    while (parent_[x] != root) {
      int next = parent_[x];
      parent_[x] = root;
      x = next;
    }
    return root;
  }
  int Merge(int x, int y) {
    parent_[x] = next_label_;
    parent_[y] = next_label_;
    int size = size_[x] + size_[y];
    size_[next_label_] = size;
    ++next_label_;
    return size;
  }

 private:
  std::vector<int> parent_;
  std::vector<int> size_;
  int next_label_;
};

// MC[i] = max distance in the subtree of cluster row i (scipy get_max_dist_for_each_cluster).
std::vector<double> MaxDistPerCluster(const std::vector<LinkageRow>& z, int n) {
  std::vector<double> md(n - 1, 0.0);
  // Rows are sorted so that children appear before parents; a forward pass suffices and
  // gives the same values as SciPy's explicit-stack traversal.
  for (int i = 0; i < n - 1; ++i) {
    double m = z[i].distance;
    if (z[i].a >= n) m = std::max(m, md[z[i].a - n]);
    if (z[i].b >= n) m = std::max(m, md[z[i].b - n]);
    md[i] = m;
  }
  return md;
}

// Number of flat clusters when cutting at `thresh`, stopping early once it exceeds max_nc
// (scipy cluster_maxclust_monocrit's inner loop, same visiting order).
int CountClusters(const std::vector<LinkageRow>& z, const std::vector<double>& mc, int n,
                  double thresh, int max_nc) {
  std::vector<char> visited(2 * n - 1, 0);
  std::vector<int> stack(n);
  int nc = 0;
  int k = 0;
  stack[0] = 2 * n - 2;
  while (k >= 0) {
    const int root = stack[k] - n;
    const int lc = z[root].a;
    const int rc = z[root].b;
    if (mc[root] <= thresh) {
      if (++nc > max_nc) return nc;
      --k;
      visited[lc] = 1;
      visited[rc] = 1;
      continue;
    }
    if (!visited[lc]) {
      visited[lc] = 1;
      if (lc >= n) {
        stack[++k] = lc;
        continue;
      }
      if (++nc > max_nc) return nc;
    }
    if (!visited[rc]) {
      visited[rc] = 1;
      if (rc >= n) {
        stack[++k] = rc;
        continue;
      }
      if (++nc > max_nc) return nc;
    }
    --k;
  }
  return nc;
}

// Labels observations by cutting where mc <= cutoff (scipy cluster_monocrit): clusters are
// numbered 1.. in left-to-right depth-first order.
std::vector<int> ClusterMonocrit(const std::vector<LinkageRow>& z, const std::vector<double>& mc,
                                 int n, double cutoff) {
  std::vector<int> labels(n, 0);
  std::vector<char> visited(2 * n - 1, 0);
  std::vector<int> stack(n);
  int n_cluster = 0;
  int leader = -1;
  int k = 0;
  stack[0] = 2 * n - 2;
  while (k >= 0) {
    const int root = stack[k] - n;
    const int lc = z[root].a;
    const int rc = z[root].b;
    if (leader == -1 && mc[root] <= cutoff) {
      leader = root;
      ++n_cluster;
    }
    if (lc >= n && !visited[lc]) {
      visited[lc] = 1;
      stack[++k] = lc;
      continue;
    }
    if (rc >= n && !visited[rc]) {
      visited[rc] = 1;
      stack[++k] = rc;
      continue;
    }
    if (lc < n) {
      if (leader == -1) ++n_cluster;
      labels[lc] = n_cluster;
    }
    if (rc < n) {
      if (leader == -1) ++n_cluster;
      labels[rc] = n_cluster;
    }
    if (leader == root) leader = -1;
    --k;
  }
  return labels;
}

// float32 dot product rounded once (torch.mm in float32 is within an ulp or two of this).
inline float DotF32(const float* a, const float* b, int dim) {
  double s = 0.0;
  for (int d = 0; d < dim; ++d) s += static_cast<double>(a[d]) * b[d];
  return static_cast<float>(s);
}

int MaxLabel(const std::vector<int>& labels) {
  int max_label = 0;
  for (int label : labels) max_label = std::max(max_label, label);
  return max_label;
}

// Cluster means in label order 1..max_label, empty clusters dropped. Sums accumulate in float32
// in token order (torch scatter_add_), then divide by the count.
void AppendClusterMeans(const float* rows, int m, int dim, const std::vector<int>& labels,
                        int max_label, std::vector<float>* out, int* out_rows) {
  std::vector<float> sums(static_cast<size_t>(max_label) * dim, 0.0f);
  std::vector<int> counts(max_label, 0);
  for (int i = 0; i < m; ++i) {
    const int c = labels[i] - 1;
    ++counts[c];
    float* s = &sums[static_cast<size_t>(c) * dim];
    for (int d = 0; d < dim; ++d) s[d] += rows[static_cast<size_t>(i) * dim + d];
  }
  for (int c = 0; c < max_label; ++c) {
    if (counts[c] == 0) continue;
    const float count = static_cast<float>(counts[c]);
    for (int d = 0; d < dim; ++d) out->push_back(sums[static_cast<size_t>(c) * dim + d] / count);
    ++*out_rows;
  }
}

}  // namespace

std::vector<LinkageRow> WardLinkage(const std::vector<double>& condensed, int n) {
  std::vector<LinkageRow> z;
  if (n < 2) return z;
  z.resize(n - 1);
  std::vector<double> dist = condensed;
  std::vector<int> size(n, 1);
  std::vector<int> chain(n);
  int chain_length = 0;
  int x = 0, y = 0;
  for (int k = 0; k < n - 1; ++k) {
    if (chain_length == 0) {
      chain_length = 1;
      for (int i = 0; i < n; ++i) {
        if (size[i] > 0) {
          chain[0] = i;
          break;
        }
      }
    }
    // Follow nearest neighbours until two mutual nearest neighbours are found. The previous
    // chain element is preferred on ties (strict < below), which prevents cycles.
    double current_min;
    while (true) {
      x = chain[chain_length - 1];
      if (chain_length > 1) {
        y = chain[chain_length - 2];
        current_min = dist[CondensedIndex(n, x, y)];
      } else {
        current_min = std::numeric_limits<double>::infinity();
      }
      for (int i = 0; i < n; ++i) {
        if (size[i] == 0 || i == x) continue;
        const double d = dist[CondensedIndex(n, x, i)];
        if (d < current_min) {
          current_min = d;
          y = i;
        }
      }
      if (chain_length > 1 && y == chain[chain_length - 2]) break;
      chain[chain_length++] = y;
    }
    chain_length -= 2;
    if (x > y) std::swap(x, y);
    const int nx = size[x];
    const int ny = size[y];
    z[k] = LinkageRow{x, y, current_min, nx + ny};
    size[x] = 0;
    size[y] = nx + ny;
    for (int i = 0; i < n; ++i) {
      const int ni = size[i];
      if (ni == 0 || i == y) continue;
      dist[CondensedIndex(n, i, y)] = WardUpdate(
          dist[CondensedIndex(n, i, x)], dist[CondensedIndex(n, i, y)], current_min, nx, ny, ni);
    }
  }
  std::stable_sort(z.begin(), z.end(), [](const LinkageRow& l, const LinkageRow& r) {
    return l.distance < r.distance;
  });
  LinkageUnionFind uf(n);
  for (LinkageRow& row : z) {
    const int x_root = uf.Find(row.a);
    const int y_root = uf.Find(row.b);
    row.a = std::min(x_root, y_root);
    row.b = std::max(x_root, y_root);
    row.size = uf.Merge(x_root, y_root);
  }
  return z;
}

std::vector<int> FclusterMaxclust(const std::vector<LinkageRow>& linkage, int n, int max_clusters) {
  if (n == 1) return {1};
  if (n < 1) return {};
  std::vector<double> mc = MaxDistPerCluster(linkage, n);
  // SciPy bisects over indices [0, n-1] of an n-long array whose last slot is never written;
  // that slot is only read when n == 2, where +inf (one cluster) is the intended answer.
  mc.push_back(std::numeric_limits<double>::infinity());
  int lower = 0;
  int upper = n - 1;
  while (upper - lower > 1) {
    const int i = (lower + upper) >> 1;
    const int nc = CountClusters(linkage, mc, n, mc[i], max_clusters);
    if (nc > max_clusters) {
      lower = i;
    } else {
      upper = i;
    }
  }
  return ClusterMonocrit(linkage, mc, n, mc[upper]);
}

std::vector<float> PoolTokensHierarchical(const float* vectors, int n, int dim, int pool_factor,
                                          int protected_tokens, PoolingVersion version,
                                          int* out_rows) {
  const size_t row_floats = static_cast<size_t>(dim);
  if (pool_factor <= 1 || n <= 0) {
    *out_rows = n;
    return std::vector<float>(vectors, vectors + n * row_floats);
  }
  const int protect = std::clamp(protected_tokens, 0, n);
  const float* rest = vectors + protect * row_floats;
  const int m = n - protect;
  const int k = std::max(m / pool_factor, 1);

  std::vector<float> out;
  *out_rows = 0;
  auto append_protected = [&]() {
    out.insert(out.end(), vectors, vectors + protect * row_floats);
    *out_rows += protect;
  };

  if (version == PoolingVersion::kMain) {
    if (k >= m) {
      *out_rows = n;
      return std::vector<float>(vectors, vectors + n * row_floats);
    }
    std::vector<double> condensed;
    condensed.reserve(static_cast<size_t>(m) * (m - 1) / 2);
    for (int i = 0; i < m; ++i) {
      for (int j = i + 1; j < m; ++j) {
        const float sim = DotF32(rest + i * row_floats, rest + j * row_floats, dim);
        condensed.push_back(static_cast<double>(1.0f - sim));
      }
    }
    const std::vector<LinkageRow> z = WardLinkage(condensed, m);
    const std::vector<int> labels = FclusterMaxclust(z, m, k);
    append_protected();
    AppendClusterMeans(rest, m, dim, labels, MaxLabel(labels), &out, out_rows);
    return out;
  }

  // 1.4.0: rows of the square distance matrix are the observations; Euclidean distances
  // between them (scipy pdist) feed the same Ward linkage.
  if (m < 2) {
    // SciPy rejects fewer than two observations; keep the vectors (protected last, as 1.4.0).
    out.insert(out.end(), rest, rest + m * row_floats);
    *out_rows = m;
    append_protected();
    return out;
  }
  std::vector<float> square(static_cast<size_t>(m) * m);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < m; ++j) {
      square[static_cast<size_t>(i) * m + j] =
          1.0f - DotF32(rest + i * row_floats, rest + j * row_floats, dim);
    }
  }
  std::vector<double> condensed;
  condensed.reserve(static_cast<size_t>(m) * (m - 1) / 2);
  for (int i = 0; i < m; ++i) {
    for (int j = i + 1; j < m; ++j) {
      double s = 0.0;
      for (int c = 0; c < m; ++c) {
        const double d = static_cast<double>(square[static_cast<size_t>(i) * m + c]) -
                         static_cast<double>(square[static_cast<size_t>(j) * m + c]);
        s += d * d;
      }
      condensed.push_back(std::sqrt(s));
    }
  }
  const std::vector<LinkageRow> z = WardLinkage(condensed, m);
  const std::vector<int> labels = FclusterMaxclust(z, m, k);
  AppendClusterMeans(rest, m, dim, labels, MaxLabel(labels), &out, out_rows);
  append_protected();
  return out;
}

}  // namespace tartan::encoder
