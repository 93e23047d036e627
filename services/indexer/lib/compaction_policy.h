// Which segments a background compaction merges: a size-tiered policy (as RocksDB's
// universal compaction and Lucene's tiered merge policy), so each token is rewritten about
// log_{min_merge}(segments) times over the life of a shard instead of at every compaction.
#pragma once

#include <cstdint>
#include <vector>

namespace tartan::index {

struct SegmentSize {
  int64_t id = 0;
  uint64_t live_tokens = 0;
  uint64_t docs = 0;       // stored documents
  uint64_t dead_docs = 0;  // deleted or replaced since the segment was written
};

struct CompactionPolicy {
  int min_merge = 4;            // segments of one tier merged together
  double dead_fraction = 0.2;   // a segment this dead is rewritten to purge its deletes
  double size_ratio = 2.0;      // a segment joins a tier when <= ratio x the smaller ones
  int max_segments_factor = 4;  // at min_merge x this many segments, merge the smallest
};

// Ids of the segments to merge into one, or empty. In order of preference:
//  1. every segment whose dead documents reach dead_fraction (purges deletes);
//  2. the smallest tier: segments taken from the smallest while each is at most size_ratio
//     times the sum of those taken before it, when that gives min_merge or more;
//  3. the min_merge smallest, when there are min_merge x max_segments_factor segments (bounds
//     the segment count a search visits).
std::vector<int64_t> PickCompaction(std::vector<SegmentSize> segments, const CompactionPolicy& p);

}  // namespace tartan::index
