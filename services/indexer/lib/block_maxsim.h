// Exact MaxSim of many documents against one query, a block at a time: documents are decoded
// (Segment::DecodeDoc) into one reused buffer until the next would take it past block_tokens
// rows, then the block is scored by one GEMM (compute::MaxSimBlock) while its rows are still
// in cache. Stage 4 of the searcher and brute force (Segment::ScoreExhaustively) share it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "services/indexer/lib/segment.h"

namespace tartan::index {

class BlockMaxSim {
 public:
  // emit(index, score) gets each document's score; index counts the documents added, from 0.
  BlockMaxSim(const SearchQuery& query, uint32_t block_tokens, ScoreScratch* scratch,
              std::function<void(size_t index, float score)> emit);
  // Adds a document. True when it first scored the full block before it (a point where
  // callers of long loops poll for interrupts).
  bool Add(const Segment& segment, uint32_t local);
  // Scores the documents not scored yet.
  void Finish();

 private:
  void ScoreBlock();

  const SearchQuery& query_;
  const uint32_t block_tokens_;
  ScoreScratch& scratch_;
  const std::function<void(size_t, float)> emit_;
  std::vector<float> scores_;
  size_t added_ = 0;  // documents added
  size_t first_ = 0;  // index of the block's first document
};

}  // namespace tartan::index
