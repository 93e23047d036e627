#include "services/indexer/lib/segment.h"

namespace tartan::index {

uint64_t MetadataBytes(const Metadata& m) {
  uint64_t bytes = sizeof(Metadata);
  for (const auto& [k, v] : m) bytes += 64 + k.capacity() + v.capacity();  // node + strings
  return bytes;
}

AliveBits::AliveBits(uint32_t num_docs) {
  const size_t words = (size_t(num_docs) + 63) / 64;
  words_.reset(new std::atomic<uint64_t>[words]);
  for (size_t i = 0; i < words; ++i) words_[i].store(0, std::memory_order_relaxed);
}

bool AliveBits::Set(uint32_t local) {
  const uint64_t bit = 1ull << (local & 63);
  return !(words_[local >> 6].fetch_or(bit, std::memory_order_relaxed) & bit);
}

bool AliveBits::Clear(uint32_t local) {
  const uint64_t bit = 1ull << (local & 63);
  return words_[local >> 6].fetch_and(~bit, std::memory_order_relaxed) & bit;
}

DocPredicate::DocPredicate(const SearchParams& params)
    : filter_(params.filter), subset_(params.id_subset.begin(), params.id_subset.end()) {}

bool DocPredicate::operator()(std::string_view id, const Metadata& metadata) const {
  if (!subset_.empty() && !subset_.contains(id)) return false;
  return filter_ == nullptr || filter_->Matches(metadata);
}

const CentroidScores& SearchQuery::ScoresFor(const Codec* codec) const {
  for (const auto& cs : *centroid_scores)
    if (cs->codec == codec) return *cs;
  // The searcher scores every codec of the segments it searches before any hook runs.
  std::abort();
}

absl::Status SearchQuery::Interrupted() const {
  return params->interrupt ? params->interrupt() : absl::OkStatus();
}

void Segment::Kill(uint32_t local) {
  if (alive_.Clear(local)) {
    live_docs_.fetch_sub(1, std::memory_order_relaxed);
    live_tokens_.fetch_sub(doc_len(local), std::memory_order_relaxed);
  }
}

void Segment::MarkAlive(uint32_t local) {
  if (!alive_.Set(local)) return;
  live_docs_.fetch_add(1, std::memory_order_relaxed);
  live_tokens_.fetch_add(doc_len(local), std::memory_order_relaxed);
}

}  // namespace tartan::index
