#include "tests/unit/indexer/test_util.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>

namespace tartan::index::testing {

namespace {
std::vector<std::string>& CreatedDirs() {
  static auto* dirs = new std::vector<std::string>();
  return *dirs;
}
void RemoveCreatedDirs() {
  for (const std::string& d : CreatedDirs()) {
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
  }
}
}  // namespace

std::string TempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  // Removed when the test binary exits normally (forked children _exit and leave them).
  static const bool registered = (std::atexit(RemoveCreatedDirs), true);
  (void)registered;
  const char* base = std::getenv("TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/tartan_index_test_" +
                    std::to_string(::getpid()) + "_" + name + "_" + std::to_string(counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  CreatedDirs().push_back(dir);
  return dir;
}

std::vector<float> RandomUnit(int n, int dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(size_t(n) * dim);
  for (int i = 0; i < n; ++i) {
    double s = 0;
    for (int k = 0; k < dim; ++k)
      s += double(v[size_t(i) * dim + k] = g(rng)) * v[size_t(i) * dim + k];
    for (int k = 0; k < dim; ++k) v[size_t(i) * dim + k] /= float(std::sqrt(s));
  }
  return v;
}

Document RandomDoc(const std::string& id, int num_tokens, int dim, uint64_t seed) {
  Document d;
  d.id = id;
  d.num_tokens = num_tokens;
  d.vectors = RandomUnit(num_tokens, dim, seed);
  d.metadata["seed"] = std::to_string(seed);
  return d;
}

double NaiveMaxSim(const float* q, int nq, const float* d, int nd, int dim) {
  if (nd == 0) return 0;
  double total = 0;
  for (int i = 0; i < nq; ++i) {
    double best = -std::numeric_limits<double>::infinity();
    for (int j = 0; j < nd; ++j) {
      double s = 0;
      for (int k = 0; k < dim; ++k) s += double(q[size_t(i) * dim + k]) * d[size_t(j) * dim + k];
      best = std::max(best, s);
    }
    total += best;
  }
  return total;
}

std::vector<Hit> NaiveTopK(const float* q, int nq, const std::vector<Document>& docs, int dim,
                           int k) {
  std::vector<Hit> hits;
  for (const Document& d : docs)
    hits.push_back(Hit{d.id, float(NaiveMaxSim(q, nq, d.vectors.data(), d.num_tokens, dim))});
  std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  if (hits.size() > size_t(k)) hits.resize(k);
  return hits;
}

}  // namespace tartan::index::testing
