#include "services/indexer/lib/compaction_policy.h"

#include <algorithm>

namespace tartan::index {

std::vector<int64_t> PickCompaction(std::vector<SegmentSize> segments, const CompactionPolicy& p) {
  std::vector<int64_t> out;
  for (const SegmentSize& s : segments)
    if (s.docs > 0 && double(s.dead_docs) >= p.dead_fraction * double(s.docs)) out.push_back(s.id);
  if (!out.empty()) return out;
  const size_t min_merge = size_t(std::max(2, p.min_merge));
  if (segments.size() < min_merge) return out;
  std::sort(segments.begin(), segments.end(), [](const SegmentSize& a, const SegmentSize& b) {
    return a.live_tokens != b.live_tokens ? a.live_tokens < b.live_tokens : a.id < b.id;
  });
  double sum = 0;
  size_t tier = 0;
  for (; tier < segments.size(); ++tier) {
    const double size = double(segments[tier].live_tokens);
    if (tier > 0 && size > p.size_ratio * sum) break;
    sum += size;
  }
  if (tier < min_merge && segments.size() >= min_merge * size_t(std::max(1, p.max_segments_factor)))
    tier = min_merge;
  if (tier < min_merge) return out;
  for (size_t i = 0; i < tier; ++i) out.push_back(segments[i].id);
  return out;
}

}  // namespace tartan::index
