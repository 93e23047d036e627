#include "services/indexer/lib/block_maxsim.h"

#include <algorithm>
#include <utility>

#include "common/compute/maxsim.h"

namespace tartan::index {

BlockMaxSim::BlockMaxSim(const SearchQuery& query, uint32_t block_tokens, ScoreScratch* scratch,
                         std::function<void(size_t, float)> emit)
    : query_(query), block_tokens_(block_tokens), scratch_(*scratch), emit_(std::move(emit)) {
  scratch_.offsets.assign(1, 0);
}

bool BlockMaxSim::Add(const Segment& segment, uint32_t local) {
  std::vector<uint32_t>& offsets = scratch_.offsets;
  const uint32_t n = segment.doc_len(local);
  bool scored = false;
  if (added_ > first_ && offsets.back() + n > block_tokens_) {
    ScoreBlock();
    scored = true;
  }
  const size_t dim = size_t(query_.dim);
  const size_t need = size_t(offsets.back() + n) * dim;
  if (scratch_.block.size() < need)
    scratch_.block.resize(std::max(need, size_t(block_tokens_) * dim));
  segment.DecodeDoc(local, scratch_.block.data() + size_t(offsets.back()) * dim);
  offsets.push_back(offsets.back() + n);
  ++added_;
  return scored;
}

void BlockMaxSim::Finish() {
  if (added_ > first_) ScoreBlock();
}

void BlockMaxSim::ScoreBlock() {
  const size_t ndocs = added_ - first_;
  scores_.resize(ndocs);
  compute::MaxSimBlock(query_.q, query_.nq, scratch_.block.data(), scratch_.offsets.data(),
                       int(ndocs), query_.dim, scores_.data(), &scratch_.gemm);
  for (size_t j = 0; j < ndocs; ++j) emit_(first_ + j, scores_[j]);
  first_ = added_;
  scratch_.offsets.assign(1, 0);
}

}  // namespace tartan::index
