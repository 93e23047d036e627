// Helpers shared by the indexer tests: temp dirs, random vectors, a naive MaxSim reference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "services/indexer/lib/shard.h"

namespace tartan::index::testing {

// A fresh empty directory under $TMPDIR (or /tmp), unique per call.
std::string TempDir(const std::string& name);
// Unit-norm random vectors [n, dim].
std::vector<float> RandomUnit(int n, int dim, uint64_t seed);
Document RandomDoc(const std::string& id, int num_tokens, int dim, uint64_t seed);
// Naive triple loop, double accumulation.
double NaiveMaxSim(const float* q, int nq, const float* d, int nd, int dim);
// Exact top-k of q over docs by NaiveMaxSim (ties by id).
std::vector<Hit> NaiveTopK(const float* q, int nq, const std::vector<Document>& docs, int dim,
                           int k);

}  // namespace tartan::index::testing
