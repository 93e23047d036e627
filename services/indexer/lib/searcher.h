// Search over a snapshot of segments, through the Segment interface only. Without
// params.exact, in PLAID's stages (each a named function in searcher.cc):
//  0. unindexed documents (the fresh segment's) are scored exactly;
//  1. query tokens . centroids, once per codec; each query token probes its nprobe best
//     centroids; candidates = documents in the probed inverted lists (filters applied here);
//  2. pruned centroid scores (PLAID): sum_i max over the document's tokens of centroid . q_i,
//     skipping tokens whose centroid scores below the threshold for every query token; the
//     n_candidates_approx best go on;
//  3. centroid scores refined with residuals: a token whose centroid q_i probed is
//     decompressed and counts with its exact similarity to q_i, the others with their
//     centroid's score; the n_rerank_exact best go on;
//  4. decompress them and score exact MaxSim (one GEMM); top k.
// With params.exact: brute force over every stored vector.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "services/indexer/lib/segment_set.h"

namespace tartan::index {

// query: [nq, dim]. Scores are MaxSim on the stored (decompressed) vectors.
absl::StatusOr<std::vector<Hit>> Search(const SegmentSnapshot& snapshot, const float* query, int nq,
                                        int dim, const SearchParams& params);

}  // namespace tartan::index
