// Token-level inverted lists of a compressed segment (WARP's layout): for each centroid, the
// segment's token rows assigned to it, ascending, each with its document. A search walks the
// lists of the centroids a query token probes and scores every token in them from its packed
// residual (warp_scorer.h) without decompressing it. Derived from the codes when the segment
// is opened (a counting sort, O(tokens)); held in RAM, 8 bytes per token.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "services/indexer/lib/segment_file.h"

namespace tartan::index {

class TokenIndex {
 public:
  struct Entry {
    uint32_t token;  // row in the segment file
    uint32_t doc;    // local document number
  };

  explicit TokenIndex(const SegmentFile& file);

  std::span<const Entry> list(uint32_t centroid) const {
    return {entries_.data() + begin_[centroid], entries_.data() + begin_[centroid + 1]};
  }
  uint64_t ram_bytes() const {
    return begin_.capacity() * sizeof(begin_[0]) + entries_.capacity() * sizeof(Entry);
  }

 private:
  std::vector<uint32_t> begin_;  // [num_centroids + 1] into entries_
  std::vector<Entry> entries_;   // [num_tokens], grouped by centroid
};

}  // namespace tartan::index
