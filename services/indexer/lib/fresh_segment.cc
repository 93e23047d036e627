#include "services/indexer/lib/fresh_segment.h"

#include <algorithm>

#include "common/compute/maxsim.h"

namespace tartan::index {

FreshSegment::FreshSegment(int dim, std::vector<std::shared_ptr<const FreshDoc>> docs)
    : Segment(kFreshSegmentId, uint32_t(docs.size())), dim_(dim), docs_(std::move(docs)) {}

std::shared_ptr<FreshSegment> FreshSegment::Empty(int dim) {
  return std::shared_ptr<FreshSegment>(new FreshSegment(dim, {}));
}

std::shared_ptr<FreshSegment> FreshSegment::Append(
    std::vector<std::shared_ptr<const FreshDoc>> added) const {
  std::vector<std::shared_ptr<const FreshDoc>> docs;
  docs.reserve(docs_.size() + added.size());
  for (uint32_t i = 0; i < docs_.size(); ++i) docs.push_back(IsAlive(i) ? docs_[i] : nullptr);
  docs.insert(docs.end(), std::make_move_iterator(added.begin()),
              std::make_move_iterator(added.end()));
  std::shared_ptr<FreshSegment> next(new FreshSegment(dim_, std::move(docs)));
  for (uint32_t i = 0; i < next->num_docs(); ++i)
    if (next->docs_[i]) next->MarkAlive(i);
  return next;
}

std::shared_ptr<FreshSegment> FreshSegment::Without(const std::vector<uint32_t>& moved) const {
  std::vector<std::shared_ptr<const FreshDoc>> docs;
  for (uint32_t i = 0; i < docs_.size(); ++i)
    if (IsAlive(i) && !std::binary_search(moved.begin(), moved.end(), i)) docs.push_back(docs_[i]);
  std::shared_ptr<FreshSegment> next(new FreshSegment(dim_, std::move(docs)));
  for (uint32_t i = 0; i < next->num_docs(); ++i) next->MarkAlive(i);
  return next;
}

void FreshSegment::DecodeDoc(uint32_t local, float* out) const {
  std::copy(docs_[local]->vectors.begin(), docs_[local]->vectors.end(), out);
}

uint64_t FreshSegment::ram_bytes() const {
  uint64_t bytes = docs_.size() * sizeof(docs_[0]);
  for (const auto& d : docs_) {
    if (d) {
      bytes += sizeof(FreshDoc) + d->id.size() + d->vectors.size() * sizeof(float) +
               MetadataBytes(*d->metadata);
    }
  }
  return bytes;
}

void FreshSegment::ScoreUnindexed(const SearchQuery& query, std::vector<SegmentHit>* out,
                                  ScoreScratch* scratch) const {
  for (uint32_t i = 0; i < docs_.size(); ++i) {
    if (!IsAlive(i) || !(*query.eligible)(docs_[i]->id, *docs_[i]->metadata)) continue;
    out->push_back(SegmentHit{i, ApproxScore(query, i, scratch)});
  }
}

float FreshSegment::ApproxScore(const SearchQuery& query, uint32_t local,
                                ScoreScratch* scratch) const {
  const FreshDoc& d = *docs_[local];
  return compute::MaxSimDispatch(query.q, query.nq, d.vectors.data(), d.num_tokens, dim_);
}

float FreshSegment::RefinedScore(const SearchQuery& query, uint32_t local,
                                 ScoreScratch* scratch) const {
  return ApproxScore(query, local, scratch);
}

void FreshSegment::ScoreExhaustively(const SearchQuery& query, std::vector<SegmentHit>* out,
                                     ScoreScratch* scratch) const {
  ScoreUnindexed(query, out, scratch);
}

}  // namespace tartan::index
